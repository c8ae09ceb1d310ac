"""The channels-last max-pool changes no number: the expectation is PyTorch's plain ``nn.MaxPool2d``.

Unit level: values, the indices a tied window picks and the gradients, on inputs with many ties
(values drawn from {0, 1, 2}, and ReLU outputs, where whole windows are 0). Cell level: the same
cells trained with the swap and without it end with bit-identical weights, probe rows and
clean-val detections (a baseline with its probes; ELDET, whose teachers pool in no-grad passes).
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import final_weights, two_epoch_eldet_grid
from torch import nn
from torch.nn import functional as F

from benchmarks.training import inference_pool
from benchmarks.training.inference_pool import ChannelsLastMaxPool2d

CONFIGS = [
    dict(kernel_size=3, stride=2, padding=1),  # the ResNet stem's
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=1, padding=1),  # overlapping windows: gradients accumulate
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, dilation=2),
]


def _inputs(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ties = torch.randint(0, 3, (3, 5, 17, 19), generator=g).float()
    relu = torch.relu(torch.randn(2, 4, 16, 16, generator=g))
    return [ties, relu]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_values_indices_and_gradients_equal_the_plain_pool(cfg):
    plain, fast = nn.MaxPool2d(**cfg), ChannelsLastMaxPool2d(**cfg)
    for seed in range(5):
        for x in _inputs(seed):
            with torch.no_grad():
                assert torch.equal(fast(x), plain(x))
            a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
            ya, yb = plain(a), fast(b)
            assert torch.equal(ya, yb) and yb.is_contiguous()
            grad = torch.randn(ya.shape, generator=torch.Generator().manual_seed(seed))
            ya.backward(grad)
            yb.backward(grad)
            assert torch.equal(a.grad, b.grad)
            # the reason gradients agree: both kernels pick the same element of a tied window
            _, ia = F.max_pool2d(x, return_indices=True, **cfg)
            _, ib = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), return_indices=True, **cfg)
            assert torch.equal(ia, ib)


def test_the_fast_path_pools_a_channels_last_tensor(monkeypatch):
    seen = []
    real = F.max_pool2d

    def spy(x, *args, **kwargs):
        seen.append(x.is_contiguous(memory_format=torch.channels_last))
        return real(x, *args, **kwargs)

    monkeypatch.setattr(inference_pool.F, "max_pool2d", spy)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ChannelsLastMaxPool2d(3, 2, 1)(x)
    assert seen == [True]
    ChannelsLastMaxPool2d(3, 2, 1)(x.requires_grad_())  # autograd on: the plain kernel
    assert seen == [True, False]


def test_install_swaps_plain_pools_only_and_keeps_the_state_dict():
    class Custom(nn.MaxPool2d):
        pass

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, 1), nn.Sequential(nn.MaxPool2d(2)), Custom(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert inference_pool.install(model) == 2
    assert [type(m).__name__ for m in model.modules() if isinstance(m, nn.MaxPool2d)] == [
        "ChannelsLastMaxPool2d",
        "ChannelsLastMaxPool2d",
        "Custom",
    ]
    assert model[1].kernel_size == 3 and model[1].stride == 2 and model[1].padding == 1
    assert model.state_dict().keys() == before.keys()
    assert inference_pool.install(model) == 0  # already swapped


@pytest.fixture(scope="module")
def pool_grid(tmp_path_factory):
    return two_epoch_eldet_grid(tmp_path_factory.mktemp("pool"))


def _outputs(grid_path, cell: str) -> tuple[dict, str, str]:
    from benchmarks.grids import grid as G

    weights = final_weights(grid_path, cell)
    grid = G.load_grid(grid_path)
    cdir = G.cell_dir(grid, G.parse_cell_id(grid, cell))
    return weights, (cdir / "probe.csv").read_text(), json.dumps(json.loads((cdir / "dets_val.json").read_text()))


@pytest.mark.parametrize("method", ["baseline", "eldet"])
def test_cells_train_bit_identical_with_and_without_the_swap(pool_grid, monkeypatch, method):
    cell = f"synth/combined-0.4/retinanet/{method}/seed0"
    real, swapped = inference_pool.install, []
    monkeypatch.setattr(inference_pool, "install", lambda model: swapped.append(real(model)) or swapped[-1])
    fast = _outputs(pool_grid, cell)
    assert swapped and swapped[0] >= 1, "train.py must swap the model's max-pools"
    monkeypatch.setattr(inference_pool, "install", lambda model: 0)
    plain = _outputs(pool_grid, cell)
    differing = [k for k in plain[0] if not torch.equal(plain[0][k], fast[0][k])]
    assert differing == [], f"{len(differing)} tensors differ, e.g. {differing[:3]}"
    assert fast[1] == plain[1], "probe rows differ"
    assert fast[2] == plain[2], "clean-val detections differ"


def test_the_speed_script_checks_identity_and_prints_its_ratio_last(capsys):
    from benchmarks.speed.max_pool import main

    assert main(["--repeats", "1", "--probe-batch", "4", "--batch", "2", "--size", "64"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "outputs identical: True" in lines[-3]
    assert lines[-1].startswith("no-grad forward ratio (plain / channels-last): ") and lines[-1].endswith("x")
    float(lines[-1].rsplit(" ", 1)[1].rstrip("x"))
