"""Transition-timing figures: per-cell probe curves with their fits, and transition epoch vs noise rate.

Per cell (``cells/<dataset>__<noise>-<rate>__<detector>__<method>__seed<k>.png/.svg``): two panels,
CA (localization) and GTBA (classification); in each, the probes against the noisy training labels
(filled circles) and against the clean labels (open squares), the fitted f(x) = a(1 - exp(-x^b/c))
(solid / dashed, drawn from epoch 0 where f = 0 to the schedule's end) and the transition epochs as
vertical lines of the same style, labelled ``t=<epoch>``. A curve without a transition says why in
the legend.

Summary (``summary__<dataset>__<method>__<noise>.png/.svg``): one panel per detector, transition
epoch against noise rate, CA vs GTBA, mean with +-1 sample-std error bars over seeds (no bar with one
seed); curves against the noisy labels unless ``--labels clean``.

CLI::

    python -m analysis.transition_plots --cells results/G/cells.json --out-dir results/G/figures/transition
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plot_style
from analysis.plot_style import LABELS_STYLE, METRIC_NAMES, PALETTE, PANEL_SIZE, apply_style, savefig
from analysis.transition import DEFAULT_THRESHOLD, saturating_exp
from analysis.transition_table import LABEL_COLUMNS, _detector_key, collect_runs
from benchmarks.errors import InputError, run_cli

plt = plot_style.plt
sns = plot_style.sns
log = logging.getLogger("analysis.transition_plots")


def cell_title(run: dict) -> str:
    return (
        f"{run['dataset']} / {run['noise']}-{run['rate']:g} / {run['detector']} / {run['method']} / seed{run['seed']}"
    )


def cell_basename(run: dict) -> str:
    return f"{run['dataset']}__{run['noise']}-{run['rate']:g}__{run['detector']}__{run['method']}__seed{run['seed']}"


def _panel(ax, run: dict, metric: str) -> list[str]:
    """Probes, fits and transition lines of one metric; returns notes for curves without a transition."""
    probe, fits = run["probe"], run["fits"]
    x_end = max(run["horizon"], int(np.nanmax(probe["epoch"])))
    xs = np.linspace(0, x_end, 200)
    color = PALETTE[metric]
    y_top, notes = 0.05, []
    for labels, col in (("noisy", metric), ("clean", f"{metric}_clean")):
        style = LABELS_STYLE[labels]
        if col not in fits:
            notes.append(f"{labels} labels: not probed")
            continue
        y = probe[col]
        ok = np.isfinite(y)
        y_top = max(y_top, float(np.nanmax(y[ok])))
        ax.plot(probe["epoch"][ok], y[ok], linestyle="none", marker=style["marker"], fillstyle=style["fillstyle"],
                color=color)  # fmt: skip
        fit = fits[col]
        if fit.get("a") is not None:
            ax.plot(xs, saturating_exp(xs, fit["a"], fit["b"], fit["c"]), linestyle=style["linestyle"], color=color)
        if fit["epoch"] is None:
            why = fit["reason"] if fit["reason"].startswith("no transition") else f"no transition ({fit['reason']})"
            notes.append(f"{labels} labels: {why}")
            continue
        ax.axvline(fit["epoch"], color=color, linestyle=style["linestyle"], linewidth=1.0, alpha=0.6)
        ax.annotate(
            f"t={fit['epoch']}" + (" (clean)" if labels == "clean" else ""),
            xy=(fit["epoch"], 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12 if labels == "noisy" else -26),
            textcoords="offset points", fontsize=9, color=color,
        )  # fmt: skip
    ax.set_xlim(0, x_end + 0.5)
    ax.set_ylim(0, min(1.0, y_top * 1.2))
    ax.set_title(METRIC_NAMES[metric])
    ax.set_xlabel("epoch (1-based; probe after the epoch)")
    ax.set_ylabel(f"train-set {metric} (fraction, 0–1)")
    if notes:
        text = "\n".join(textwrap.fill(textwrap.shorten(n, 140, placeholder=" …"), 72) for n in notes)
        ax.text(0.5, -0.2, text, transform=ax.transAxes, ha="center", va="top", fontsize=8, color="0.3")
    return notes


def _legend_handles() -> list:
    grey = "0.35"
    handles = []
    for labels in ("noisy", "clean"):
        st = LABELS_STYLE[labels]
        handles.append(plt.Line2D([], [], color=grey, linestyle="none", marker=st["marker"],
                                  fillstyle=st["fillstyle"], label=f"probes, {labels} labels"))  # fmt: skip
        handles.append(plt.Line2D([], [], color=grey, linestyle=st["linestyle"], label=f"fit, {labels} labels"))
    handles.append(plt.Line2D([], [], color=grey, linestyle="-", linewidth=1.0, alpha=0.6, label="transition t"))
    return handles


def plot_cell(run: dict, out_base: Path, *, threshold: float = DEFAULT_THRESHOLD) -> list[Path]:
    """Two-panel figure (CA | GTBA) of one cell; returns the PNG and SVG paths."""
    fig, axes = plt.subplots(1, 2, figsize=(2 * PANEL_SIZE[0], PANEL_SIZE[1] + 1.2))
    # fixed layout (constrained layout doubles the drawing time); room below for notes and the legend
    fig.subplots_adjust(wspace=0.28, top=0.86, bottom=0.24)
    for ax, metric in zip(axes, ("CA", "GTBA")):
        _panel(ax, run, metric)
    fig.legend(handles=_legend_handles(), loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=5, fontsize=9)
    fig.suptitle(f"{cell_title(run)}  —  transition: |f'(t) − f'(1)| / f'(1) > {threshold:g}")
    return savefig(fig, out_base)


def transitions_frame(runs: list[dict], labels: str = "noisy") -> pd.DataFrame:
    """Long table (dataset, method, noise, detector, rate, seed, metric, epoch) of non-null transitions."""
    ca_col, gtba_col = LABEL_COLUMNS[labels]
    recs = []
    for r in runs:
        for metric, col in (("CA", ca_col), ("GTBA", gtba_col)):
            fit = r["fits"].get(col)
            if fit is not None and fit["epoch"] is not None:
                recs.append({**{k: r[k] for k in ("dataset", "method", "noise", "detector", "rate", "seed")},
                             "metric": metric, "epoch": fit["epoch"]})  # fmt: skip
    return pd.DataFrame(recs, columns=["dataset", "method", "noise", "detector", "rate", "seed", "metric", "epoch"])


def _pct(rate: float) -> str:
    return f"{round(100 * float(rate), 4):g}"


def plot_summary(df: pd.DataFrame, out_base: Path, *, title: str) -> list[Path]:
    """Transition epoch vs noise rate, one panel per detector, CA vs GTBA, mean +- sd over seeds."""
    detectors = sorted(df["detector"].unique(), key=_detector_key)
    rates = sorted(df["rate"].unique())
    ncol = min(3, len(detectors))
    nrow = -(-len(detectors) // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(PANEL_SIZE[0] * ncol, PANEL_SIZE[1] * nrow + 0.6), squeeze=False, sharey=True,
        constrained_layout=True,
    )  # fmt: skip
    y_max = float(df["epoch"].max())
    for ax, det in zip(axes.flat, detectors):
        sub = df[df["detector"] == det].assign(rate_pct=lambda d: d["rate"].map(_pct))
        sns.pointplot(
            data=sub, x="rate_pct", y="epoch", hue="metric", hue_order=["CA", "GTBA"],
            order=[_pct(r) for r in rates], palette=PALETTE, errorbar="sd", dodge=0.25, capsize=0.1,
            markers=["o", "s"], linestyles=["-", "--"], ax=ax, legend=False,
        )  # fmt: skip
        stats = sub.groupby(["metric", "rate"])["epoch"].agg(["mean", "count"])
        for (metric, rate), (mean, count) in stats.iterrows():
            xpos = rates.index(rate) + (-0.125 if metric == "CA" else 0.125)  # pointplot's dodge offsets
            ax.annotate(f"n={int(count)}", (xpos, mean), xytext=(6, -3), textcoords="offset points", fontsize=7,
                        color=PALETTE[metric], ha="left", va="top")  # fmt: skip
        ax.set_title(det)
        ax.set_xlabel("noise rate (%)")
        ax.set_ylabel("transition epoch")
        ax.set_ylim(0, y_max + 1.5)
    for ax in list(axes.flat)[len(detectors) :]:
        ax.set_visible(False)
    handles = [
        plt.Line2D([], [], color=PALETTE[m], marker=mk, linestyle=ls, label=METRIC_NAMES[m])
        for m, mk, ls in (("CA", "o", "-"), ("GTBA", "s", "--"))
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=2,
        title="transition epoch: mean ± sd over seeds with a transition (n = seeds)",
    )
    fig.suptitle(title)
    return savefig(fig, out_base)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.transition_plots",
        description="Per-cell CA/GTBA probe curves with fitted early-learning curves and transition epochs, and a "
        "summary of transition epoch vs noise rate per detector (PNG + SVG).",
    )
    p.add_argument("--cells", required=True, type=Path, help="the grid's cells.json, e.g. results/default/cells.json")
    p.add_argument(
        "--out-dir", required=True, type=Path, help="figure directory, e.g. results/default/figures/transition"
    )
    p.add_argument(
        "--labels",
        choices=sorted(LABEL_COLUMNS),
        default="noisy",
        help="which curves the summary uses: against the noisy training labels (default) or the clean ones",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="relative derivative change r in (0, 1) marking the transition (default 0.9, as ADELE)",
    )
    p.add_argument("--no-cells", action="store_true", help="only the summary figures, no per-cell figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    logging.getLogger("analysis.transition_table").setLevel(logging.INFO)
    if not 0.0 < args.threshold < 1.0:
        raise InputError(f"--threshold must be in (0, 1), got {args.threshold}")
    runs = collect_runs(args.cells, threshold=args.threshold, progress=not args.no_progress)
    apply_style()
    written: list[Path] = []
    if not args.no_cells:
        from tqdm import tqdm

        for run in tqdm(runs, desc="cell figures", unit="cell", disable=args.no_progress, file=sys.stderr):
            written += plot_cell(run, args.out_dir / "cells" / cell_basename(run), threshold=args.threshold)
    df = transitions_frame(runs, args.labels)
    for (dataset, method, noise), sub in df.groupby(["dataset", "method", "noise"], sort=True):
        title = f"{dataset} · {method} · {noise} noise: transition epoch ({args.labels} labels, r = {args.threshold:g})"
        written += plot_summary(sub, args.out_dir / f"summary__{dataset}__{method}__{noise}", title=title)
    skipped = {(r["dataset"], r["method"], r["noise"]) for r in runs} - set(
        df[["dataset", "method", "noise"]].itertuples(index=False, name=None)
    )
    for key in sorted(skipped):
        log.info("no summary for %s: no transition found in any of its cells", "/".join(key))
    log.info("wrote %d files under %s", len(written), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
