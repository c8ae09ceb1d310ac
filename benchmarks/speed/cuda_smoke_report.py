"""Per-cell throughput and memory of a trained grid, from the cells' ``cost.json`` (the CUDA smoke's
report; also works on CPU runs, where peak GPU memory is absent).

    python -m benchmarks.speed.cuda_smoke_report results/cuda_smoke

images/s = iterations x total batch / training seconds, with the probes' own seconds taken out
(``train_seconds`` includes them), so it is the training loop's rate. The last line is the total
training seconds of all cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.cell_files import cells_of
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli


def cell_rates(results: Path) -> list[dict]:
    """One row per cell of ``results/cells.json``: cell, device, images/s, peak GPU / host MB, AMP."""
    rows = []
    for ref in cells_of(results / "cells.json"):
        cell, cost_file = ref.id, ref.file("cost.json")
        if not cost_file.is_file():
            raise InputError(f"{cost_file}: missing (the cell {cell} has not finished)")
        cost = read_json(cost_file)
        loop = float(cost["train_seconds"]) - float(cost.get("probe_seconds") or 0.0)
        if loop <= 0:
            raise InputError(f"{cost_file}: train_seconds {cost['train_seconds']} leaves no training time")
        spec = read_json(ref.file("spec.json"))["spec"]  # spec.json: {cell, spec_hash, spec, grid}
        rows.append(
            {
                "cell": cell,
                "device": cost.get("device_name") or cost.get("device"),
                "images_per_s": int(cost["iters"]) * int(cost["total_batch"]) / loop,
                "peak_gpu_mb": cost.get("peak_gpu_mb"),
                "peak_host_mb": cost.get("peak_host_mb"),
                "amp": bool(spec.get("schedule", {}).get("amp", False)),
                "train_seconds": float(cost["train_seconds"]),
            }
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'cell':<55} {'img/s':>8} {'peak GPU MB':>12} {'AMP':>4}"]
    for r in rows:
        gpu = "-" if r["peak_gpu_mb"] is None else f"{r['peak_gpu_mb']:.0f}"
        lines.append(f"{r['cell']:<55} {r['images_per_s']:>8.1f} {gpu:>12} {'yes' if r['amp'] else 'no':>4}")
    lines.append(f"total training seconds: {sum(r['train_seconds'] for r in rows):.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", type=Path, help="a grid's results directory (holds cells.json and runs/)")
    args = p.parse_args(argv)
    print(format_rows(cell_rates(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
