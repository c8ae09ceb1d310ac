"""Matching-stability curves of DETR-family cells: baseline vs DN-DETR / OD-DETR, per epoch.

Reads the ``IS``, ``IS_ema`` and ``match_consistency`` columns that ``MatchingStabilityHook``
adds to each DETR-family cell's ``probe.csv`` (cells without them are skipped) and writes, per
(dataset, noise setting, detector), one figure with three panels (``<dataset>__<noise>-<rate>__
<detector>.png/.svg``): IS of the online model (DN-DETR Fig. 3), IS of its EMA teacher (OD-DETR
Fig. 1) and student-teacher matching consistency (OD-DETR Fig. 5), one line per method: the mean
over seeds, with each seed as a thin line of the same colour. ``matching_stability.csv`` next to
them lists every cell's curve (long format) and is what the figures are drawn from.

CLI::

    python -m analysis.matching_plots --cells results/G/cells.json --out-dir results/G/figures/matching
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plot_style
from analysis.plot_style import PANEL_SIZE, apply_style, savefig
from benchmarks.atomic import write_text
from benchmarks.errors import run_cli

plt = plot_style.plt
sns = plot_style.sns
log = logging.getLogger("analysis.matching_plots")

COLUMNS = ("IS", "IS_ema", "match_consistency")
TITLES = {
    "IS": "IS, online model (DN-DETR)",
    "IS_ema": "IS, EMA teacher (OD-DETR Fig. 1)",
    "match_consistency": "student-teacher consistency (OD-DETR Fig. 5)",
}


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def collect(source) -> pd.DataFrame:
    """Long frame (identity, epoch, metric, value) of every cell of ``source`` (a cells.json or CellRefs)
    whose probe.csv has the columns."""
    from analysis.cell_files import cells_of
    from analysis.transition_table import cell_identity

    rows = []
    for ref in cells_of(source):
        f = ref.file("probe.csv")
        if not f.is_file():
            continue
        with open(f, newline="", encoding="utf-8") as fh:
            recs = list(csv.DictReader(fh))
        if not recs or not any(c in recs[0] for c in COLUMNS):
            continue
        ident = cell_identity(ref)
        for r in recs:
            for c in COLUMNS:
                rows.append({**ident, "epoch": int(r["epoch"]), "metric": c, "value": _float(r.get(c))})
    return pd.DataFrame(
        rows, columns=["dataset", "noise", "rate", "detector", "method", "seed", "epoch", "metric", "value"]
    )


def plot_group(df: pd.DataFrame, out_base: Path, *, title: str) -> list[Path]:
    """Three panels (IS, IS_ema, consistency) of one (dataset, setting, detector)."""
    methods = sorted(df["method"].unique(), key=lambda m: (m != "baseline", m))
    colors = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    fig, axes = plt.subplots(1, 3, figsize=(PANEL_SIZE[0] * 3, PANEL_SIZE[1]), squeeze=False)
    for ax, metric in zip(axes[0], COLUMNS):
        sub = df[df["metric"] == metric]
        for m in methods:
            ms = sub[sub["method"] == m]
            for _, seed in ms.groupby("seed"):
                seed = seed.sort_values("epoch")
                ax.plot(seed["epoch"], seed["value"], color=colors[m], alpha=0.3, linewidth=0.8)
            mean = ms.groupby("epoch")["value"].mean()
            n = ms["seed"].nunique()
            ax.plot(mean.index, mean.values, color=colors[m], marker="o", label=f"{m} (n={n})")
        ax.set_title(TITLES[metric])
        ax.set_xlabel("epoch")
        if metric == "match_consistency":
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("changed assignments per image")
    axes[0][2].set_ylabel("share of matched queries")
    axes[0][0].legend(loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return savefig(fig, out_base)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.matching_plots",
        description="Matching-stability (IS, consistency) curves per epoch, baseline vs methods, DETR-family cells.",
    )
    p.add_argument("--cells", required=True, type=Path, help="the grid's cells.json, e.g. results/default/cells.json")
    p.add_argument(
        "--out-dir", required=True, type=Path, help="output directory, e.g. results/default/figures/matching"
    )
    p.add_argument("--no-progress", action="store_true", help="accepted for symmetry with the other analysis CLIs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s", stream=sys.stderr)
    df = collect(args.cells)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", float_format="%.6f")
    write_text(args.out_dir / "matching_stability.csv", buf.getvalue())
    if df.empty:
        log.info("no cell with matching-stability columns in %s (no DETR-family cell?)", args.cells)
        return 0
    apply_style()
    written = []
    for (dataset, noise, rate, detector), sub in df.groupby(["dataset", "noise", "rate", "detector"], sort=True):
        if np.isnan(sub["value"].to_numpy(dtype=float)).all():
            continue
        base = args.out_dir / f"{dataset}__{noise}-{rate:g}__{detector}"
        written += plot_group(sub, base, title=f"{dataset} · {noise}-{rate:g} · {detector}: matching stability")
    log.info("wrote %d figures under %s", len(written), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
