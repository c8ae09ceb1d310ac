"""The train-set probes observe training and change nothing in it.

Building the probe's subset loader used to draw a sampler seed from numpy's global generator
(mmengine's ``DefaultSampler(seed=None)``), which shifted every later ``RandomFlip`` draw: a cell
trained with probes ended with other weights than the same cell without them. The expectation is
the probe-free run's weights, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from conftest import build_data, final_weights, make_grid

CELL = "synth/combined-0.4/retinanet/baseline/seed0"


def test_probes_leave_the_trained_weights_bit_identical(tmp_path):
    grid_path, _ = make_grid(tmp_path, schedule={"epochs": 2}, resources={"threads": 1})
    build_data(grid_path)
    probed = final_weights(grid_path, CELL)
    plain = final_weights(grid_path, CELL, ["--no-probes"])
    assert probed.keys() == plain.keys()
    differing = [k for k in probed if not torch.equal(probed[k], plain[k])]
    assert differing == [], f"{len(differing)} tensors differ, e.g. {differing[:3]}"


def test_building_a_probe_loader_leaves_the_global_generators_alone(tiny_grid):
    from mmengine.runner import Runner

    from benchmarks.grids import grid as G
    from benchmarks.training.config_builder import build_cell_config, class_names
    from benchmarks.training.hooks import build_subset_loader

    grid = G.load_grid(tiny_grid)
    cfg = build_cell_config(grid, G.parse_cell_id(grid, CELL))
    data_dir = G.dataset_dir(grid, "synth")
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()  # noqa: NPY002 (the global one mmdet draws from)
    classes = class_names(data_dir / "train.json")
    pipeline = cfg.ndr_val_dataloader.dataset.pipeline
    loader = build_subset_loader(Runner, data_dir / "train.json", str(data_dir / "images"), classes, pipeline, 8)
    assert loader is not None
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]
    assert torch.equal(torch.get_rng_state(), torch_state)
