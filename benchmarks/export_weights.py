"""Export a finished cell's final model weights for the students that distil from it.

    python -m benchmarks.export_weights --cell-dir results/<grid>/runs/<cell>

Reads the cell's last mmengine checkpoint (``checkpoint/last_checkpoint`` names it) and writes
``runs/<cell>/weights.pth`` atomically: ``{"state_dict": ..., "meta": {cell, cell_hash, epoch, iter,
source}}``,
without optimizer state, so a teacher is small and loads with ``torch.load(weights_only=True)``.
The Snakemake edge teacher -> student is this file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.errors import InputError, run_cli


def last_checkpoint(cell_dir: Path) -> Path:
    """The checkpoint mmengine recorded as the cell's last one."""
    marker = cell_dir / "checkpoint" / "last_checkpoint"
    if not marker.is_file():
        raise InputError("cell has no checkpoint (train it first)", path=marker)
    path = Path(marker.read_text().strip())
    if not path.is_absolute():
        path = marker.parent / path
    if not path.is_file():
        raise InputError(f"last_checkpoint names a missing file: {path}", path=marker)
    return path


def export(cell_dir: Path, out: Path, cell_id: str, cell_hash: str | None = None) -> dict:
    import torch

    from benchmarks.atomic import atomic_path

    src = last_checkpoint(cell_dir)
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    if "state_dict" not in ckpt:
        raise InputError("checkpoint has no state_dict", path=src)
    meta = ckpt.get("meta") or {}
    record = {
        "state_dict": ckpt["state_dict"],
        "meta": {
            "cell": cell_id,
            "cell_hash": cell_hash,
            "epoch": meta.get("epoch"),
            "iter": meta.get("iter"),
            "source": str(src),
        },
    }
    with atomic_path(out) as tmp:
        torch.save(record, tmp)
    return record["meta"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.export_weights", description=__doc__.split("\n")[0])
    p.add_argument("--cell-dir", required=True, type=Path, help="the finished (teacher) cell's directory")
    args = p.parse_args(argv)
    from benchmarks.data.coco import read_json

    metrics_file = args.cell_dir / "metrics.json"
    if not metrics_file.is_file():
        raise InputError("cell has not finished (no metrics.json)", path=args.cell_dir)
    record = read_json(metrics_file)
    out = args.cell_dir / "weights.pth"
    meta = export(args.cell_dir, out, record["cell"], record.get("cell_hash"))
    print(f"[export] {record['cell']} (cell hash {meta['cell_hash']}): epoch {meta['epoch']} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
