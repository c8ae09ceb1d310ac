"""How long Snakemake takes to build the DAG of a 2,000-cell grid (target: under 15 s).

    python -m benchmarks.speed.dag [--cells 2000]

Writes a grid with 2 synthetic datasets x 5 noise settings x 4 detectors x N seeds into a
temporary directory (results go there too, so nothing exists yet and every job is pending) and
times `snakemake -n all` on it, printing the wall time, the number of jobs and the ratio to the
15 s target.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 15.0


def make_grid(out_dir: Path, cells: int) -> Path:
    noise = [
        {"type": "clean", "rate": 0.0},
        {"type": "cls", "rate": 0.2},
        {"type": "loc", "rate": 0.2},
        {"type": "combined", "rate": 0.4},
        {"type": "missing", "rate": 0.3},
    ]
    detectors = ["retinanet", "fcos", "faster_rcnn", "gfl"]
    per_seed = 2 * len(noise) * len(detectors)
    grid = {
        "name": "dagbench",
        "results_dir": str(out_dir / "results"),
        "datasets": {"a": {"source": "synthetic"}, "b": {"source": "synthetic"}},
        "noise": noise,
        "detectors": detectors,
        "seeds": list(range(max(1, cells // per_seed))),
    }
    path = out_dir / "dagbench.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=2000, help="approximate number of training cells")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        grid = make_grid(Path(tmp), args.cells)
        cmd = [sys.executable, "-m", "snakemake", "all", "-n", "--quiet", "rules", "--configfile", str(grid)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
        return 1
    match = re.search(r"^train_cell\s+(\d+)", out.stdout + out.stderr, re.M)
    n_cells = int(match.group(1)) if match else -1
    print(f"snakemake -n all: {n_cells} training cells, DAG built in {seconds:.2f} s")
    print(
        f"ratio to the {TARGET_SECONDS:.0f} s target: {seconds / TARGET_SECONDS:.2f} ({'OK' if seconds < TARGET_SECONDS else 'TOO SLOW'})"
    )
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
