"""1-epoch smoke cells of DN-DETR and OD-DETR on the tiny Deformable DETR (fast tier, ~1 min each)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import build_data, make_grid

from benchmarks.errors import run_cli
from benchmarks.grids import grid as G
from benchmarks.train import main


@pytest.fixture(scope="module")
def detr_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detrgrid")
    path, _ = make_grid(
        tmp,
        detectors=["deformable_detr"],
        noise=[{"type": "combined", "rate": 0.4}],
        methods={"baseline": {}, "dn_detr": {}, "od_detr": {}},
    )
    build_data(path)
    return path


def _train(grid_path, method: str):
    cell = f"synth/combined-0.4/deformable_detr/{method}/seed0"
    assert run_cli(main, ["--grid", str(grid_path), "--cell", cell, "--fresh", "--threads", "1"]) == 0
    grid = G.load_grid(grid_path)
    return G.cell_dir(grid, G.parse_cell_id(grid, cell))


def _last_scalars(cdir) -> dict:
    files = sorted((cdir / "checkpoint").glob("*/vis_data/scalars.json"))
    lines = [json.loads(x) for x in files[-1].read_text().splitlines() if x.strip()]
    return [r for r in lines if "loss" in r][-1]


def _log_text(cdir) -> str:
    return "\n".join(p.read_text() for p in sorted((cdir / "checkpoint").glob("*/*.log")))


def test_dn_detr_cell_trains_with_denoising_losses(detr_grid):
    cdir = _train(detr_grid, "dn_detr")
    m = json.loads((cdir / "metrics.json").read_text())
    assert m["method"] == "dn_detr" and m["method_params"]["num_groups"] == 5
    scalars = _last_scalars(cdir)
    for key in ("dn_loss_cls", "dn_loss_bbox", "dn_loss_iou", "d0.dn_loss_cls", "loss_cls"):
        assert math.isfinite(scalars[key]) and scalars[key] > 0, key
    assert "matching stability epoch 1" in _log_text(cdir)
    from mmengine.config import Config

    cfg = Config.fromfile(str(cdir / "config.py"))
    assert cfg.model.type == "DNDeformableDETR" and cfg.model.dn_cfg.gamma == 0.2


def test_od_detr_cell_trains_and_updates_its_teacher(detr_grid):
    cdir = _train(detr_grid, "od_detr")
    scalars = _last_scalars(cdir)
    for key in ("loss_cls", "loss_bbox", "loss_iou", "pd_loss_cls", "ag_loss_cls", "d0.ag_loss_bbox"):
        assert math.isfinite(scalars[key]) and scalars[key] > 0, key
    ckpt = torch.load(cdir / "checkpoint" / "epoch_1.pth", map_location="cpu", weights_only=False)
    state = ckpt["state_dict"]
    assert int(state["ema_steps"]) == 3  # 24 images / batch 8, one EMA step per iteration
    # the teacher is an average of the weights along the way, not the final student
    name = "bbox_head.cls_branches.0.weight"
    assert not torch.equal(state[name], state["ema_teacher." + name])
    assert "matching stability epoch 1" in _log_text(cdir)
