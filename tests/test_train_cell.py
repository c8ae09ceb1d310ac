"""One training cell end to end on CPU: outputs, determinism, resume after a kill, divergence."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, build_data, make_grid

from benchmarks.errors import run_cli
from benchmarks.grids import grid as G

CELL = "synth/combined-0.4/retinanet/baseline/seed0"
OUTPUTS = ("config.py", "metrics.json", "probe.csv", "dets_val.json", "cost.json")


def _train(grid_path: Path, cell: str = CELL, *extra: str) -> int:
    from benchmarks.train import main

    return run_cli(main, ["--grid", str(grid_path), "--cell", cell, *extra])


def _cell_dir(grid_path: Path, cell: str = CELL) -> Path:
    grid = G.load_grid(grid_path)
    return G.cell_dir(grid, G.parse_cell_id(grid, cell))


@pytest.fixture(scope="module")
def trained(tiny_grid):
    assert _train(tiny_grid, CELL, "--fresh") == 0
    return _cell_dir(tiny_grid)


def test_cell_writes_every_output(trained, tiny_grid):
    for name in OUTPUTS:
        assert (trained / name).is_file(), name
    m = json.loads((trained / "metrics.json").read_text())
    assert m["cell"] == CELL and m["detector"] == "retinanet" and m["noise"] == "combined" and m["rate"] == 0.4
    for key in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert 0.0 <= m[key] <= 1.0 or m[key] == -1.0, key
    assert m["versions"]["mmdet"] == "3.5.1"
    import torch

    assert m["host"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # the kernels that trained it
    val = json.loads((REPO / m["val_ann_file"]).read_text()) if not Path(m["val_ann_file"]).is_absolute() else None
    dets = json.loads((trained / "dets_val.json").read_text())
    assert isinstance(dets, list)
    if val is not None and dets:
        img_ids = {im["id"] for im in val["images"]}
        cat_ids = {c["id"] for c in val["categories"]}
        assert {d["image_id"] for d in dets} <= img_ids
        assert {d["category_id"] for d in dets} <= cat_ids
        assert all(len(d["bbox"]) == 4 and d["bbox"][2] >= 0 and d["bbox"][3] >= 0 for d in dets)
    cost = json.loads((trained / "cost.json").read_text())
    assert cost["epochs"] == 1 and cost["device"] == "cpu" and cost["train_seconds"] > 0 and cost["peak_host_mb"] > 0


def test_probe_csv_has_one_row_per_epoch_with_ca_and_gtba(trained):
    rows = list(csv.DictReader((trained / "probe.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1]
    for col in ("AP", "CA", "GTBA", "AP_clean", "CA_clean", "GTBA_clean"):
        assert 0.0 <= float(rows[0][col]) <= 1.0, col
    assert float(rows[0]["loss"]) > 0


def test_probe_curves_and_losses_reach_the_visualiser(trained):
    # scalars.json is the local backend: what TensorBoard / MLflow receive when logging.backend asks
    rows = list(csv.DictReader((trained / "probe.csv").open()))
    files = sorted((trained / "checkpoint").glob("*/vis_data/scalars.json"))
    lines = [json.loads(x) for x in files[-1].read_text().splitlines() if x.strip()]
    probe = [r for r in lines if "probe/CA" in r]
    assert len(probe) == 1 and probe[0]["step"] == int(rows[0]["iter"])
    for col in ("CA", "GTBA", "AP", "CA_clean", "loss", "lr"):
        assert probe[0][f"probe/{col}"] == pytest.approx(float(rows[0][col])), col
    assert any("loss" in r and "lr" in r for r in lines)  # the LoggerHook's training scalars


def test_config_py_is_the_resolved_config(trained):
    from mmengine.config import Config

    cfg = Config.fromfile(str(trained / "config.py"))
    assert cfg.model.bbox_head.num_classes == 5
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.train_dataloader.dataset.ann_file.endswith("noisy/combined-0.4/train.json")
    assert cfg.ndr_val_dataloader.dataset.ann_file.endswith("clean/val.json")
    assert {h["type"] for h in cfg.custom_hooks} >= {"TrainSetProbeHook", "DivergenceGuardHook"}


def test_same_seed_same_metrics(trained, tiny_grid):
    first = json.loads((trained / "metrics.json").read_text())
    assert _train(tiny_grid, CELL, "--fresh") == 0
    second = json.loads((trained / "metrics.json").read_text())
    for key in ("AP", "AP50", "AP75", "n_dets", "init_seed"):
        assert first[key] == second[key], key


def test_missing_data_names_the_file(tmp_path, capsys):
    path, _ = make_grid(tmp_path)
    assert _train(path) == 2
    err = capsys.readouterr().err
    assert "train.json" in err and "run the stage that makes it first" in err


def test_unknown_cell_is_refused(tiny_grid, capsys):
    assert _train(tiny_grid, "synth/loc-0.3/retinanet/baseline/seed0") == 2
    assert "not a cell of grid" in capsys.readouterr().err


def test_divergence_stops_with_the_cell_and_epoch_and_no_metrics(tmp_path):
    path, _ = make_grid(tmp_path, schedule={"epochs": 1, "lr": 1.0e12})
    build_data(path)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.train", "--grid", str(path), "--cell", CELL],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert f"cell {CELL}: training diverged" in proc.stderr and "at epoch 1" in proc.stderr
    assert not (_cell_dir(path) / "metrics.json").exists()


def test_divergence_guard_names_cell_epoch_iteration():
    import torch

    from benchmarks.training.hooks import DivergenceGuardHook, TrainingDiverged

    class FakeRunner:
        epoch, iter = 4, 41

    hook = DivergenceGuardHook(cell="x/clean-0/fcos/baseline/seed1")
    hook.after_train_iter(FakeRunner(), 0, outputs={"loss": torch.tensor(1.5), "acc": torch.tensor(float("nan"))})
    with pytest.raises(TrainingDiverged, match=r"x/clean-0/fcos/baseline/seed1.*loss_cls = inf.*epoch 5, iteration 42"):
        hook.after_train_iter(FakeRunner(), 0, outputs={"loss_cls": torch.tensor(float("inf"))})


def test_determinism_does_not_leak_out_of_a_cell(trained):
    # the cell trained in this process with randomness.deterministic (CPU); main() puts it back
    import torch

    assert trained.is_dir()
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic
