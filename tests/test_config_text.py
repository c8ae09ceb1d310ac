"""The cell config's formatted text: mmengine's own text, formatted by yapf once per content.

mmengine writes ``cfg.pretty_text`` into every checkpoint; formatting it each time cost a tiny
RetinaNet cell ~3.7 s of its ~41 s of training. The expectation is mmengine's own ``Config.pretty_text`` of the same content.
"""

from __future__ import annotations

import copy

import pytest
from mmengine.config import Config
from yapf.yapflib import yapf_api

from benchmarks.training.config_text import FormattedOnceConfig, format_once


def _config() -> Config:
    return Config(
        dict(
            model=dict(type="RetinaNet", bbox_head=dict(type="RetinaHead", num_classes=5, in_channels=32)),
            train_cfg=dict(type="EpochBasedTrainLoop", max_epochs=24),
            optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.001, momentum=0.9)),
        )
    )


@pytest.fixture
def yapf_calls(monkeypatch):
    calls = []
    real = yapf_api.FormatCode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(yapf_api, "FormatCode", counting)
    return calls


def test_text_equals_mmengine_and_yapf_runs_once_per_content(yapf_calls):
    expected = _config().pretty_text
    assert len(yapf_calls) == 1
    cfg = format_once(_config())
    assert isinstance(cfg, FormattedOnceConfig)
    texts = [cfg.pretty_text for _ in range(24)]  # one per checkpoint of a 24-epoch cell
    assert all(t == expected for t in texts)
    assert len(yapf_calls) == 2  # mmengine's reference above, then once for all 24


def test_an_edit_reformats_and_copies_keep_the_cache(yapf_calls):
    cfg = format_once(_config())
    first = cfg.pretty_text
    runner_copy = copy.deepcopy(cfg)  # what Runner.from_cfg keeps
    assert isinstance(runner_copy, FormattedOnceConfig)
    assert runner_copy.pretty_text == first
    n = len(yapf_calls)
    runner_copy.model.bbox_head.num_classes = 7
    edited = runner_copy.pretty_text
    assert len(yapf_calls) == n + 1
    assert "num_classes=7" in edited and "num_classes=5" in first
    reference = _config()
    reference.model.bbox_head.num_classes = 7
    assert edited == reference.pretty_text
    assert cfg.pretty_text == first  # the original is untouched


def test_the_built_cell_config_formats_once(tiny_grid):
    from benchmarks.grids import grid as G
    from benchmarks.training.config_builder import build_cell_config

    grid = G.load_grid(tiny_grid)
    cell = G.parse_cell_id(grid, "synth/combined-0.4/retinanet/baseline/seed0")
    cfg = build_cell_config(grid, cell)
    assert isinstance(cfg, FormattedOnceConfig)
    plain = Config(cfg.to_dict(), filename=cfg.filename)  # mmengine's own text of the same content
    assert cfg.pretty_text == plain.pretty_text
