"""Cost of the per-epoch train-set probes: cell time with probes / without (target <= 1.10x).

    python -m benchmarks.speed.probe_overhead [--detector retinanet] [--epochs E] [--n-train N]
        [--size S] [--subset K] [--probe-batch B] [--threads T] [--repeats R]

The defaults are the embedded default grid's (``benchmarks/grids/default.yaml``: its ``synth`` set's
training images and size, its schedule's epochs, its probe subset and batch, its threads per
cell), read from the file.

Builds a synthetic set like the embedded default's in a temporary directory and trains the same
tiny cell with probes and with ``--no-probes`` side by side, one core each, as ``all`` runs its
cells (``benchmarks.speed.paired_cells``: a drifting machine slows both alike), ``--repeats``
times. Prints both training times (cost.json's train_seconds, which include the probes) and the
median of the per-repeat ratios, last.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.speed.paired_cells import (
    Side,
    build_synthetic_data,
    format_times,
    median_ratio,
    ratios,
    run_side_by_side,
)
from benchmarks.speed.regime import default_regime

TARGET = 1.10


def main(argv=None) -> int:
    d = default_regime()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detector", default="retinanet")
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"epochs (default grid: {d['epochs']})")
    p.add_argument("--n-train", type=int, default=d["n_train"], help=f"training images (default grid: {d['n_train']})")
    p.add_argument("--size", type=int, default=d["size"], help=f"image side (default grid: {d['size']})")
    p.add_argument(
        "--subset", type=int, default=d["subset"], help=f"probed training images (default grid: {d['subset']})"
    )
    p.add_argument("--threads", type=int, default=d["threads"], help=f"threads per cell (default grid: {d['threads']})")
    p.add_argument(
        "--probe-batch",
        type=int,
        default=d["probe_batch_size"],
        help=f"images per probe inference batch (default grid: {d['probe_batch_size']}; 0 = the val loader's)",
    )
    p.add_argument("--repeats", type=int, default=2, help="side-by-side pairs to run (default 2)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid = {
            "name": "probebench",
            "datasets": {
                "synth": {"source": "synthetic", "synthetic": {"n_train": args.n_train, "n_val": 16, "size": args.size}}
            },
            "detectors": [args.detector],
            "schedule": {"epochs": args.epochs},
            "probe": {"subset": args.subset, "batch_size": args.probe_batch or None},
        }
        data = tmp / "data"
        build_synthetic_data(data, n_train=args.n_train, size=args.size)
        cell = f"synth/clean-0/{args.detector}/baseline/seed0"
        sides = (Side("with probes", cell), Side("without probes", cell, ("--no-probes",)))
        res = run_side_by_side(tmp, grid, data, sides, repeats=args.repeats, threads=args.threads)
    r = ratios(res, "with probes", "without probes")
    ratio = median_ratio(r)
    print(
        f"tiny {args.detector}, {args.n_train} train images, {args.epochs} epochs, {args.subset} probed images/epoch "
        f"(batch {args.probe_batch or 'of the val loader'}), "
        f"{args.threads} thread(s) per cell, {args.repeats} side-by-side pair(s)"
    )
    print(f"  with probes:    {format_times(res['with probes'].train_seconds)} "
          f"(of which probes {format_times(res['with probes'].probe_seconds)})")  # fmt: skip
    print(f"  without probes: {format_times(res['without probes'].train_seconds)}")
    print(f"  per-pair ratios: {', '.join(f'{x:.3f}' for x in r)}")
    print(f"  ratio: {ratio:.3f}x (target <= {TARGET}x: {'OK' if ratio <= TARGET else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
