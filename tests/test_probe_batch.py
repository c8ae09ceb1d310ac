"""``probe.batch_size``: the probe's inference batch (the embedded default: the whole subset).

Batching is a cost choice, not a measurement choice: the synthetic images share one size, so no
padding differs between batches, and the probe rows of a cell probed in one batch equal those of
the same cell probed eight images at a time (to float noise: a few 1e-6 in the default's run). A null batch keeps every existing cell's identity.
"""

from __future__ import annotations

import csv

import pytest
from conftest import build_data, make_grid

CELL = "synth/combined-0.4/retinanet/baseline/seed0"


def _grid(tmp_path, sub: str, **over):
    """A grid file of its own in ``tmp_path/sub``, its results (and data) shared under ``tmp_path``."""
    (tmp_path / sub).mkdir()
    return make_grid(tmp_path / sub, results_dir=str(tmp_path / "results"), **over)[0]


def _probe_hooks(cfg) -> list[dict]:
    return [h for h in cfg.custom_hooks if h["type"] in ("TrainSetProbeHook", "MatchingStabilityHook")]


def test_the_probe_hook_takes_the_grid_batch_or_the_val_loaders(tmp_path):
    from benchmarks.grids import grid as G
    from benchmarks.training.config_builder import build_cell_config

    for batch, expected in ((None, None), (16, 16)):
        path = _grid(tmp_path, str(batch), probe={"subset": 16, "batch_size": batch})
        build_data(path)
        grid = G.load_grid(path)
        cfg = build_cell_config(grid, G.parse_cell_id(grid, CELL))
        (hook,) = _probe_hooks(cfg)
        assert hook["batch_size"] == (expected or int(cfg.ndr_val_dataloader.batch_size))


def test_a_null_batch_keeps_the_cell_hash_and_a_set_one_changes_it(tmp_path):
    from benchmarks.grids import grid as G
    from benchmarks.grids.spec import cell_identity, cell_spec

    def ident(sub, probe):
        path = _grid(tmp_path, sub, probe=probe)
        build_data(path)
        grid = G.load_grid(path)
        cell = G.parse_cell_id(grid, CELL)
        return cell_spec(grid, cell), cell_identity(grid, cell)["spec_hash"]

    spec_unset, h_unset = ident("unset", {"subset": 8})
    spec_null, h_null = ident("null", {"subset": 8, "batch_size": None})
    spec_set, h_set = ident("set", {"subset": 8, "batch_size": 8})
    assert "batch_size" not in spec_unset["probe"] and spec_null == spec_unset and h_null == h_unset
    assert spec_set["probe"]["batch_size"] == 8 and h_set != h_unset


def test_a_bad_batch_is_refused_by_the_schema(tmp_path):
    from benchmarks.errors import InputError
    from benchmarks.grids import grid as G

    path, _ = make_grid(tmp_path, probe={"subset": 8, "batch_size": 0})
    with pytest.raises(InputError, match="batch_size"):
        G.load_grid(path)


def _rows(grid_path) -> list[dict]:
    from benchmarks.errors import run_cli
    from benchmarks.grids import grid as G
    from benchmarks.train import main

    assert run_cli(main, ["--grid", str(grid_path), "--cell", CELL, "--fresh"]) == 0
    grid = G.load_grid(grid_path)
    with open(G.cell_dir(grid, G.parse_cell_id(grid, CELL)) / "probe.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_batched_pass_scores_what_batches_of_eight_score(tmp_path):
    common = dict(schedule={"epochs": 2}, resources={"threads": 1})
    whole = _grid(tmp_path, "whole", probe={"subset": 16, "batch_size": 16}, **common)
    eights = _grid(tmp_path, "eights", probe={"subset": 16, "batch_size": 8}, **common)
    build_data(whole)
    a = _rows(whole)
    b = _rows(eights)
    assert len(a) == len(b) == 2
    metrics = ("AP", "CA", "GTBA", "AP_clean", "CA_clean", "GTBA_clean")
    for ra, rb in zip(a, b):
        assert ra["loss"] == rb["loss"]  # the same training
        for k in metrics:
            # the batched convolution may differ in the last float bits, which can move a detection
            # score's 5th decimal: the default's full run saw differences up to 3e-6
            assert float(ra[k]) == pytest.approx(float(rb[k]), abs=1e-5), (ra["epoch"], k)
