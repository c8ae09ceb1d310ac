"""Memorization table: does the train-set fit to the *clean* labels peak and fall while the fit to
the noisy labels keeps rising?

The early-learning picture of ADELE and ELDET: trained on noisy labels, a detector first learns the
clean pattern (its train-set AP measured against the clean labels rises), then memorizes the noise
(the AP against the clean labels falls from its peak while the AP against the noisy labels it is
trained on keeps rising). For every noisy cell with probes in the grid's ``cells.json`` the table
gives the epoch of the clean-label peak, the drop from the peak to the last probe, and the
noisy-label AP at the peak and at the end.

ELDET's point is that the two tasks memorize at different times, so the same test is also applied
per task: to CA (localization: ``CA_clean`` against ``CA``) and to GTBA (classification:
``GTBA_clean`` against ``GTBA``), in the ``ca_*`` and ``gtba_*`` columns (empty where a probe lacks
the pair). A task that never memorizes has nothing for a transition to find: its clean-label curve
peaks at the end.

A cell *shows memorization* when (thresholds are ours; the papers show curves, not a test):

* the clean-label AP peaks before the last probed epoch,
* its last value is at least ``--min-drop`` (default 10 %) below the peak, relative to the peak,
* and the noisy-label AP at the last probe is higher than at the peak epoch.

CLI::

    python -m analysis.memorization --cells results/G/cells.json --out results/G/tables/memorization.csv \\
        [--markdown results/G/tables/memorization.md] [--min-drop 0.1]
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.cell_files import cells_of
from analysis.table_io import check_table_outputs, write_tables
from analysis.transition import read_probe_csv
from benchmarks.errors import InputError, run_cli

DEFAULT_MIN_DROP = 0.10
COLUMNS = [
    "dataset", "noise", "rate", "detector", "method", "seed", "epochs", "peak_epoch", "ap_clean_peak",
    "ap_clean_last", "drop", "ap_noisy_at_peak", "ap_noisy_last", "memorized",
    "ca_peak_epoch", "ca_drop", "ca_memorized", "gtba_peak_epoch", "gtba_drop", "gtba_memorized",
]  # fmt: skip
TASKS = {"ca": ("CA_clean", "CA"), "gtba": ("GTBA_clean", "GTBA")}  # per-task test: (clean curve, noisy curve)


def memorization(epochs, ap_clean, ap_noisy, *, min_drop: float = DEFAULT_MIN_DROP) -> dict:
    """Peak-and-drop of one cell's clean-label curve next to its noisy-label curve (see the module
    docstring); epochs whose probes are missing (NaN) are skipped."""
    epochs, clean, noisy = (np.asarray(v, dtype=float) for v in (epochs, ap_clean, ap_noisy))
    ok = np.isfinite(epochs) & np.isfinite(clean) & np.isfinite(noisy)
    epochs, clean, noisy = epochs[ok], clean[ok], noisy[ok]
    if epochs.size == 0:
        raise ValueError("no probed epoch with both AP and AP_clean")
    order = np.argsort(epochs, kind="stable")
    epochs, clean, noisy = epochs[order], clean[order], noisy[order]
    peak = int(np.argmax(clean))  # the first epoch of the maximum
    drop = 1.0 - clean[-1] / clean[peak] if clean[peak] > 0 else 0.0
    return {
        "epochs": int(epochs[-1]),
        "peak_epoch": int(epochs[peak]),
        "ap_clean_peak": float(clean[peak]),
        "ap_clean_last": float(clean[-1]),
        "drop": float(drop),
        "ap_noisy_at_peak": float(noisy[peak]),
        "ap_noisy_last": float(noisy[-1]),
        "memorized": bool(peak < epochs.size - 1 and drop >= min_drop and noisy[-1] > noisy[peak]),
    }


def task_memorization(probe: dict, *, min_drop: float = DEFAULT_MIN_DROP) -> dict:
    """The ``ca_*`` / ``gtba_*`` columns of one cell's probe columns: peak epoch, drop, memorized
    (None where the probe lacks the task's clean or noisy curve or never probed both)."""
    out: dict = {}
    for task, (clean, noisy) in TASKS.items():
        r: dict = {}
        if clean in probe and noisy in probe:
            try:
                r = memorization(probe["epoch"], probe[clean], probe[noisy], min_drop=min_drop)
            except ValueError:  # no epoch with both curves probed
                pass
        for field in ("peak_epoch", "drop", "memorized"):
            out[f"{task}_{field}"] = r.get(field)
    return out


def read_task_columns(record: dict) -> dict:
    """The ``ca_*`` / ``gtba_*`` columns of one row read back from memorization.csv (pandas
    records: empty cells are NaN; a table written before the columns existed has none) as
    :func:`task_memorization` returns them."""
    out: dict = {}
    for task in TASKS:
        flag = record.get(f"{task}_memorized")
        known = flag is not None and not (isinstance(flag, float) and math.isnan(flag))
        out[f"{task}_memorized"] = str(flag) == "True" if known else None
        out[f"{task}_drop"] = float(record[f"{task}_drop"]) if known else None
        out[f"{task}_peak_epoch"] = int(record[f"{task}_peak_epoch"]) if known else None
    return out


def build_rows(source, *, min_drop: float = DEFAULT_MIN_DROP, skipped: list | None = None) -> list[dict]:
    """One row per noisy cell of ``source`` (a cells.json or CellRefs) with AP and AP_clean probes;
    the probe files of noisy cells that have none are appended to ``skipped``."""
    rows = []
    for ref in cells_of(source):
        if ref.cell.noise == "clean":
            continue
        if not ref.file("probe.csv").is_file():
            if skipped is not None:
                skipped.append(ref.file("probe.csv"))
            continue
        probe = read_probe_csv(ref.file("probe.csv"))
        if probe["epoch"].size == 0 or "AP_clean" not in probe or "AP" not in probe:
            continue
        try:
            result = memorization(probe["epoch"], probe["AP_clean"], probe["AP"], min_drop=min_drop)
        except ValueError:
            continue
        result.update(task_memorization(probe, min_drop=min_drop))
        c = ref.cell
        rows.append(
            {"dataset": c.dataset, "noise": c.noise, "rate": c.rate, "detector": c.detector, "method": c.method,
             "seed": c.seed, **result}
        )  # fmt: skip
    if not rows:
        where = f" {source}" if isinstance(source, (str, Path)) else ""
        raise InputError(f"no noisy cell with AP / AP_clean probes in the cell list{where}")
    return sorted(rows, key=lambda r: (r["dataset"], r["noise"], r["rate"], r["method"] != "baseline",
                                       r["method"], r["detector"], r["seed"]))  # fmt: skip


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("" if v is None else f"{v:.4f}" if isinstance(v, float) and k != "rate" else v)
                for k, v in row.items()
            }
        )
    return out.getvalue()


def task_summary(rows: list[dict]) -> str:
    """'localization (CA) in a of n, classification (GTBA) in b of m' over ``rows`` with the task."""
    parts = []
    for task, name in (("ca", "localization (CA)"), ("gtba", "classification (GTBA)")):
        flags = [r.get(f"{task}_memorized") for r in rows if r.get(f"{task}_memorized") is not None]
        parts.append(f"{name} in {sum(map(bool, flags))} of {len(flags)}")
    return ", ".join(parts)


def task_cell(row: dict, task: str) -> str:
    """'drop % (peak epoch)' of one task, or '-' where the probe lacks it."""
    if row.get(f"{task}_memorized") is None:
        return "-"
    flag = " *" if row[f"{task}_memorized"] else ""
    return f"{100 * row[f'{task}_drop']:.0f} % (ep {row[f'{task}_peak_epoch']}){flag}"


def to_markdown(rows: list[dict], *, min_drop: float) -> str:
    base = [r for r in rows if r["method"] == "baseline"]
    shown = sum(r["memorized"] for r in base)
    lines = [
        "# Memorization: train-set AP against the clean labels peaks, then falls",
        "",
        f"Noisy baselines showing memorization (peak before the last epoch, drop >= {min_drop:.0%}, noisy-label "
        f"AP still rising): **{shown} of {len(base)}**. The same test per task, on the clean- against the "
        f"noisy-label CA and GTBA curves: {task_summary(base)} (the CA / GTBA columns: drop from the clean-label "
        "peak (its epoch), * = memorized).",
        "",
        "| dataset | noise | detector | method | seed | peak epoch / epochs | AP clean: peak -> last | drop | "
        "AP noisy: at peak -> last | memorization | CA clean | GTBA clean |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['noise']}-{r['rate']:g} | {r['detector']} | {r['method']} | {r['seed']} | "
            f"{r['peak_epoch']} / {r['epochs']} | {100 * r['ap_clean_peak']:.1f} -> {100 * r['ap_clean_last']:.1f} | "
            f"{100 * r['drop']:.0f} % | {100 * r['ap_noisy_at_peak']:.1f} -> {100 * r['ap_noisy_last']:.1f} | "
            f"{'yes' if r['memorized'] else 'no'} | {task_cell(r, 'ca')} | {task_cell(r, 'gtba')} |"
        )
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.memorization",
        description="Per noisy cell: the clean-label train AP's peak, its drop and the noisy-label fit.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--cells", required=True, help="the grid's cells.json (rule cell_manifest)")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--markdown", default=None, help="also write a Markdown table here")
    p.add_argument("--min-drop", type=float, default=DEFAULT_MIN_DROP, help="relative drop from the peak that counts")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.min_drop < 1:
        raise InputError(f"--min-drop must be in (0, 1), got {args.min_drop}")
    check_table_outputs(args)
    skipped: list = []
    rows = build_rows(args.cells, min_drop=args.min_drop, skipped=skipped)
    if skipped:
        print(f"[memorization] warning: {len(skipped)} noisy cells have no probe.csv and are left out "
              f"(e.g. {skipped[0]})", file=sys.stderr)  # fmt: skip
    write_tables(args, to_csv(rows), to_markdown(rows, min_drop=args.min_drop))
    base = [r for r in rows if r["method"] == "baseline"]
    print(f"[memorization] {sum(r['memorized'] for r in base)} of {len(base)} noisy baselines; per task: "
          f"{task_summary(base)} -> {args.out}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
