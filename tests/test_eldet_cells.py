"""ELDET as grid cells: a 2-epoch smoke cell per detector family (fast tier) and the slow comparison
with the baseline under 40 % combined noise on the embedded default (``-m slow``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import build_data, make_grid

from benchmarks.errors import run_cli
from benchmarks.grids import grid as G

# 2 epochs, both parts forced on from epoch 2 (cutoff and fallback at epoch 1): the smoke cell checks
# that the distillation losses are computed, finite and non-zero once switched on, and absent before.
SMOKE_PARAMS = {"fallback_ca": 0.5, "fallback_gtba": 0.5, "cutoff_ca": 0.5, "cutoff_gtba": 0.5}


def _train(grid_path: Path, cell: str, *extra: str) -> int:
    from benchmarks.train import main

    return run_cli(main, ["--grid", str(grid_path), "--cell", cell, "--threads", "1", *extra])


def _scalars(cdir: Path) -> list[dict]:
    files = sorted((cdir / "checkpoint").glob("*/vis_data/scalars.json"))
    assert files, "no mmengine scalars log"
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def eldet_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eldetgrid")
    path, _ = make_grid(
        tmp, detectors=["retinanet", "faster_rcnn"], schedule={"epochs": 2}, methods={"eldet": {"params": SMOKE_PARAMS}}
    )
    build_data(path)
    return path


@pytest.mark.parametrize("detector", ["retinanet", "faster_rcnn"])
def test_eldet_smoke_cell(eldet_grid, detector):
    cell = f"synth/combined-0.4/{detector}/eldet/seed0"
    assert _train(eldet_grid, cell, "--fresh") == 0
    grid = G.load_grid(eldet_grid)
    cdir = G.cell_dir(grid, G.parse_cell_id(grid, cell))
    for name in ("metrics.json", "cost.json", "probe.csv", "method_state.json"):
        assert (cdir / name).is_file(), name
    state = json.loads((cdir / "method_state.json").read_text())
    for task in ("cls", "loc"):
        assert state["tasks"][task]["switch_on_epoch"] == 2, state["tasks"][task]
    rows = _scalars(cdir)
    kd = [r for r in rows if "loss_cls_kd" in r or "loss_loc_kd" in r]
    assert kd, "no distillation loss logged"
    assert all(r["epoch"] == 2 for r in kd)  # off in epoch 1, on in epoch 2
    for r in kd:
        for key in ("loss_cls_kd", "loss_loc_kd"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
    cfg_text = (cdir / "config.py").read_text()
    assert "ELDETHook" in cfg_text and "ELDET" in cfg_text


def _saturating(epoch: int, c: float, a: float = 0.6) -> float:
    return a * (1.0 - math.exp(-epoch / c))


def test_eldet_cell_switches_each_part_on_at_a_detected_transition_from_its_own_teacher(tmp_path, monkeypatch):
    """A 6-epoch cell with the default parameters where the probe's CA and GTBA values follow curves
    that bend at epochs 4 and 5 (the probe's scoring is stubbed; the probe hook, the fit and ELDET's
    hook decide). Each part switches on after its *detected* transition (not the fallback), each from
    its own teacher frozen with the state of its own transition epoch."""
    import torch

    import analysis.probes as probes

    real = probes.probe_metrics
    calls = []

    def curve_metrics(gt_noisy, gt_clean, dets, tau=0.5, **kw):
        out = real(gt_noisy, gt_clean, dets, tau, **kw)
        calls.append(len(calls) + 1)
        e = calls[-1]
        # b = 1: transition = first epoch t > 1 + c ln 10: c = 1 -> 4 (CA), c = 1.5 -> 5 (GTBA)
        out.update(CA=_saturating(e, 1.0), GTBA=_saturating(e, 1.5))
        return out

    monkeypatch.setattr(probes, "probe_metrics", curve_metrics)
    path, _ = make_grid(tmp_path, schedule={"epochs": 6}, methods={"eldet": {}})
    build_data(path)
    cell = "synth/combined-0.4/retinanet/eldet/seed0"
    assert _train(path, cell) == 0
    grid = G.load_grid(path)
    cdir = G.cell_dir(grid, G.parse_cell_id(grid, cell))
    tasks = json.loads((cdir / "method_state.json").read_text())["tasks"]
    assert tasks["loc"]["source"] == "detected" and tasks["cls"]["source"] == "detected", tasks
    assert (tasks["loc"]["transition_epoch"], tasks["loc"]["switch_on_epoch"]) == (4, 5)
    assert (tasks["cls"]["transition_epoch"], tasks["cls"]["switch_on_epoch"]) == (5, 6)
    assert (tasks["loc"]["teacher_index"], tasks["loc"]["teacher_epoch"]) == (0, 4)
    assert (tasks["cls"]["teacher_index"], tasks["cls"]["teacher_epoch"]) == (1, 5)
    rows = _scalars(cdir)
    assert {r["epoch"] for r in rows if "loss_loc_kd" in r} == {5, 6}
    assert {r["epoch"] for r in rows if "loss_cls_kd" in r} == {6}
    # two frozen teachers that differ: the cls teacher followed the student one epoch longer
    ckpt = sorted((cdir / "checkpoint").glob("epoch_6.pth")) or sorted((cdir / "checkpoint").glob("*.pth"))
    sd = torch.load(ckpt[-1], map_location="cpu", weights_only=False)["state_dict"]
    assert sd["eldet_frozen"].tolist() == [True, True] and sd["eldet_on"].tolist() == [True, True]
    t0 = [v for k, v in sd.items() if k.startswith("eldet_teachers.0.") and v.is_floating_point()]
    t1 = [v for k, v in sd.items() if k.startswith("eldet_teachers.1.") and v.is_floating_point()]
    assert any(not torch.equal(a, b) for a, b in zip(t0, t1))
