"""Mixed precision (grid schedule.amp) and the CUDA smoke's pieces that run without a GPU: the
config swap, the CPU refusal, the unchanged spec hash when off, the smoke grid's plan and its
per-cell throughput report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S

REPO = Path(__file__).resolve().parents[1]
CELL = "synth/combined-0.4/retinanet/baseline/seed0"


def _grid(tiny_grid: Path, **schedule) -> dict:
    raw = yaml.safe_load(tiny_grid.read_text())
    raw["schedule"] = {**raw.get("schedule", {}), **schedule}
    return G.validate_grid(raw)


def test_amp_swaps_in_mmengines_amp_wrapper_on_cuda_and_is_refused_on_cpu(tiny_grid):
    from benchmarks.training.config_builder import build_cell_config

    grid = _grid(tiny_grid, amp=True)
    cell = G.parse_cell_id(grid, CELL)
    cfg = build_cell_config(grid, cell, device="cuda")
    assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.loss_scale == "dynamic"
    with pytest.raises(InputError, match="schedule amp is on, but this job runs on cpu"):
        build_cell_config(grid, cell, device="cpu")
    plain = build_cell_config(_grid(tiny_grid), cell, device="cuda")
    assert plain.optim_wrapper.type == "OptimWrapper"


def test_amp_off_keeps_the_spec_hash_and_on_changes_it(tiny_grid):
    plain, off, on = _grid(tiny_grid), _grid(tiny_grid, amp=False), _grid(tiny_grid, amp=True)
    cell = G.parse_cell_id(plain, CELL)
    assert "amp" not in S.cell_spec(off, cell)["schedule"]
    assert S.spec_hash(S.cell_spec(off, cell)) == S.spec_hash(S.cell_spec(plain, cell))
    assert S.cell_spec(on, cell)["schedule"]["amp"] is True
    assert S.spec_hash(S.cell_spec(on, cell)) != S.spec_hash(S.cell_spec(plain, cell))


def test_per_detector_amp_overrides_the_grid_value(tiny_grid):
    grid = _grid(tiny_grid, amp=False, per_detector={"retinanet": {"amp": True}})
    assert G.schedule_for(grid, "retinanet")["amp"] is True


def test_cuda_smoke_grid_plans_one_cell_per_family_and_the_gpu_methods():
    grid = G.load_grid(REPO / "benchmarks/grids/cuda_smoke.yaml")
    cells = {(c.detector, c.method) for c in G.expand_cells(grid)}
    assert {("retinanet", "baseline"), ("faster_rcnn", "baseline"), ("deformable_detr", "baseline")} <= cells
    assert {("retinanet", "eldet"), ("retinanet", "bckd"), ("deformable_detr", "od_detr")} <= cells
    assert G.schedule_for(grid, "deformable_detr")["amp"] and not G.schedule_for(grid, "retinanet")["amp"]


def test_smoke_report_rates_from_cost_json(tmp_path):
    from analysis.cell_files import write_manifest
    from benchmarks.speed.cuda_smoke_report import cell_rates, format_rows

    dirs = []
    for cell, amp, cost in [
        (CELL, False, {"train_seconds": 12.0, "probe_seconds": 2.0, "iters": 50, "total_batch": 4, "peak_gpu_mb": 2048.0}),
        ("synth/clean-0/retinanet/baseline/seed0", True, {"train_seconds": 5.0, "probe_seconds": 0.0, "iters": 10, "total_batch": 8, "peak_gpu_mb": None}),
    ]:  # fmt: skip
        d = tmp_path / "runs" / cell
        d.mkdir(parents=True)
        (d / "cost.json").write_text(json.dumps({"device": "cuda", **cost}))
        spec = {"schedule": {"amp": True} if amp else {}}
        (d / "spec.json").write_text(json.dumps({"cell": cell, "spec_hash": "x", "spec": spec, "grid": {}}))
        (d / "metrics.json").write_text("{}")
        dirs.append(d)
    write_manifest(tmp_path / "cells.json", [d / "metrics.json" for d in dirs], grid={"name": "s", "datasets": {}})
    rows = {r["cell"]: r for r in cell_rates(tmp_path)}
    assert rows[CELL]["images_per_s"] == pytest.approx(50 * 4 / 10.0)  # probes taken out of the loop time
    assert rows["synth/clean-0/retinanet/baseline/seed0"]["images_per_s"] == pytest.approx(16.0)
    text = format_rows(list(rows.values()))
    assert text.splitlines()[-1] == "total training seconds: 17.0" and "2048" in text
    assert not rows[CELL]["amp"] and rows["synth/clean-0/retinanet/baseline/seed0"]["amp"]
