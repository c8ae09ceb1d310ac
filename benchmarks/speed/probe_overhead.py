"""Cost of the per-epoch train-set probes: cell time with probes / without (target <= 1.10x).

    python -m benchmarks.speed.probe_overhead [--detector retinanet] [--epochs E] [--n-train N] [--size S] [--subset K]

The defaults are the embedded default grid's (``benchmarks/grids/default.yaml``: its ``synth`` set's
training images and size, its schedule's epochs, its probe subset), read from the file.

Builds a synthetic set like the embedded default's in a temporary directory, trains the same
tiny cell twice in this run (probes on, probes off; same seed, same data) and prints both training
times (cost.json's train_seconds, which include the probes) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.speed.regime import default_regime

REPO = Path(__file__).resolve().parents[2]
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
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid = {
            "name": "probebench",
            "results_dir": str(tmp / "results"),
            "datasets": {
                "synth": {"source": "synthetic", "synthetic": {"n_train": args.n_train, "n_val": 16, "size": args.size}}
            },
            "detectors": [args.detector],
            "schedule": {"epochs": args.epochs},
            "probe": {"subset": args.subset},
        }
        grid_file = tmp / "grid.yaml"
        grid_file.write_text(yaml.safe_dump(grid))
        data = tmp / "results" / "probebench" / "data" / "synth" / "clean"
        s = {"seed": 0, "n_train": args.n_train, "n_val": 16}
        subprocess.run(
            [sys.executable, "-m", "benchmarks.data.synthetic", "--out", str(data), "--seed", "0",
             "--n-train", str(s["n_train"]), "--n-val", str(s["n_val"]), "--size", str(args.size), "--classes", "5"],
            check=True, cwd=REPO,
        )  # fmt: skip
        cell = f"synth/clean-0/{args.detector}/baseline/seed0"
        times = {}
        for label, extra in (("with probes", []), ("without probes", ["--no-probes"])):
            subprocess.run(
                [sys.executable, "-m", "benchmarks.train", "--grid", str(grid_file), "--cell", cell, "--fresh", *extra],
                check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            cost = json.loads((tmp / "results" / "probebench" / "runs" / cell / "cost.json").read_text())
            times[label] = (cost["train_seconds"], cost["probe_seconds"])
    (w, probe_s), (wo, _) = times["with probes"], times["without probes"]
    ratio = w / wo
    print(f"tiny {args.detector}, {args.n_train} train images, {args.epochs} epochs, {args.subset} probed images/epoch")
    print(f"  with probes:    {w:8.1f} s (of which probes {probe_s:.1f} s)")
    print(f"  without probes: {wo:8.1f} s")
    print(f"  ratio: {ratio:.3f}x (target <= {TARGET}x: {'OK' if ratio <= TARGET else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
