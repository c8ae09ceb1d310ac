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
    """Start the cell and SIGKILL it as soon as mmengine has recorded epoch 1's checkpoint (its
    ``last_checkpoint`` marker is written after the file): before the epoch's other hooks can write
    anything after it. Whatever a resume needs must be inside the checkpoint by then."""
    proc = subprocess.Popen(_cmd(grid_path), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = cdir / "checkpoint" / "last_checkpoint"
    deadline = time.time() + 600
    while not (marker.is_file() and marker.read_text().strip().endswith("epoch_1.pth")):
        assert proc.poll() is None, "training ended before the first checkpoint"
        assert time.time() < deadline, "no checkpoint after 600 s"
        time.sleep(0.01)
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
    assert [int(r.split(",")[0]) for r in (cdir / "probe.csv").read_text().splitlines()[1:]] == [1, 2, 3]
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


class _Runner:
    epoch = 0


def test_cost_totals_travel_in_the_checkpoint_and_a_resume_counts_once(tmp_path, monkeypatch):
    from benchmarks.training import hooks

    clock = iter([10.0, 12.5, 16.0, 100.0, 103.0])  # start, epoch-1 save, epoch-2 save, resumed start, save
    monkeypatch.setattr(hooks.time, "perf_counter", lambda: next(clock))
    out = tmp_path / "cost_partial.json"
    first = hooks.CostMeterHook(str(out))
    first.before_train(_Runner())
    ckpt1, ckpt2 = {}, {}
    first.before_save_checkpoint(_Runner(), ckpt1)
    runner = _Runner()
    runner.epoch = 1
    first.before_save_checkpoint(runner, ckpt2)
    assert ckpt1[hooks.COST_STATE_KEY] == {"train_seconds": 2.5, "epochs_done": 1, "resumes": 0}
    assert ckpt2[hooks.COST_STATE_KEY] == {"train_seconds": 6.0, "epochs_done": 2, "resumes": 0}
    assert json.loads(out.read_text()) == ckpt2[hooks.COST_STATE_KEY]

    # killed after epoch 1's checkpoint was written but before the side file caught up: the resumed
    # process takes its totals from the checkpoint it resumes, not from the file
    out.write_text("{}")
    resumed = hooks.CostMeterHook(str(out))
    resumed.after_load_checkpoint(_Runner(), ckpt1)
    resumed.before_train(_Runner())
    ckpt = {}
    resumed.before_save_checkpoint(runner, ckpt)
    assert ckpt[hooks.COST_STATE_KEY] == {"train_seconds": 5.5, "epochs_done": 2, "resumes": 1}


def test_weights_without_cost_totals_do_not_count_as_a_resume(tmp_path):
    from benchmarks.training import hooks

    hook = hooks.CostMeterHook(str(tmp_path / "c.json"))
    hook.after_load_checkpoint(_Runner(), {"state_dict": {}, "meta": {"cell": "pretrain"}})  # load_from
    assert hook.resumes == 0 and hook.seconds == 0.0 and hook.epochs_done == 0
