"""The pretraining stage: grid rules, the stage's own grid, spec hashes and a cell that starts from it."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import REPO, build_data, make_grid

from benchmarks.errors import InputError, run_cli
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S

SOURCE = {"dataset": "src", "synthetic": {"seed": 7, "n_train": 16, "n_val": 4, "classes": 10}}


def _grid(tmp_path, **over):
    over = {"pretrained_backbone": "pretraining", "pretraining": copy.deepcopy(SOURCE), **over}
    path, raw = make_grid(tmp_path, **over)
    return path, G.validate_grid(raw)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"pretraining": None}, "no `pretraining` section"),
        ({"pretrained_backbone": "none"}, "set it to 'pretraining'"),
        ({"pretraining": {**SOURCE, "dataset": "synth"}}, "also a dataset of the grid"),
        ({"pretraining": {**SOURCE, "synthetic": {"seed": 0}}}, "also the seed of dataset 'synth'"),
        ({"pretraining": {**SOURCE, "shared": {"fcos": "retinanet"}}}, "both must be detectors of the grid"),
        ({"detectors": ["retinanet", "fcos", "gfl"], "pretraining": {**SOURCE, "shared": {"gfl": "fcos", "fcos": "retinanet"}}},
         "itself mapped"),
        ({"pretraining": {**SOURCE, "schedule": {"per_detector": {"dino": {"epochs": 2}}}}}, "not in the grid"),
    ],
)  # fmt: skip
def test_bad_pretraining_sections_are_refused(tmp_path, over, message):
    _, raw = make_grid(tmp_path, pretrained_backbone="pretraining", pretraining=copy.deepcopy(SOURCE))
    raw.update(over)
    with pytest.raises(InputError, match=message):
        G.validate_grid(raw)


def test_the_stage_is_a_grid_of_its_own_with_shared_runs(tmp_path):
    _, grid = _grid(
        tmp_path,
        detectors=["retinanet", "fcos", "gfl"],
        pretraining={**SOURCE, "shared": {"gfl": "fcos"}, "schedule": {"epochs": 3}},
    )
    pre = G.pretraining_grid(grid)
    assert pre["name"] == grid["name"] and pre["results_dir"] == grid["results_dir"]
    assert list(pre["datasets"]) == ["src"] and pre["datasets"]["src"]["synthetic"]["classes"] == 10
    assert [c.id for c in G.expand_cells(pre)] == [
        "src/clean-0/retinanet/baseline/seed0",
        "src/clean-0/fcos/baseline/seed0",
    ]
    assert pre["pretrained_backbone"] == "none" and pre["probe"]["enabled"] is False
    assert pre["schedule"]["epochs"] == 3
    gfl = next(c for c in G.expand_cells(grid) if c.detector == "gfl")
    assert G.pretraining_cell(grid, gfl).id == "src/clean-0/fcos/baseline/seed0"
    # same results tree: the stage's weights are where the cells' rule inputs point
    assert G.weights_file(grid, G.pretraining_cell(grid, gfl)).is_relative_to(G.results_root(grid) / "runs" / "src")


def test_editing_the_stage_changes_every_cell_spec_hash_of_its_detector(tmp_path):
    _, grid = _grid(tmp_path)
    cell = G.expand_cells(grid)[0]
    before = S.spec_hash(S.cell_spec(grid, cell))
    spec = S.cell_spec(grid, cell)["pretrained_backbone"]
    pre = G.pretraining_cell(grid, cell)
    assert spec == {"value": "pretraining", "cell": pre.id,
                    "spec_hash": S.spec_hash(S.cell_spec(G.pretraining_grid(grid), pre))}  # fmt: skip
    edited = copy.deepcopy(grid)
    edited["pretraining"]["schedule"]["epochs"] = 5
    assert S.spec_hash(S.cell_spec(edited, cell)) != before
    # the cell's own grid (what its job reads) gives the same spec
    sub = G.validate_grid(S.cell_grid(grid, cell))
    assert S.spec_hash(S.cell_spec(sub, cell)) == before


def test_entry_seeds_by_cell_with_a_default(tmp_path):
    _, raw = make_grid(tmp_path, seeds=[0, 1, 2], detectors=["retinanet", "fcos"])
    raw["methods"] = {"baseline": {"seeds": {"default": [0], "retinanet/combined-0.4": [0, 1, 2]}}}
    grid = G.validate_grid(raw)
    got = sorted((c.detector, c.setting, c.seed) for c in G.expand_cells(grid))
    assert got == [("fcos", "clean-0", 0), ("fcos", "combined-0.4", 0), ("retinanet", "clean-0", 0),
                   ("retinanet", "combined-0.4", 0), ("retinanet", "combined-0.4", 1),
                   ("retinanet", "combined-0.4", 2)]  # fmt: skip
    raw["methods"]["baseline"]["seeds"] = {"dino/clean-0": [1]}
    with pytest.raises(InputError, match="seeds names 'dino/clean-0'"):
        G.validate_grid(raw)


def _train_spec(grid: dict, cell: G.Cell) -> int:
    from benchmarks.train import main

    path = G.cell_dir(grid, cell) / "spec.json"
    S.write_spec_file(grid, cell, path)
    return run_cli(main, ["--spec", str(path), "--threads", "2"])


def test_a_cell_starts_from_its_pretraining_run(tmp_path, capfd):
    """A pretraining run is trained and exported; a cell trained with a vanishing lr then ends with the
    run's weights wherever name and shape match, and its class layer (10 -> 5 classes) fresh."""
    from benchmarks.export_weights import export

    path, grid = _grid(tmp_path, noise=[{"type": "clean", "rate": 0.0}], schedule={"epochs": 1, "lr": 1e-12})
    pre_grid = G.pretraining_grid(grid)
    build_data(path, noisy=None)
    for g in (pre_grid,):
        for name, ds in g["datasets"].items():
            import subprocess
            import sys

            s = ds["synthetic"]
            subprocess.run(
                [sys.executable, "-m", "benchmarks.data.synthetic", "--out", str(G.dataset_dir(g, name)),
                 "--seed", str(s["seed"]), "--n-train", str(s["n_train"]), "--n-val", str(s["n_val"]),
                 "--size", str(s["size"]), "--classes", str(s["classes"])],
                check=True, cwd=REPO,
            )  # fmt: skip
    cell = G.expand_cells(grid)[0]
    pre = G.pretraining_cell(grid, cell)
    assert _train_spec(pre_grid, pre) == 0
    export(G.cell_dir(pre_grid, pre), G.weights_file(pre_grid, pre), pre.id)
    assert _train_spec(grid, cell) == 0
    assert "initialised from" in capfd.readouterr().err
    source = torch.load(G.weights_file(pre_grid, pre), weights_only=False)["state_dict"]
    ckpt = G.cell_dir(grid, cell) / "checkpoint"
    final = torch.load(ckpt / (ckpt / "last_checkpoint").read_text().strip(), weights_only=False)["state_dict"]
    for key in ("backbone.conv1.weight", "neck.fpn_convs.0.conv.weight", "bbox_head.reg_convs.0.conv.weight"):
        assert torch.allclose(final[key], source[key], atol=1e-6), key
    assert source["bbox_head.retina_cls.weight"].shape[0] != final["bbox_head.retina_cls.weight"].shape[0]
    # the recorded identity names the run it started from
    import json

    metrics = json.loads((G.cell_dir(grid, cell) / "metrics.json").read_text())
    pre_metrics = json.loads((G.cell_dir(pre_grid, pre) / "metrics.json").read_text())
    assert metrics["identity"]["data"]["pretraining_cell_hash"] == pre_metrics["cell_hash"]
