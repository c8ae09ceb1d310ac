"""Training reads no uninitialised memory, so skipping deterministic mode's NaN fill changes nothing.

The expectation is the run with PyTorch's fill on (every ``empty`` tensor NaN): the same cell
trained without the fill must end with bit-identical weights. An op that read memory it never
wrote would see NaN in one run and leftover bytes in the other.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import build_data, make_grid

CASES = [
    ("retinanet", "baseline"),
    ("retinanet", "eldet"),
    ("faster_rcnn", "baseline"),
    ("deformable_detr", "baseline"),
    ("dino", "baseline"),
]


def _final_state(grid_path, cell: str) -> dict:
    from benchmarks.errors import run_cli
    from benchmarks.grids import grid as G
    from benchmarks.train import main

    assert run_cli(main, ["--grid", str(grid_path), "--cell", cell, "--fresh", "--no-probes"]) == 0
    grid = G.load_grid(grid_path)
    ckpt = G.cell_dir(grid, G.parse_cell_id(grid, cell)) / "checkpoint"
    final = ckpt / (ckpt / "last_checkpoint").read_text().strip().split("/")[-1]
    return torch.load(final, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def family_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninit")
    path, _ = make_grid(
        tmp,
        detectors=sorted({d for d, _ in CASES}),
        methods={"baseline": {}, "eldet": {"params": {"cutoff_ca": 0.01, "fallback_ca": 0.01, "cutoff_gtba": 0.01,
                                                      "fallback_gtba": 0.01}}},
        schedule={"epochs": 2},  # ELDET's parts switch on after epoch 1: epoch 2 runs both teachers
        resources={"threads": 1},
    )  # fmt: skip
    build_data(path)
    return path


@pytest.mark.parametrize(("detector", "method"), CASES)
def test_training_without_the_fill_ends_bit_identical(family_grid, monkeypatch, detector, method):
    from benchmarks.training import uninit_fill

    cell = f"synth/combined-0.4/{detector}/{method}/seed0"
    real, seen = uninit_fill.without_uninitialized_fill, []

    @contextlib.contextmanager
    def spy():
        with real():
            seen.append(torch.utils.deterministic.fill_uninitialized_memory)
            yield

    monkeypatch.setattr(uninit_fill, "without_uninitialized_fill", spy)
    without = _final_state(family_grid, cell)
    assert seen == [False], "training must run inside the no-fill block"
    assert torch.utils.deterministic.fill_uninitialized_memory, "the setting must come back after a cell"
    monkeypatch.setattr(uninit_fill, "without_uninitialized_fill", contextlib.nullcontext)
    filled = _final_state(family_grid, cell)
    assert without.keys() == filled.keys()
    differing = [k for k in filled if not torch.equal(filled[k], without[k])]
    assert differing == [], f"{len(differing)} tensors differ, e.g. {differing[:3]}"
    assert all(torch.isfinite(v).all() for v in filled.values() if v.is_floating_point())
