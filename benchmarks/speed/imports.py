"""Start-up cost of one job's imports, with and without a bytecode cache (``envs/run`` keeps one).

    python -m benchmarks.speed.imports [--repeats R]

Every job of ``all`` is a fresh interpreter that imports its stack first: a training cell torch,
mmengine, mmcv's ops and mmdet's models and datasets; an analysis or report job pandas, scipy,
matplotlib, seaborn and nbformat. Where no ``.pyc`` exists for a module (PYTHONDONTWRITEBYTECODE set,
an installer that does not compile, as uv by default) each of them compiles every module from
source again. This script times both import sets in fresh interpreters

* without a cache: an empty temporary ``PYTHONPYCACHEPREFIX`` and ``PYTHONDONTWRITEBYTECODE=1``,
  so every module is compiled and nothing is written;
* with the cache ``envs/run`` sets up (``PYTHONPYCACHEPREFIX`` in the venv), warmed by one import
  first,

``--repeats`` times each, and prints the median CPU seconds (user + system) per set. The last line
is the ratio of the training set's CPU time without / with the cache. Timings mean something only
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMPORT_SETS = {
    "training job": "import benchmarks.train, torch, mmengine.runner, mmcv.ops, mmdet.models, mmdet.datasets",
    "analysis job": "import pandas, scipy.stats, matplotlib.pyplot, seaborn, nbformat",
}


def default_cache() -> Path:
    """The cache ``envs/run`` uses: ``$PYTHONPYCACHEPREFIX`` when set, else ``<venv>/pycache``."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    return Path(prefix) if prefix else Path(sys.prefix) / "pycache"


def time_import(statement: str, env: dict) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a fresh interpreter running ``statement``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", statement], cwd=REPO, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="fresh interpreters per set and mode (default 3)")
    p.add_argument("--cache", type=Path, default=None, help="bytecode cache to time (default: envs/run's)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    cache = args.cache or default_cache()
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    base["PYTHONPATH"] = str(REPO) + (os.pathsep + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
    cached = dict(base, PYTHONPYCACHEPREFIX=str(cache))
    medians: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as empty:
        uncached = dict(base, PYTHONPYCACHEPREFIX=empty, PYTHONDONTWRITEBYTECODE="1")
        for name, statement in IMPORT_SETS.items():
            time_import(statement, cached)  # warm the cache (and the page cache) once
            for mode, env in (("without cache", uncached), ("with cache", cached)):
                runs = [time_import(statement, env) for _ in range(args.repeats)]
                cpu = statistics.median(r[0] for r in runs)
                wall = statistics.median(r[1] for r in runs)
                medians[(name, mode)] = cpu
                print(f"{name:13s} {mode:14s} CPU {cpu:6.2f} s  wall {wall:6.2f} s  (median of {args.repeats})")
    print(f"bytecode cache: {cache}")
    ratio = medians[("training job", "without cache")] / medians[("training job", "with cache")]
    print(f"training job imports, CPU without / with the bytecode cache: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
