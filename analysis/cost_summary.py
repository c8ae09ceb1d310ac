"""Per-grid compute accounting: every cell's ``cost.json`` in one table, with totals.

    python -m analysis.cost_summary --cells results/default/cells.json --out results/default/tables/compute.csv \\
        --markdown results/default/tables/compute.md

``cost.csv`` has one row per cell (device, processes, GPUs, total batch, lr, train/probe/eval
seconds, resumes, GPU-hours, CPU core-hours); ``cost.md`` adds the grid's totals and a per-detector
breakdown. GPU-hours are the cells' own record (GPUs x (train + eval) seconds, see
``benchmarks/train.py``); CPU core-hours are threads x processes x the same seconds, the figure to
compare with a CPU-only run. Time spent queued, or in attempts that were killed before their last
checkpoint, is not in a cell's record: a cluster's own accounting (``sacct``) is the bill, this
table is what the results cost.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from analysis.cell_files import cells_of
from benchmarks.atomic import write_text
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli

COLUMNS = [
    "cell",
    "detector",
    "device",
    "processes",
    "gpus",
    "total_batch",
    "lr",
    "epochs",
    "train_seconds",
    "probe_seconds",
    "eval_seconds",
    "resumes",
    "gpu_hours",
    "cpu_core_hours",
]


def read_costs(source) -> list[dict]:
    """One row per cell of ``source`` (a cells.json or CellRefs) with a ``cost.json`` (sorted by cell id)."""
    rows = []
    for ref in sorted(cells_of(source), key=lambda r: r.id):
        path = ref.file("cost.json")
        if not path.is_file():
            continue
        c = read_json(path)  # InputError naming the file, line and column
        cell = c.get("cell") or ref.id
        seconds = float(c.get("train_seconds", 0)) + float(c.get("eval_seconds", 0))
        processes = int(c.get("processes", 1))
        gpus = int(c.get("gpus", 0))
        rows.append(
            {
                "cell": cell,
                "detector": cell.split("/")[2] if cell.count("/") >= 4 else "",
                "device": c.get("device", ""),
                "processes": processes,
                "gpus": gpus,
                "total_batch": c.get("total_batch", c.get("batch_size", "")),
                "lr": c.get("lr", ""),
                "epochs": c.get("epochs", ""),
                "train_seconds": round(float(c.get("train_seconds", 0)), 1),
                "probe_seconds": round(float(c.get("probe_seconds", 0)), 1),
                "eval_seconds": round(float(c.get("eval_seconds", 0)), 1),
                "resumes": int(c.get("resumes", 0)),
                "gpu_hours": round(float(c.get("gpu_hours", gpus * seconds / 3600.0)), 4),
                "cpu_core_hours": round(int(c.get("threads", 1)) * processes * seconds / 3600.0, 4),
            }
        )
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_markdown(rows: list[dict]) -> str:
    def totals(sel: list[dict]) -> tuple:
        return (
            len(sel),
            sum(r["gpu_hours"] for r in sel),
            sum(r["cpu_core_hours"] for r in sel),
            sum(r["train_seconds"] + r["eval_seconds"] for r in sel) / 3600.0,
            sum(r["resumes"] for r in sel),
        )

    lines = [
        "| detector | cells | GPU-hours | CPU core-hours | cell wall hours | resumes |",
        "|---|---|---|---|---|---|",
    ]
    for det in sorted({r["detector"] for r in rows}):
        n, gh, ch, wh, res = totals([r for r in rows if r["detector"] == det])
        lines.append(f"| {det} | {n} | {gh:.2f} | {ch:.2f} | {wh:.2f} | {res} |")
    n, gh, ch, wh, res = totals(rows)
    lines.append(f"| **all** | {n} | {gh:.2f} | {ch:.2f} | {wh:.2f} | {res} |")
    return "\n".join(lines) + "\n"


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m analysis.cost_summary", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", required=True, type=Path, help="results/<grid>/cells.json (analysis/cell_files.py)")
    p.add_argument("--out", required=True, type=Path, help="per-cell CSV")
    p.add_argument("--markdown", type=Path, default=None, help="totals per detector and for the grid (Markdown)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    rows = read_costs(args.cells)
    if not rows:
        raise InputError("no cell of the manifest has a cost.json", path=args.cells)
    write_text(args.out, to_csv(rows))
    if args.markdown:
        write_text(args.markdown, to_markdown(rows))
    gh = sum(r["gpu_hours"] for r in rows)
    print(f"[cost] {len(rows)} cells, {gh:.2f} GPU-hours -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
