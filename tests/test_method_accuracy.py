"""Accuracy tier: every method's embedded-default result stays within its metafile's tolerance.

Slow: it asks Snakemake for the default's gains table (``bash envs/run snakemake --cores 2
results/default/tables/gains.csv``), which trains every cell of the default that is not already up
to date (~50 min on 2 cores from nothing; seconds after the README's main job). Then, per method
package, ``metafile.yml``'s ``default.results`` are compared with the table
(``analysis.method_metafile.check_default``). Replaces the old single ELDET-beats-baseline check,
which asserted an outcome rather than the recorded result. The recorded numbers hold on the kind
of processor that recorded them (``default.host``); elsewhere a failure says so.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.method_metafile import check_default, load_metafile
from benchmarks.methods import method_names
from benchmarks.training.host_info import describe, host_info, same_kernels

ROOT = Path(__file__).resolve().parents[1]
GAINS = ROOT / "results" / "default" / "tables" / "gains.csv"


@pytest.fixture(scope="module")
def default_gains() -> list[dict]:
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake), "--cores", "2", str(GAINS.relative_to(ROOT))]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with GAINS.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
def test_default_result_within_the_metafile_tolerance(method, default_gains):
    meta = load_metafile(ROOT / "benchmarks" / "methods" / method / "metafile.yml")
    checks = check_default(meta, default_gains)
    bad = [c.describe() for c in checks if not c.ok]
    recorded = meta["default"].get("host")
    if bad and recorded and not same_kernels(recorded, host_info()):
        bad.append(
            f"(recorded on {describe(recorded)}; this machine is {describe(host_info())}: another processor's "
            "kernels move results beyond the seed noise; re-record with python -m analysis.metafile_record)"
        )
    assert not bad, "\n".join(bad)
