"""Reruns a user can trust: a finished cell retrains when rerun, a killed one resumes bit-identically,
a cell whose grid entry changed starts fresh and says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import REPO, build_data, make_grid

from benchmarks.grids import grid as G

CELL = "synth/clean-0/retinanet/baseline/seed0"
COMPARED = ("probe.csv", "metrics.json", "dets_val.json")


def _cmd(grid_path: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.train", "--grid", str(grid_path), "--cell", CELL]


def _cell_dir(grid_path: Path) -> Path:
    grid = G.load_grid(grid_path)
    return G.cell_dir(grid, G.parse_cell_id(grid, CELL))


def _run(grid_path: Path) -> str:
    out = subprocess.run(_cmd(grid_path), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stderr


def _kill_after_first_epoch(grid_path: Path, cdir: Path) -> None:
    """Start the cell and SIGKILL it once epoch 1 is fully recorded: mmengine's checkpoint and, written
    by the cost hook right after it (the last hook of the epoch), the cost record."""
    proc = subprocess.Popen(_cmd(grid_path), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = cdir / "checkpoint" / "last_checkpoint"
    cost = cdir / "checkpoint" / "cost_partial.json"

    def recorded() -> bool:
        if not (marker.is_file() and marker.read_text().strip().endswith("epoch_1.pth") and cost.is_file()):
            return False
        try:
            return json.loads(cost.read_text()).get("epochs_done", 0) >= 1
        except ValueError:  # never half-written (atomic), but be safe against a torn read
            return False

    deadline = time.time() + 600
    while not recorded():
        assert proc.poll() is None, "training ended before the first checkpoint"
        assert time.time() < deadline, "no checkpoint after 600 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_rerun_retrains_and_a_killed_run_resumes_bit_identically(tmp_path):
    path, _ = make_grid(tmp_path, schedule={"epochs": 3}, noise=[{"type": "clean", "rate": 0.0}])
    build_data(path, noisy=None)
    cdir = _cell_dir(path)

    _run(path)  # uninterrupted
    reference = {name: (cdir / name).read_bytes() for name in COMPARED}
    first_cost = json.loads((cdir / "cost.json").read_text())
    assert first_cost["resumes"] == 0

    # The same command again on the finished cell (what --forcerun does): it must retrain, not reload
    # the last epoch. Killed after epoch 1 and run once more, it resumes and ends bit-identical.
    _kill_after_first_epoch(path, cdir)
    assert not (cdir / "metrics.json").exists()
    ident = json.loads((cdir / "checkpoint" / "identity.json").read_text())
    assert ident["complete"] is False and ident["cell_hash"] == json.loads(reference["metrics.json"])["cell_hash"]
    log = _run(path)
    assert "resuming: same cell hash" in log, log[-2000:]
    assert "resuming from" in log and "epoch_1.pth" in log
    cost = json.loads((cdir / "cost.json").read_text())
    assert cost["resumes"] == 1 and cost["epochs"] == 3
    for name in COMPARED:
        assert (cdir / name).read_bytes() == reference[name], f"{name} differs after a resume"


def test_a_forced_rerun_of_a_finished_cell_starts_fresh(tmp_path):
    path, _ = make_grid(tmp_path, noise=[{"type": "clean", "rate": 0.0}])
    build_data(path, noisy=None)
    cdir = _cell_dir(path)
    _run(path)
    before = (cdir / "probe.csv").read_bytes()
    log = _run(path)
    assert "starting fresh: the run of cell hash" in log and "had finished: a rerun retrains" in log, log[-2000:]
    assert json.loads((cdir / "cost.json").read_text())["resumes"] == 0
    assert (cdir / "probe.csv").read_bytes() == before  # retrained from scratch: the same run again
    h = json.loads((cdir / "checkpoint" / "identity.json").read_text())["cell_hash"]
    for name in ("config.py", "metrics.json", "cost.json"):  # every output names the run it describes
        assert h in (cdir / name).read_text(), name


def test_an_edited_grid_starts_the_cell_fresh_and_says_why(tmp_path):
    path, grid = make_grid(tmp_path, noise=[{"type": "clean", "rate": 0.0}])
    build_data(path, noisy=None)
    cdir = _cell_dir(path)
    _run(path)
    old = json.loads((cdir / "metrics.json").read_text())
    grid["schedule"] = {"epochs": 2}
    path.write_text(yaml.safe_dump(grid))
    log = _run(path)
    assert "starting fresh: checkpoint is of cell hash" in log and "spec.schedule.epochs: 1 -> 2" in log, log[-2000:]
    new = json.loads((cdir / "metrics.json").read_text())
    assert new["cell_hash"] != old["cell_hash"] and new["identity"]["spec"]["schedule"]["epochs"] == 2
    rows = (cdir / "probe.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert json.loads((cdir / "cost.json").read_text())["resumes"] == 0
    cfg = (cdir / "config.py").read_text()
    assert f"cell_hash='{new['cell_hash']}'" in cfg  # config.py names the run it describes
