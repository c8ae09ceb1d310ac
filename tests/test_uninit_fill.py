"""Training reads no uninitialised memory, so skipping deterministic mode's NaN fill changes nothing.

The expectation is the run with PyTorch's fill on (every ``empty`` tensor NaN): the same cell
trained without the fill must end with bit-identical weights. An op that read memory it never
wrote would see NaN in one run and leftover bytes in the other.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import final_weights, two_epoch_eldet_grid

CASES = [
    ("retinanet", "baseline"),
    ("retinanet", "eldet"),
    ("faster_rcnn", "baseline"),
    ("deformable_detr", "baseline"),
    ("dino", "baseline"),
]


@pytest.fixture(scope="module")
def family_grid(tmp_path_factory):
    return two_epoch_eldet_grid(tmp_path_factory.mktemp("uninit"), detectors=sorted({d for d, _ in CASES}))


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
    without = final_weights(family_grid, cell, ["--no-probes"])
    assert seen == [False], "training must run inside the no-fill block"
    assert torch.utils.deterministic.fill_uninitialized_memory, "the setting must come back after a cell"
    monkeypatch.setattr(uninit_fill, "without_uninitialized_fill", contextlib.nullcontext)
    filled = final_weights(family_grid, cell, ["--no-probes"])
    assert without.keys() == filled.keys()
    differing = [k for k in filled if not torch.equal(filled[k], without[k])]
    assert differing == [], f"{len(differing)} tensors differ, e.g. {differing[:3]}"
    assert all(torch.isfinite(v).all() for v in filled.values() if v.is_floating_point())
