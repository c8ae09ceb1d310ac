"""Grid-level TIDE report: dAP per error type for every cell, seed means, and two figure families.

Reads every cell of the grid's ``cells.json`` (``analysis/cell_files.py``) that has both
``metrics.json`` (cell identity and ``val_ann_file``, the clean val COCO file) and
``dets_val.json`` (COCO results), runs :func:`analysis.tide.tide` on them (each val file is loaded
and validated once) and writes under ``--out-dir``:

* ``tide_cells.csv``: one row per cell -- identity, AP50 and dAP of Cls, Loc, Both, Dupe, Bkg,
  Miss, plus dAP_FP / dAP_FN, all in AP points (0-100) as TIDE reports them;
* ``tide_mean.csv``: the same per (dataset, noise, rate, detector, method) over seeds: ``n_seeds``,
  the means and the sample standard deviations (``*_std``, ddof = 1, empty for one seed);
* ``methods__<dataset>__<noise>-<rate>.png/.svg``: BCKD's TIDE comparison (BCKD, ICCV 2023,
  Fig. 4: dAP of the error types, baseline vs distilled students), for every noise setting: one
  panel per detector, bars per error type, baseline first then every other method, mean +- sd
  over seeds;
* ``noise_shift__<dataset>__<method>.png/.svg``: how each noise type and rate moves the error mass
  relative to training on clean labels: heatmap of dAP(setting) - dAP(clean) (AP points, seed
  means), rows = noise settings, columns = error types, one panel per detector; red = more AP lost
  to that error type than with clean labels.

Cells lacking a file are skipped with a log line; a report with no cell writes header-only CSVs.

CLI::

    python -m analysis.tide_report --cells results/G/cells.json --out-dir results/G/tide
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plot_style
from analysis.cell_files import identity
from analysis.coco_eval import GroundTruth, load_ground_truth
from analysis.plot_style import PANEL_SIZE, apply_style, savefig
from analysis.tide import ERROR_TYPES, tide
from benchmarks.atomic import write_text
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli

plt = plot_style.plt
sns = plot_style.sns
log = logging.getLogger("analysis.tide_report")

REPO = Path(__file__).resolve().parents[1]
IDENTITY = ("dataset", "noise", "rate", "detector", "method", "seed")
GROUP = ("dataset", "noise", "rate", "detector", "method")
VALUES = ("AP50", *ERROR_TYPES, "dAP_FP", "dAP_FN")
CELL_COLUMNS = ["cell", *IDENTITY, *VALUES]
MEAN_COLUMNS = [*GROUP, "n_seeds", *VALUES, *(f"{v}_std" for v in VALUES)]
BASELINE = "baseline"
DETECTOR_ORDER = ("retinanet", "fcos", "faster_rcnn", "gfl", "deformable_detr", "deformable_detr_refine", "dino")
NOISE_ORDER = ("clean", "cls", "loc", "combined", "missing")
ERROR_NAMES = {
    "Cls": "Cls\n(class)",
    "Loc": "Loc\n(box)",
    "Both": "Both",
    "Dupe": "Dupe\n(duplicate)",
    "Bkg": "Bkg\n(background)",
    "Miss": "Miss\n(missed GT)",
}


# ------------------------------------------------------------------------------- cells
def _order_key(values: Sequence[str], value: str) -> tuple:
    return (values.index(value), "") if value in values else (len(values), value)


def resolve_val_file(value: str) -> Path | None:
    """``val_ann_file`` as written by the training cell: absolute, or relative to the working
    directory or to the repository root (train.py writes it relative to the repository)."""
    p = Path(value)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, REPO / p]
    return next((c for c in candidates if c.is_file()), None)


def cell_record(cdir: Path, gt_cache: dict[Path, GroundTruth]) -> dict | None:
    """TIDE numbers and identity of one cell, or None (logged) when one of its files is missing."""
    metrics_path, dets_path = cdir / "metrics.json", cdir / "dets_val.json"
    for f in (metrics_path, dets_path):
        if not f.is_file():
            log.info("skip %s: no %s", cdir, f.name)
            return None
    rec = read_json(metrics_path)
    if not isinstance(rec, dict):
        raise InputError("metrics.json must be a JSON object", path=metrics_path)
    missing = [k for k in (*IDENTITY, "val_ann_file") if k not in rec]
    if missing:
        raise InputError(f"missing keys {missing}", path=metrics_path)
    val = resolve_val_file(str(rec["val_ann_file"]))
    if val is None:
        log.info("skip %s: its val_ann_file %s does not exist", cdir, rec["val_ann_file"])
        return None
    if val not in gt_cache:
        gt_cache[val] = load_ground_truth(val)
    res = tide(gt_cache[val], dets_path)
    row = {
        "cell": str(rec.get("cell") or "/".join(cdir.parts[-5:])),
        **identity(rec),
        "AP50": res.ap50,
        **res.dap,
        "dAP_FP": res.dap_fp,
        "dAP_FN": res.dap_fn,
    }
    return row


def collect(source, *, progress: bool = True) -> pd.DataFrame:
    """One row per complete cell of ``source`` (a cells.json or CellRefs; columns :data:`CELL_COLUMNS`),
    sorted by identity."""
    from tqdm import tqdm

    from analysis.cell_files import cells_of

    cells = [ref.dir for ref in cells_of(source)]
    log.info("%d cells", len(cells))
    cache: dict[Path, GroundTruth] = {}
    rows = []
    for cdir in tqdm(cells, desc="TIDE", unit="cell", disable=not progress, file=sys.stderr):
        row = cell_record(cdir, cache)
        if row is not None:
            rows.append(row)
    df = pd.DataFrame(rows, columns=CELL_COLUMNS)
    return df.sort_values(list(IDENTITY), kind="stable").reset_index(drop=True)


def seed_means(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, noise, rate, detector, method): n_seeds, mean and sample std of every value."""
    if cells.empty:
        return pd.DataFrame(columns=MEAN_COLUMNS)
    g = cells.groupby(list(GROUP), sort=True)
    means = g[list(VALUES)].mean()
    stds = g[list(VALUES)].std(ddof=1).add_suffix("_std")
    out = pd.concat([g.size().rename("n_seeds"), means, stds], axis=1).reset_index()
    return out[MEAN_COLUMNS]


def to_csv(df: pd.DataFrame, columns: Sequence[str]) -> str:
    """CSV text with floats to 6 decimals and NaN as an empty field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for rec in df[list(columns)].itertuples(index=False):
        w.writerow([_fmt(col, v) for col, v in zip(columns, rec)])
    return buf.getvalue()


def _fmt(column: str, v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:g}" if column == "rate" else f"{v:.6f}"
    return str(v)


# ------------------------------------------------------------------------------- figures
def _setting_label(noise: str, rate: float) -> str:
    return "clean" if noise == "clean" else f"{noise} {round(100 * rate, 4):g}%"


def _method_palette(methods: Sequence[str]) -> dict[str, tuple]:
    """Baseline in grey, every other method a colour-blind-safe colour fixed by its sorted position."""
    others = sorted(m for m in methods if m != BASELINE)
    colours = sns.color_palette("colorblind", max(len(others), 1))
    pal = {m: colours[i % len(colours)] for i, m in enumerate(others)}
    pal[BASELINE] = (0.55, 0.55, 0.55)
    return pal


def _panel_grid(n: int, *, height: float, sharey: bool = True):
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(PANEL_SIZE[0] * ncol * 1.15, height * nrow + 0.8),
        squeeze=False,
        sharey=sharey,
        constrained_layout=True,
    )
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n]


def _long(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.melt(id_vars=list(IDENTITY), value_vars=list(ERROR_TYPES), var_name="error", value_name="dAP")


def plot_methods(cells: pd.DataFrame, out_base: Path, *, title: str) -> list[Path]:
    """BCKD-style TIDE comparison of one noise setting: per detector, dAP per error type by method."""
    detectors = sorted(cells["detector"].unique(), key=lambda d: _order_key(DETECTOR_ORDER, d))
    methods = sorted(cells["method"].unique(), key=lambda m: (m != BASELINE, m))
    palette = _method_palette(methods)
    long = _long(cells)
    fig, axes = _panel_grid(len(detectors), height=PANEL_SIZE[1] + 0.3)
    for ax, det in zip(axes, detectors):
        sns.barplot(
            data=long[long["detector"] == det],
            x="error",
            y="dAP",
            hue="method",
            order=list(ERROR_TYPES),
            hue_order=methods,
            palette=palette,
            errorbar="sd",
            capsize=0.15,
            err_kws={"linewidth": 1.0},
            ax=ax,
            legend=False,
        )
        ax.set_title(det)
        ax.set_xlabel("")
        ax.set_ylabel("dAP (AP50 points)")
        ax.set_xticks(range(len(ERROR_TYPES)), [ERROR_NAMES[e] for e in ERROR_TYPES], fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[m], label=m) for m in methods]
    n_seeds = cells.groupby(["detector", "method"])["seed"].nunique()
    lo, hi = int(n_seeds.min()), int(n_seeds.max())
    seeds = f"{lo} seed{'s' if hi > 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(methods), 6),
        title=f"method (bars: mean ± sd over {seeds})",
    )
    fig.suptitle(title)
    return savefig(fig, out_base)


def plot_noise_shift(means: pd.DataFrame, out_base: Path, *, title: str) -> list[Path] | None:
    """Heatmaps of dAP(noise setting) - dAP(clean) per error type, one panel per detector."""
    detectors = []
    panels = {}
    for det, sub in means.groupby("detector"):
        clean = sub[sub["noise"] == "clean"]
        noisy = sub[sub["noise"] != "clean"]
        if clean.empty or noisy.empty:
            continue
        ref = clean.iloc[0][list(ERROR_TYPES)].astype(float)
        rank = noisy["noise"].map(lambda v: _order_key(NOISE_ORDER, v))
        noisy = noisy.assign(_rank=rank).sort_values(["_rank", "rate"], kind="stable")
        delta = noisy[list(ERROR_TYPES)].astype(float) - ref.values
        delta.index = [_setting_label(n, r) for n, r in zip(noisy["noise"], noisy["rate"])]
        panels[det] = delta
        detectors.append(det)
    if not panels:
        return None
    detectors.sort(key=lambda d: _order_key(DETECTOR_ORDER, d))
    vmax = max(float(np.nanmax(np.abs(p.to_numpy()))) for p in panels.values()) or 1.0
    n_rows = max(len(p) for p in panels.values())
    fig, axes = _panel_grid(len(detectors), height=0.45 * n_rows + 1.6, sharey=False)
    for i, (ax, det) in enumerate(zip(axes, detectors)):
        with warnings.catch_warnings():  # seaborn 0.13 calls a colormap method matplotlib 3.11 deprecates
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(
                panels[det],
                ax=ax,
                cmap="vlag",
                center=0.0,
                vmin=-vmax,
                vmax=vmax,
                annot=True,
                fmt=".1f",
                annot_kws={"fontsize": 8},
                linewidths=0.5,
                cbar=i == len(detectors) - 1,
                cbar_kws={"label": "dAP − dAP(clean) (AP50 points)"},
            )
        ax.set_title(det)
        ax.set_xlabel("error type")
        ax.set_ylabel("noise setting" if i == 0 else "")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(title)
    return savefig(fig, out_base)


def write_figures(cells: pd.DataFrame, means: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Both figure families for every dataset / setting / method present."""
    written: list[Path] = []
    for (dataset, noise, rate), sub in cells.groupby(["dataset", "noise", "rate"], sort=True):
        setting = f"{noise}-{float(rate):g}"
        written += plot_methods(
            sub,
            out_dir / f"methods__{dataset}__{setting}",
            title=f"{dataset} · {_setting_label(noise, rate)}: TIDE error analysis, baseline vs methods",
        )
    for (dataset, method), sub in means.groupby(["dataset", "method"], sort=True):
        paths = plot_noise_shift(
            sub,
            out_dir / f"noise_shift__{dataset}__{method}",
            title=f"{dataset} · {method}: how label noise moves the TIDE error mass (vs clean labels)",
        )
        if paths is None:
            log.info(
                "no noise-shift figure for %s/%s: needs a clean cell and a noisy one of a detector", dataset, method
            )
        else:
            written += paths
    return written


# ------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.tide_report",
        description="TIDE error analysis of every cell of a grid: per-cell and seed-mean CSV tables of dAP per error "
        "type, BCKD-style method comparisons and noise-vs-error-type heatmaps (PNG + SVG).",
    )
    p.add_argument("--cells", required=True, type=Path, help="the grid's cells.json, e.g. results/default/cells.json")
    p.add_argument("--out-dir", required=True, type=Path, help="output directory, e.g. results/default/tide")
    p.add_argument("--no-figures", action="store_true", help="only the CSV tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    cells = collect(args.cells, progress=not args.no_progress)
    means = seed_means(cells)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_text(args.out_dir / "tide_cells.csv", to_csv(cells, CELL_COLUMNS))
    write_text(args.out_dir / "tide_mean.csv", to_csv(means, MEAN_COLUMNS))
    log.info("%d cells, %d seed groups -> %s", len(cells), len(means), args.out_dir)
    if cells.empty:
        log.warning("no complete cell in %s: tables are empty, no figures", args.cells)
    elif not args.no_figures:
        apply_style()
        written = write_figures(cells, means, args.out_dir)
        log.info("wrote %d figure files under %s", len(written), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
