"""Training runs with the start-up objects frozen out of the cyclic collector (gc_policy)."""

from __future__ import annotations

import gc

from conftest import build_data, make_grid

from benchmarks.training.gc_policy import frozen_startup_objects

CELL = "synth/combined-0.4/retinanet/baseline/seed0"


def test_frozen_block_shields_existing_objects_and_releases_them_after():
    keep = [[i] for i in range(10_000)]  # long-lived objects, as a model's are
    before = gc.get_freeze_count()
    with frozen_startup_objects() as frozen:
        assert frozen >= len(keep) and gc.get_freeze_count() >= len(keep)
        gc.collect()
        # a full collection now tracks only what was made inside the block
        assert len(gc.get_objects(generation=2)) < len(keep)
    assert gc.get_freeze_count() == before
    assert len(gc.get_objects(generation=2)) >= len(keep)


def test_the_training_loop_runs_frozen(tmp_path, monkeypatch):
    from mmengine.runner import Runner

    from benchmarks.errors import run_cli
    from benchmarks.train import main

    seen = []
    real_train = Runner.train

    def recording_train(self):
        seen.append(gc.get_freeze_count())
        return real_train(self)

    monkeypatch.setattr(Runner, "train", recording_train)
    grid_path, _ = make_grid(tmp_path, resources={"threads": 1})
    build_data(grid_path)
    assert run_cli(main, ["--grid", str(grid_path), "--cell", CELL]) == 0
    assert len(seen) == 1 and seen[0] > 100_000  # torch, mmdet and the model, at least
    assert gc.get_freeze_count() == 0  # released when the cell ends
