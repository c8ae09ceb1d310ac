"""Published vs reproduced: every published number of a paper table next to the grid's cells.

Why a module (and not notebook code): the mapping from a paper's row to the grid cells that
reproduce it is the part that can silently go wrong (a wrong dataset, a 24-epoch number compared
with a 12-epoch run, an ablation row compared with the full method), so it is explicit here and
tested. The notebooks only call :func:`compare` and render its frame.

Mapping of a reference row (``analysis/references``) to grid cells, step by step:

* **dataset**: the paper's id (``voc``, ``coco``, ``vindr``, ``pets``) maps to the grid dataset of
  the same name, else to a grid dataset whose ``source`` is that id, else -- only when the grid
  has a synthetic dataset -- to the synthetic set as a *stand-in* (``stand_in = True``, status
  :data:`STAND_IN`: the embedded default shows the machinery; a published number is reproduced
  only by cells on its own dataset, so stand-in rows get no diff, no interval check, no verdict and
  are never counted as reproduced). Rows whose dataset the paper does not name are "outside suite".
* **detector**: suite ids are used by the references already (``retinanet`` ... ``dino``); paper
  architectures the suite does not build (``detr``, ``dab_detr``, ...) are "outside suite".
* **backbone**: the suite's paper-size detectors are ResNet-50; rows reporting another student
  backbone (r18, r34, r101, x101, dc5) are "outside suite". A distilled row's *teacher* backbone
  is compared with the grid entry's teacher cell (``teacher: {detector: gfl_r101}`` -> r101); a
  caveat says so only where they differ or the grid names no teacher.
* **method**: the references' method id is the grid's method entry, except rows with a ``setting``
  (ablations): :data:`VARIANTS` names the grid entry of each (paper, table, method, setting) the
  paper grids train; :data:`DEFAULT_SETTINGS` are settings equal to the suite's plain method;
  other settings are "outside suite". ELDET's termination-epoch table has no method: it is the
  plain detector (``baseline``).
* **noise**: empty noise (papers without label noise) is the clean setting ``clean-0``; ELDET's
  termination table gives rates but no noise type: read as ``combined`` (ELDET's main setting).
* **epochs**: a row's ``epochs`` (or ``schedule`` 1x = 12, 2x = 24) must equal the cell's trained
  epochs (cost.json); for stand-in datasets this check is dropped.

Reproduced values: COCO metrics from metrics.json in AP points (x100, as the papers print);
``hours`` = cost.json ``train_seconds`` / 3600; ``memory_mb`` = ``peak_gpu_mb``; ``epoch`` =
transition epochs from ``tables/transition.csv`` (``loc_termination`` = CA, ``cls_termination`` =
GTBA, ``difference`` = GTBA - CA); ``AP_gain`` = method minus baseline AP and ``AP_drop`` = clean
minus noisy AP of the same method, paired by seed (rows without a detector pool every detector
and noisy setting of the dataset: the per-seed mean). Other metrics are "not measured".

Statistics over seeds: mean, sample std (ddof 1), n; ``diff`` = mean - published; a two-sided
95 % Student-t confidence interval mean +- t(0.975, n-1) std / sqrt(n) (none for n < 2);
``inside_ci`` says whether the published value lies in it ("within tolerance" in the index).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.references import load_references
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError

PAPER_DATASETS = ("voc", "coco", "vindr", "pets")
SUITE_DETECTORS = ("retinanet", "fcos", "faster_rcnn", "gfl", "deformable_detr", "dino")
#: (paper, detector, setting) of a reference row -> the suite detector that trains that architecture
#: (OD-DETR's "Def-DETR+" is Deformable DETR with iterative box refinement: ``deformable_detr_refine``)
DETECTOR_SETTINGS: dict[tuple[str, str, str], str] = {
    ("od_detr", "deformable_detr", "iterative box refinement"): "deformable_detr_refine",
}
SUITE_BACKBONES = frozenset({"", "r50"})
AP_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
SCHEDULE_EPOCHS = {"1x": 12, "2x": 24, "3x": 36}
CONFIDENCE = 0.95
#: Status of a row whose cells are on a synthetic stand-in for the paper's dataset: shown apart,
#: never counted as reproduced, never given a diff, an interval check or a scatter point.
STAND_IN = "stand-in (synthetic data)"

#: (paper, table, method, setting) -> grid method entry of the paper grids (benchmarks/grids/*.yaml).
VARIANTS: dict[tuple[str, str, str, str], str] = {
    # BCKD ablations (Tables 3-5, GFL R50 student; teacher = the grid's GFL teacher cell)
    ("bckd", "Table 3", "bckd", "cls"): "bckd_cls_only",
    ("bckd", "Table 3", "bckd", "loc"): "bckd_loc_only",
    ("bckd", "Table 3", "bckd", "cls+loc"): "bckd",
    ("bckd", "Table 6", "bckd", "self-KD"): "bckd_self",  # teacher = the student's architecture
    ("bckd", "Table 6", "baseline", "no self-KD"): "baseline",
    # OD-DETR component ablation (Table 2, Deformable DETR R50)
    ("od_detr", "Table 2", "od_detr", "MD"): "od_detr_md",
    ("od_detr", "Table 2", "od_detr", "MD+PD"): "od_detr_md_pd",
    ("od_detr", "Table 2", "od_detr", "MD+AG"): "od_detr_md_ag",
    ("od_detr", "Table 2", "od_detr", "MD+PD+AG"): "od_detr",
    # SSSD: stepwise lambda (the method) vs a fixed lambda
    ("sssd", "TL;DR", "sssd", "stepwise vs fixed lambda"): "sssd",
}
#: (paper, table, method, detector) -> grid entry, where the entry depends on the student detector
#: (BCKD Table 2: each student distils from a teacher of its own detector).
DETECTOR_VARIANTS: dict[tuple[str, str, str, str], str] = {
    ("bckd", "Table 2", "bckd", "retinanet"): "bckd_retinanet",
    ("bckd", "Table 2", "bckd", "fcos"): "bckd_fcos",
}
#: Settings that are what the suite's plain method trains.
DEFAULT_SETTINGS = frozenset({"", "4scale"})
#: ELDET's termination-epoch table: setting -> the transition quantity.
TERMINATION = {"loc_termination": "CA", "cls_termination": "GTBA", "difference": "diff"}

RESULT_COLUMNS = [
    "paper", "table", "dataset", "detector", "method", "noise", "rate", "metric", "setting",
    "student_backbone", "teacher", "teacher_backbone", "schedule", "epochs", "published",
    "grid_dataset", "grid_method", "grid_noise", "grid_rate", "stand_in", "status",
    "n", "mean", "std", "diff", "ci_low", "ci_high", "inside_ci", "seeds", "caveat", "note",
]  # fmt: skip


# ------------------------------------------------------------------------------ grid context
@dataclass
class Context:
    """What one grid has produced: its datasets, one row per cell, and per-seed transition epochs."""

    grid: str
    root: Path
    datasets: dict[str, str]  # grid dataset -> source
    cells: pd.DataFrame  # one row per cell: identity, epochs, AP metrics (points), hours, memory_mb
    transitions: pd.DataFrame  # dataset, noise, rate, detector, method, seed, CA, GTBA, diff
    methods: dict[str, dict] = field(default_factory=dict)  # grid method entries
    probes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBE_COLUMNS))  # per-cell epoch means


CELL_COLUMNS = ["cell", "dataset", "noise", "rate", "detector", "method", "seed", "epochs", *AP_METRICS, "hours", "memory_mb"]  # fmt: skip
TRANSITION_COLUMNS = ["dataset", "noise", "rate", "detector", "method", "seed", "CA", "GTBA", "diff"]
#: probe.csv columns the matching-stability hook writes (benchmarks/training/matching_hooks.py), as
#: per-cell means over epochs: DN-DETR's instability (lower = more stable) and OD-DETR's consistency.
PROBE_MEAN_COLUMNS = ("IS", "match_consistency")
PROBE_COLUMNS = ["cell", *PROBE_MEAN_COLUMNS]


def _float(v) -> float:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def collect_cells(source) -> pd.DataFrame:
    """One row per cell of ``source`` (a cells.json or CellRefs, analysis/cell_files.py); empty frame when none."""
    from analysis.cell_files import cells_of

    return cells_from_files([ref.metrics_file for ref in cells_of(source)])


def cells_from_files(metrics_paths: Iterable[str | Path], cost_paths: Iterable[str | Path] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per cell from exactly these metrics.json files (AP in points); empty frame when none.

    ``cost_paths``: the cells' cost.json files (matched to a metrics.json by directory); None reads
    the cost.json beside each metrics.json if there is one.
    """
    costs = None if cost_paths is None else {Path(c).parent: Path(c) for c in cost_paths}
    rows = []
    for mpath in sorted(Path(m) for m in metrics_paths):
        rec = read_json(mpath)
        if not isinstance(rec, dict) or any(
            k not in rec for k in ("dataset", "noise", "rate", "detector", "method", "seed")
        ):
            raise InputError("metrics.json lacks the cell identity (dataset, noise, rate, detector, method, seed)", path=mpath)  # fmt: skip
        cost_path = mpath.parent / "cost.json" if costs is None else costs.get(mpath.parent)
        cost = read_json(cost_path) if cost_path is not None and cost_path.is_file() else {}
        row = {k: rec[k] for k in ("dataset", "noise", "detector", "method")}
        row.update(cell=rec.get("cell", ""), rate=float(rec["rate"]), seed=int(rec["seed"]))
        row["epochs"] = cost.get("epochs")
        row.update({m: 100.0 * _float(rec.get(m)) for m in AP_METRICS})
        row["hours"] = _float(cost.get("train_seconds")) / 3600.0
        row["memory_mb"] = _float(cost.get("peak_gpu_mb"))
        rows.append(row)
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def probe_means(probe_paths: Iterable[str | Path], metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Per cell (matched to its metrics.json by directory): the mean over epochs of each
    :data:`PROBE_MEAN_COLUMNS` column its probe.csv has (NaN where the column is absent or empty)."""
    cell_of = {}
    for m in metrics_paths:
        rec = read_json(Path(m))
        cell_of[Path(m).parent] = rec.get("cell", "") if isinstance(rec, dict) else ""
    rows = []
    for ppath in sorted(Path(p) for p in probe_paths):
        if not ppath.is_file() or ppath.parent not in cell_of:
            continue
        probe = pd.read_csv(ppath)
        row = {"cell": cell_of[ppath.parent]}
        for col in PROBE_MEAN_COLUMNS:
            vals = (
                pd.to_numeric(probe[col], errors="coerce").dropna() if col in probe.columns else pd.Series(dtype=float)
            )
            row[col] = float(vals.mean()) if len(vals) else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


def _parse_epochs(text: str) -> dict[int, float]:
    """'seed0:4;seed1:-' -> {0: 4.0, 1: nan} (the per-seed column of tables/transition.csv)."""
    out = {}
    for part in str(text or "").split(";"):
        if ":" not in part:
            continue
        tag, value = part.rsplit(":", 1)
        if tag.startswith("seed") and tag[4:].isdigit():
            out[int(tag[4:])] = math.nan if value.strip() in ("-", "") else float(value)
    return out


def read_transitions(csv_path: str | Path) -> pd.DataFrame:
    """Per-seed CA/GTBA transition epochs (noisy labels) from a transition table; empty when absent."""
    path = Path(csv_path)
    if not path.is_file():
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for rec in table[(table["level"] == "setting") & (table["labels"] == "noisy")].to_dict("records"):
        ca, gtba = _parse_epochs(rec["ca_epochs"]), _parse_epochs(rec["gtba_epochs"])
        for seed in sorted(set(ca) | set(gtba)):
            c, g = ca.get(seed, math.nan), gtba.get(seed, math.nan)
            rows.append({
                "dataset": rec["dataset"], "noise": rec["noise"], "rate": float(rec["rate"]),
                "detector": rec["detector"], "method": rec["method"], "seed": seed,
                "CA": c, "GTBA": g, "diff": g - c,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=TRANSITION_COLUMNS)


def load_context(results_dir: str | Path, grid: str) -> Context:
    """The context of ``results_dir/grid`` (a missing or empty directory gives an empty context)."""
    root = Path(results_dir) / grid
    from analysis.cell_files import MANIFEST_FILE, read_manifest

    manifest = root / MANIFEST_FILE  # the DAG's cell list (rule cell_manifest): no glob of runs/
    datasets: dict[str, str] = {}
    methods: dict[str, dict] = {}
    metrics: list[Path] = []
    if manifest.is_file():
        m = read_manifest(manifest)
        datasets, methods = dict(m.datasets), dict(m.methods)
        metrics = [ref.metrics_file for ref in m.cells]
    cells = cells_from_files(metrics)
    for name in cells["dataset"].unique():
        datasets.setdefault(name, name)
    probes = probe_means([m.parent / "probe.csv" for m in metrics], metrics)
    transitions = read_transitions(root / "tables" / "transition.csv")
    return Context(grid, root, datasets, cells, transitions, methods, probes)


# --------------------------------------------------------------------------------- mapping
def dataset_map(datasets: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """Paper dataset id -> (grid dataset, stand_in) for every paper dataset the grid can stand for."""
    out: dict[str, tuple[str, bool]] = {}
    synthetic = sorted(name for name, src in datasets.items() if src == "synthetic")
    for paper_id in PAPER_DATASETS:
        if paper_id in datasets:
            out[paper_id] = (paper_id, False)
        elif by_source := sorted(name for name, src in datasets.items() if src == paper_id):
            out[paper_id] = (by_source[0], False)
        elif synthetic:
            out[paper_id] = (synthetic[0], True)
    return out


@dataclass(frozen=True)
class Target:
    """The grid cells a reference row compares with (or why there are none)."""

    dataset: str | None = None
    stand_in: bool = False
    method: str | None = None
    noise: str | None = None
    rate: float | None = None  # None: every rate (average rows)
    epochs: int | None = None
    outside: str = ""  # reason the suite cannot reproduce the row ("" = it can)
    caveat: str = ""
    detector: str | None = None  # the suite detector when it differs from the row's (DETECTOR_SETTINGS)


def ref_epochs(row: dict) -> int | None:
    if row.get("epochs") is not None and not pd.isna(row["epochs"]):
        return int(row["epochs"])
    return SCHEDULE_EPOCHS.get(str(row.get("schedule") or ""))


def detector_backbone(detector: str) -> str:
    """Backbone of a suite detector id: ``gfl_r101`` -> r101, ``retinanet_x101`` -> x101, else r50."""
    tail = detector.rsplit("_", 1)[-1]
    return tail if tail in ("r18", "r34", "r101", "x101") else "r50"


def suite_teacher(methods: dict[str, dict] | None, entry: str) -> str | None:
    """The teacher detector id of grid method ``entry`` (None: no teacher, or the grid is unknown)."""
    teacher = ((methods or {}).get(entry) or {}).get("teacher") or {}
    return teacher.get("detector") if isinstance(teacher, dict) else None


def map_row(row: dict, dmap: dict[str, tuple[str, bool]], methods: dict[str, dict] | None = None) -> Target:
    """Where the grid keeps the cells of one reference row (module docstring: the rules).

    ``methods``: the grid's method entries; a distilled row's teacher backbone is compared with the
    backbone of the entry's teacher cell (a caveat only where they differ, or where it is unknown).
    """
    paper, table, setting = row["paper"], row["table"], row["setting"]
    method = row["method"]
    detector = DETECTOR_SETTINGS.get((paper, row["detector"], setting))
    if detector is not None:
        setting = ""  # the setting names the architecture, which the suite detector trains
    termination = paper == "eldet" and table == "rebuttal: early-learning termination epochs"
    if termination:
        method = "baseline"
    if not row["dataset"]:
        return Target(outside="dataset not stated in the paper")
    if row["detector"] and row["detector"] not in SUITE_DETECTORS:
        return Target(outside=f"detector '{row['detector']}' not in the suite")
    if row["student_backbone"] not in SUITE_BACKBONES:
        return Target(outside=f"backbone {row['student_backbone']} (suite: r50)")
    if method == "teacher":
        return Target(outside="teacher row (the suite's teachers are grid cells of the same backbone)")
    if termination:
        if setting not in TERMINATION:
            return Target(outside=f"termination setting '{setting}'")
    elif setting in DEFAULT_SETTINGS and (paper, table, method, row["detector"]) in DETECTOR_VARIANTS:
        method = DETECTOR_VARIANTS[(paper, table, method, row["detector"])]
    elif (paper, table, method, setting) in VARIANTS:
        method = VARIANTS[(paper, table, method, setting)]
    elif setting not in DEFAULT_SETTINGS and row["metric"] not in ("AP_gain", "AP_drop"):
        return Target(outside=f"setting '{setting}' has no grid entry")
    if "+" in method:
        return Target(outside=f"combination '{method}' not in the suite")
    noise, rate = row["noise"], row["rate"]
    if not noise:
        noise = "combined" if termination else "clean"
    if termination and pd.isna(rate):
        rate = None  # an average row: every noisy rate
    else:
        rate = 0.0 if noise == "clean" or pd.isna(rate) else float(rate)
    caveat = []
    if row["teacher_backbone"]:
        teacher = suite_teacher(methods, method)
        if teacher is None:
            caveat.append(f"paper teacher {row['teacher_backbone']}, the grid names no teacher for '{method}'")
        elif detector_backbone(teacher) != row["teacher_backbone"]:
            caveat.append(
                f"paper teacher {row['teacher_backbone']}, suite teacher {detector_backbone(teacher)} ({teacher})"
            )
    if termination:
        caveat.append("noise type not stated: read as combined")
    if row["dataset"] not in dmap:
        return Target(method=method, noise=noise, rate=rate, outside="", caveat="; ".join(caveat), detector=detector)
    grid_ds, stand_in = dmap[row["dataset"]]
    if stand_in:
        caveat.append(f"stand-in: synthetic '{grid_ds}' for {row['dataset']}")
    return Target(
        grid_ds, stand_in, method, noise, rate, None if stand_in else ref_epochs(row), "", "; ".join(caveat), detector
    )


# ------------------------------------------------------------------------------ statistics
def describe(values: Sequence[float], published: float, confidence: float = CONFIDENCE) -> dict:
    """n, mean, std (ddof 1), diff to published, t-interval and whether published lies inside."""
    v = np.asarray([x for x in values if not pd.isna(x)], dtype=float)
    n = int(v.size)
    out = {"n": n, "mean": math.nan, "std": math.nan, "diff": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    out["inside_ci"] = pd.NA
    if n == 0:
        return out
    out["mean"] = float(v.mean())
    out["diff"] = out["mean"] - float(published)
    if n >= 2:
        out["std"] = float(v.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * out["std"] / math.sqrt(n)
        out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
        out["inside_ci"] = bool(out["ci_low"] <= published <= out["ci_high"])
    return out


# ------------------------------------------------------------------------- per-seed values
def _select(cells: pd.DataFrame, **eq) -> pd.DataFrame:
    mask = pd.Series(True, index=cells.index)
    for col, want in eq.items():
        if want is None:
            continue
        mask &= (cells[col] - want).abs() < 1e-9 if col == "rate" else cells[col] == want
    return cells[mask]


def _epochs_ok(cells: pd.DataFrame, epochs: int | None) -> pd.DataFrame:
    if epochs is None or cells.empty:
        return cells
    return cells[pd.to_numeric(cells["epochs"], errors="coerce") == epochs]


def seed_values(ctx: Context, row: dict, t: Target) -> pd.Series | None:
    """Reproduced value per seed of one reference row (index: seed); None = metric not measured."""
    metric = row["metric"]
    det = t.detector or row["detector"] or None
    if metric in AP_METRICS or metric in ("hours", "memory_mb"):
        sel = _epochs_ok(_select(ctx.cells, dataset=t.dataset, noise=t.noise, rate=t.rate, detector=det, method=t.method), t.epochs)  # fmt: skip
        if det is None:  # no detector named: one value per detector is not one number
            return None
        return sel.set_index("seed")[metric]
    if metric == "epoch":
        sel = _select(ctx.transitions, dataset=t.dataset, noise=t.noise, rate=t.rate, detector=det, method=t.method)
        col = TERMINATION[row["setting"]]
        if det is None:  # average row: per seed, the mean over detectors
            return sel.groupby("seed")[col].mean()
        return sel.set_index("seed")[col]
    if metric in ("AP_gain", "AP_drop", "AP_gain_vs_clean"):
        cells = _select(ctx.cells, dataset=t.dataset, detector=det)
        if metric == "AP_gain":
            a = _select(cells, method=t.method)
            b = _select(cells, method="baseline")
            keys = ["detector", "noise", "rate", "seed"]
            if row["noise"]:
                a, b = _select(a, noise=t.noise, rate=t.rate), _select(b, noise=t.noise, rate=t.rate)
            else:
                a, b = a[a["noise"] != "clean"], b[b["noise"] != "clean"]
        else:
            a = _select(cells, method=t.method, noise="clean")
            b = _select(cells, method=t.method)
            b = b[b["noise"] != "clean"] if metric == "AP_drop" else _select(b, noise=t.noise, rate=t.rate)
            keys = ["detector", "seed"]
            if metric == "AP_gain_vs_clean":
                a, b = b, a  # noisy minus clean
        m = a[keys + ["AP"]].merge(b[keys + ["AP"]], on=keys, suffixes=("_a", "_b"))
        m["d"] = m["AP_a"] - m["AP_b"]
        return m.groupby("seed")["d"].mean()
    return None


# ---------------------------------------------------------------------------------- compare
def compare(ctx: Context, paper: str, tables: Iterable[str] | None = None, *, refs: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per published number of ``paper`` (optionally only ``tables``) with its reproduction."""
    refs = load_references(paper) if refs is None else refs[refs["paper"] == paper]
    if tables is not None:
        tables = list(tables)
        unknown = sorted(set(tables) - set(refs["table"]))
        if unknown:
            raise InputError(f"paper '{paper}' has no table(s) {unknown}; known: {sorted(set(refs['table']))}")
        refs = refs[refs["table"].isin(tables)]
    dmap = dataset_map(ctx.datasets)
    out = []
    for row in refs.to_dict("records"):
        t = map_row(row, dmap, ctx.methods)
        rec = {c: row.get(c) for c in ("paper", "table", "dataset", "detector", "method", "noise", "rate", "metric", "setting", "student_backbone", "teacher", "teacher_backbone", "schedule", "epochs", "note")}  # fmt: skip
        rec.update(published=row["value"], grid_dataset=t.dataset, grid_method=t.method, grid_noise=t.noise, grid_rate=t.rate)  # fmt: skip
        rec.update(stand_in=t.stand_in, caveat=t.caveat, seeds="")
        values = None
        if t.outside:
            rec["status"] = f"outside suite: {t.outside}"
        elif t.dataset is None:
            rec["status"] = "not run"
        else:
            values = seed_values(ctx, row, t)
            if values is None:
                rec["status"] = f"not measured: {row['metric']}" + (
                    " without a detector" if not row["detector"] else ""
                )
            else:
                ran = len(values) > 0
                values = values.dropna()
                done = STAND_IN if t.stand_in else "reproduced"
                rec["status"] = done if len(values) else ("no value (the cells ran)" if ran else "not run")
                rec["seeds"] = ",".join(str(int(s)) for s in sorted(values.index))
        rec.update(describe([] if values is None else list(values), row["value"]))
        if t.stand_in:  # another dataset's cells reproduce nothing: no diff, no interval, no verdict
            rec.update(diff=math.nan, ci_low=math.nan, ci_high=math.nan, inside_ci=pd.NA)
        out.append(rec)
    return pd.DataFrame(out, columns=RESULT_COLUMNS)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per paper table: published numbers, reproducible in the suite, reproduced, inside the CI."""
    if frame.empty:
        return pd.DataFrame(columns=["paper", "table", "published", "in_suite", "reproduced", "testable", "inside_ci"])
    g = frame.assign(
        in_suite=~frame["status"].str.startswith("outside suite"),
        reproduced=frame["status"] == "reproduced",
        testable=frame["n"] >= 2,
        inside=frame["inside_ci"].map(lambda v: v is True),
    ).groupby(["paper", "table"], sort=False)
    return pd.DataFrame({
        "published": g.size(),
        "in_suite": g["in_suite"].sum(),
        "reproduced": g["reproduced"].sum(),
        "testable": g["testable"].sum(),
        "inside_ci": g["inside"].sum(),
    }).reset_index()  # fmt: skip


def reproduced_grid(ctx: Context, methods: Iterable[str] | None = None, metric: str = "AP") -> pd.DataFrame:
    """Reproduced-only view (no published number needed): mean/std/n of ``metric`` per cell group."""
    cells = ctx.cells if methods is None else ctx.cells[ctx.cells["method"].isin(list(methods))]
    cols = ["dataset", "noise", "rate", "detector", "method"]
    if cells.empty:
        return pd.DataFrame(columns=[*cols, "n", "mean", "std"])
    g = cells.groupby(cols)[metric]
    return pd.DataFrame({"n": g.count(), "mean": g.mean(), "std": g.std(ddof=1)}).reset_index()


__all__ = [
    "Context",
    "DEFAULT_SETTINGS",
    "DETECTOR_VARIANTS",
    "VARIANTS",
    "collect_cells",
    "compare",
    "dataset_map",
    "describe",
    "load_context",
    "map_row",
    "read_transitions",
    "reproduced_grid",
    "summary",
]
