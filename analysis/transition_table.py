"""Transition-epoch table: is localization noise memorized before categorization noise (ELDET's claim)?

For every training cell with probes in the grid's ``cells.json`` the CA (localization) and GTBA (classification)
curves are fitted with :func:`analysis.transition.find_transition`; the table then gives, per
(dataset, method, noise, rate, detector), the two transition epochs, their difference
Delta = GTBA - CA and, across seeds, mean / std / n and a paired one-sided test of
"CA transition < GTBA transition". Averages follow, per noise rate over detectors and per
(dataset, noise) over rates and detectors, as in the transition-epoch table of the ELDET OpenReview
discussion (VOC/COCO x RetinaNet/FCOS/Faster R-CNN/GFL x 20/30/40 %; average VOC 3.92 vs 8.67).

Conventions (choices where the paper is silent):

* Curves: CA and GTBA against the *noisy* training labels the model is trained on (ELDET/ADELE fit
  the metric against the labels being memorized); ``--labels clean`` uses CA_clean/GTBA_clean.
* Horizon: a transition must fall within the cell's schedule (``epochs`` of cost.json, else the last
  probed epoch), as the published table (all epochs <= 12 on the 12-epoch 1x schedule); otherwise
  the run's epoch is null and its reason is listed in ``null_reasons``.
* Statistics over seeds: mean, sample std (ddof = 1; empty for n < 2), n. Average rows pool all
  (detector, seed) runs of the group, so with equal seed counts they equal the mean of the rows above.
* Test on the pairs (runs where both epochs exist), d = GTBA - CA, H1: d > 0. Wilcoxon signed-rank
  (zeros dropped, scipy's exact/normal choice) when at least 6 pairs have d != 0 -- below that the
  smallest attainable one-sided p is 1/2^n (0.031 at n = 5) and the exact distribution too coarse --
  else a one-sided paired t-test for n >= 2; none for n < 2 or constant d (t undefined), with a note.

CLI::

    python -m analysis.transition_table --cells results/G/cells.json --out results/G/tables/transition.csv \\
        [--markdown results/G/tables/transition.md] [--labels noisy|clean] [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

from analysis.cell_files import IDENTITY_KEYS, CellRef, cells_of, identity
from analysis.transition import DEFAULT_THRESHOLD, find_transition, has_values, read_probe_csv
from benchmarks.atomic import write_text
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli

log = logging.getLogger("analysis.transition_table")

CURVES = ("CA", "GTBA", "CA_clean", "GTBA_clean")
LABEL_COLUMNS = {"noisy": ("CA", "GTBA"), "clean": ("CA_clean", "GTBA_clean")}
DETECTOR_ORDER = (
    "retinanet",
    "fcos",
    "faster_rcnn",
    "gfl",
    "deformable_detr",
    "deformable_detr_refine",
    "dino",
)  # the paper's order first
MIN_WILCOXON = 6
COLUMNS = [
    "level", "dataset", "method", "noise", "rate", "detector", "labels", "n_runs",
    "ca_mean", "ca_std", "ca_n", "gtba_mean", "gtba_std", "gtba_n", "diff_mean", "diff_std", "n_pairs",
    "test", "statistic", "p_value", "test_note", "ca_epochs", "gtba_epochs", "null_reasons",
]  # fmt: skip


# ------------------------------------------------------------------------------- discovery
def cell_identity(ref: CellRef) -> dict:
    """The cell's identity as its metrics.json records it (a cell still training: from its id)."""
    if not ref.metrics_file.is_file():
        return {k: v for k, v in ref.cell.identity().items() if k in IDENTITY_KEYS}
    rec = read_json(ref.metrics_file)
    missing = [k for k in IDENTITY_KEYS if k not in rec] if isinstance(rec, dict) else list(IDENTITY_KEYS)
    if missing:
        raise InputError(f"missing keys {missing} (cell identity)", path=ref.metrics_file)
    return identity(rec)


def schedule_epochs(cdir: Path, probe: dict[str, np.ndarray]) -> int:
    """The cell's schedule length: cost.json ``epochs`` when present, else the last probed epoch."""
    cost = cdir / "cost.json"
    if cost.is_file():
        rec = read_json(cost)
        if isinstance(rec, dict) and isinstance(rec.get("epochs"), int) and rec["epochs"] > 0:
            return int(rec["epochs"])
    return int(np.nanmax(probe["epoch"]))


def analyse_run(ref: CellRef, *, threshold: float = DEFAULT_THRESHOLD) -> dict | None:
    """Transitions of every available curve of one cell; None when probe.csv has no rows."""
    probe_csv = ref.file("probe.csv")
    probe = read_probe_csv(probe_csv)
    if probe["epoch"].size == 0:
        return None
    horizon = schedule_epochs(probe_csv.parent, probe)
    fits = {
        col: find_transition(probe["epoch"], probe[col], threshold=threshold, horizon=horizon)
        for col in CURVES
        if has_values(probe, col)
    }
    return {**cell_identity(ref), "path": probe_csv, "horizon": horizon, "probe": probe, "fits": fits}


def collect_runs(source, *, threshold: float = DEFAULT_THRESHOLD, progress: bool = True) -> list[dict]:
    """Analyse every cell of ``source`` (a cells.json or CellRefs) with probe rows (progress bar on stderr)."""
    refs = [r for r in cells_of(source) if r.file("probe.csv").is_file()]
    log.info("%d cells with a probe.csv", len(refs))
    runs = []
    for ref in tqdm(refs, desc="transition fits", unit="cell", disable=not progress or not refs, file=sys.stderr):
        run = analyse_run(ref, threshold=threshold)
        if run is None:
            log.info("skipping %s: no probe rows (trained with --no-probes?)", ref.id)
            continue
        runs.append(run)
    if not runs:
        where = source if isinstance(source, (str, Path)) else None
        raise InputError("no cell with probe rows in this cell list", path=where)
    return runs


# -------------------------------------------------------------------------------- statistics
def describe(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1 -- nan for n < 2, n) of the non-null values."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def paired_test(ca: Sequence[float], gtba: Sequence[float]) -> dict:
    """One-sided paired test of CA < GTBA on the given pairs (see the module docstring for the choice)."""
    d = np.asarray(gtba, dtype=float) - np.asarray(ca, dtype=float)
    n = int(d.size)
    out = {"test": "none", "statistic": float("nan"), "p_value": float("nan"), "n_pairs": n, "test_note": ""}
    if n < 2:
        out["test_note"] = f"n={n} pair(s) < 2: no test"
        return out
    if np.all(d == d[0]):
        out["test_note"] = f"all {n} differences equal ({d[0]:+g}): test undefined"
        return out
    nonzero = int(np.count_nonzero(d))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if nonzero >= MIN_WILCOXON:
            res = stats.wilcoxon(d, alternative="greater", zero_method="wilcox")
            out["test"] = "wilcoxon signed-rank, one-sided"
            out["test_note"] = f"{n - nonzero} zero difference(s) dropped" if nonzero < n else ""
        else:
            res = stats.ttest_rel(np.asarray(gtba, float), np.asarray(ca, float), alternative="greater")
            out["test"] = "paired t-test, one-sided"
            out["test_note"] = f"{nonzero} non-zero difference(s) < {MIN_WILCOXON}: t-test instead of Wilcoxon"
    out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def _epoch_of(run: dict, col: str) -> int | None:
    fit = run["fits"].get(col)
    return None if fit is None else fit["epoch"]


def _reason_of(run: dict, col: str) -> str:
    fit = run["fits"].get(col)
    return "no values in probe.csv" if fit is None else fit.get("reason", "")


def summarise_group(runs: list[dict], labels: str, *, per_seed: bool) -> dict:
    """Mean/std/n of both transitions, the difference and the paired test over a group of runs."""
    ca_col, gtba_col = LABEL_COLUMNS[labels]
    ca = [_epoch_of(r, ca_col) for r in runs]
    gtba = [_epoch_of(r, gtba_col) for r in runs]
    pairs = [(c, g) for c, g in zip(ca, gtba) if c is not None and g is not None]
    ca_mean, ca_std, ca_n = describe(ca)
    g_mean, g_std, g_n = describe(gtba)
    d_mean, d_std, _ = describe([g - c for c, g in pairs])
    test = paired_test([p[0] for p in pairs], [p[1] for p in pairs])
    row = {
        "labels": labels,
        "n_runs": len(runs),
        "ca_mean": ca_mean, "ca_std": ca_std, "ca_n": ca_n,
        "gtba_mean": g_mean, "gtba_std": g_std, "gtba_n": g_n,
        "diff_mean": d_mean, "diff_std": d_std,
        **test,
    }  # fmt: skip
    tag = (lambda r: f"seed{r['seed']}") if per_seed else (lambda r: f"{r['detector']}/seed{r['seed']}")
    row["ca_epochs"] = ";".join(f"{tag(r)}:{'-' if e is None else e}" for r, e in zip(runs, ca))
    row["gtba_epochs"] = ";".join(f"{tag(r)}:{'-' if e is None else e}" for r, e in zip(runs, gtba))
    reasons = [
        f"{name} {tag(r)}: {_reason_of(r, col)}"
        for r in runs
        for name, col in (("CA", ca_col), ("GTBA", gtba_col))
        if _epoch_of(r, col) is None
    ]
    row["null_reasons"] = " | ".join(reasons)
    return row


def _detector_key(name: str) -> tuple[int, str]:
    return (DETECTOR_ORDER.index(name), "") if name in DETECTOR_ORDER else (len(DETECTOR_ORDER), name)


def build_table(runs: Iterable[dict], labels: str = "noisy") -> list[dict]:
    """Rows in the paper's order: per (dataset, method, noise) the detector x rate rows, the per-rate
    averages over detectors (detector 'all'), then the overall average (rate and detector 'all')."""
    runs = sorted(runs, key=lambda r: (r["dataset"], r["method"], r["noise"], _detector_key(r["detector"]), r["rate"], r["seed"]))  # fmt: skip
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["method"], r["noise"]), []).append(r)
    rows = []
    for (dataset, method, noise), members in groups.items():
        key = {"dataset": dataset, "method": method, "noise": noise}
        cells: dict[tuple, list[dict]] = {}
        for r in members:
            cells.setdefault((r["detector"], r["rate"]), []).append(r)
        for (detector, rate), rs in cells.items():
            rows.append({"level": "setting", **key, "rate": rate, "detector": detector, **summarise_group(rs, labels, per_seed=True)})  # fmt: skip
        for rate in sorted({r["rate"] for r in members}):
            rs = [r for r in members if r["rate"] == rate]
            rows.append({"level": "rate_mean", **key, "rate": rate, "detector": "all", **summarise_group(rs, labels, per_seed=False)})  # fmt: skip
        rows.append({"level": "dataset_mean", **key, "rate": "all", "detector": "all", **summarise_group(members, labels, per_seed=False)})  # fmt: skip
    return rows


# ----------------------------------------------------------------------------------- output
def _fmt(v, spec: str = ".4f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        out = {k: _fmt(row.get(k)) for k in COLUMNS}
        out["rate"] = row["rate"] if row["rate"] == "all" else f"{row['rate']:g}"
        out["statistic"] = _fmt(row["statistic"], ".6g")
        out["p_value"] = _fmt(row["p_value"], ".6g")
        w.writerow(out)
    return buf.getvalue()


def _cell(mean: float, std: float, n: int) -> str:
    if n == 0:
        return "–"
    return f"{mean:.2f}" + (f" ± {std:.2f}" if math.isfinite(std) else "") + f" (n={n})"


def to_markdown(rows: list[dict], *, threshold: float, source: str = "") -> str:
    labels = rows[0]["labels"] if rows else "noisy"
    lines = [
        "# Early-learning transition epochs: localization (CA) vs classification (GTBA)",
        "",
        f"Fit f(x) = a(1 - exp(-x^b / c)) to each probe curve against the **{labels}** training labels; "
        f"transition = first epoch with |f'(t) - f'(1)| / f'(1) > {threshold:g}. Mean ± std (n seeds); "
        "Δ = GTBA − CA (> 0: localization noise memorized first); one-sided paired test of CA < GTBA.",
    ]
    if source:
        lines += ["", f"Source: `{source}`"]
    for key in dict.fromkeys((r["dataset"], r["method"], r["noise"]) for r in rows):
        dataset, method, noise = key
        lines += [
            "",
            f"## {dataset} · {method} · {noise} noise",
            "",
            "| Detector | Noise rate | Localization (CA) | Classification (GTBA) | Δ (GTBA − CA) | Pairs | Test | p |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            if (r["dataset"], r["method"], r["noise"]) != key:
                continue
            det = {"setting": r["detector"], "rate_mean": "**Average**", "dataset_mean": f"**Average ({dataset})**"}
            rate = "all" if r["rate"] == "all" else f"{100 * r['rate']:g}%"
            diff = "–" if r["n_pairs"] == 0 else f"{r['diff_mean']:+.2f}"
            test = {"wilcoxon signed-rank, one-sided": "Wilcoxon", "paired t-test, one-sided": "t"}.get(r["test"])
            if test is None:
                test = "– (n<2)" if r["n_pairs"] < 2 else "– (Δ constant)"
            else:
                test += f" ({r['statistic']:.3g})"
            p = "–" if r["test"] == "none" else f"{r['p_value']:.3g}"
            lines.append(
                f"| {det[r['level']]} | {rate} | {_cell(r['ca_mean'], r['ca_std'], r['ca_n'])} | "
                f"{_cell(r['gtba_mean'], r['gtba_std'], r['gtba_n'])} | {diff} | {r['n_pairs']} | "
                f"{test} | {p} |"
            )
        notes = []
        for r in rows:
            if (r["dataset"], r["method"], r["noise"]) == key and r["level"] == "setting" and r["null_reasons"]:
                by_reason: dict[str, list[str]] = {}
                for item in r["null_reasons"].split(" | "):
                    who, _, why = item.partition(": ")
                    by_reason.setdefault(why, []).append(who)
                for why, who in by_reason.items():
                    notes.append(f"- {r['detector']} {100 * r['rate']:g}%, {', '.join(who)}: {why}")
        if notes:
            lines += ["", "No transition found for:", *notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.transition_table",
        description="Table of early-learning transition epochs (CA = localization, GTBA = classification) per "
        "dataset x detector x noise x rate, with seed statistics and a paired test of CA < GTBA.",
    )
    p.add_argument("--cells", required=True, type=Path, help="the grid's cells.json, e.g. results/default/cells.json")
    p.add_argument("--out", required=True, type=Path, help="CSV to write, e.g. results/default/tables/transition.csv")
    p.add_argument("--markdown", type=Path, default=None, help="also write a Markdown rendering to this path")
    p.add_argument(
        "--labels",
        choices=sorted(LABEL_COLUMNS),
        default="noisy",
        help="probe curves against the noisy training labels (CA, GTBA; default, as ELDET) or the clean ones",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="relative derivative change r in (0, 1) marking the transition (default 0.9, as ADELE)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    if not 0.0 < args.threshold < 1.0:
        raise InputError(f"--threshold must be in (0, 1), got {args.threshold}")
    runs = collect_runs(args.cells, threshold=args.threshold, progress=not args.no_progress)
    rows = build_table(runs, args.labels)
    write_text(args.out, to_csv(rows))
    log.info("wrote %s (%d rows from %d cells)", args.out, len(rows), len(runs))
    if args.markdown:
        write_text(args.markdown, to_markdown(rows, threshold=args.threshold, source=str(args.out)))
        log.info("wrote %s", args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
