"""schedule.warmup_iters: the linear warm-up's length in the trained config and in the spec hash."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S

CELL = "synth/combined-0.4/retinanet/baseline/seed0"


def _grid(tiny_grid, **schedule) -> dict:
    raw = yaml.safe_load(tiny_grid.read_text())
    raw["schedule"] = {**raw.get("schedule", {}), **schedule}
    return G.validate_grid(raw)


def _warmups(cfg) -> list:
    return [s for s in cfg.param_scheduler if s["type"] == "LinearLR" and not s.get("by_epoch", True)]


def test_warmup_length_reaches_the_config_and_zero_removes_it(tiny_grid):
    from benchmarks.training.config_builder import build_cell_config

    cell = G.parse_cell_id(_grid(tiny_grid), CELL)
    default = build_cell_config(_grid(tiny_grid), cell)
    assert [s["end"] for s in _warmups(default)] == [50]  # the tiny config's own warm-up
    short = build_cell_config(_grid(tiny_grid, warmup_iters=3), cell)
    assert [s["end"] for s in _warmups(short)] == [3]
    none = build_cell_config(_grid(tiny_grid, warmup_iters=0), cell)
    assert _warmups(none) == [] and len(none.param_scheduler) == len(default.param_scheduler) - 1


def test_warmup_unset_keeps_the_spec_hash_and_set_changes_it(tiny_grid):
    plain, short = _grid(tiny_grid), _grid(tiny_grid, warmup_iters=3)
    cell = G.parse_cell_id(plain, CELL)
    assert "warmup_iters" not in S.cell_spec(plain, cell)["schedule"]
    assert S.cell_spec(short, cell)["schedule"]["warmup_iters"] == 3
    assert S.spec_hash(S.cell_spec(short, cell)) != S.spec_hash(S.cell_spec(plain, cell))


def test_per_detector_warmup_and_a_negative_one_is_refused(tiny_grid):
    grid = _grid(tiny_grid, per_detector={"retinanet": {"warmup_iters": 7}})
    assert G.schedule_for(grid, "retinanet")["warmup_iters"] == 7
    with pytest.raises(InputError, match="warmup_iters"):
        _grid(tiny_grid, warmup_iters=-1)
