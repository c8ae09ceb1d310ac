"""The grid's live training view (logging.backend): checked at plan time, in the config, not in the identity."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S
from benchmarks.training import live_logging as L


def _raw(tiny_grid: Path | None = None) -> dict:
    path = tiny_grid or REPO / "benchmarks/grids/default.yaml"
    return yaml.safe_load(path.read_text())


@pytest.fixture()
def installed(monkeypatch):
    """Pretend both backends' packages are installed (they are not in the lock)."""
    monkeypatch.setattr(L, "package_available", lambda package: True)


@pytest.mark.parametrize("backend", ["tensorboard", "mlflow"])
def test_a_backend_whose_package_is_missing_fails_at_plan_time(backend, monkeypatch):
    raw = {**_raw(), "logging": {"backend": backend}}
    if importlib.util.find_spec(backend) is None:  # this environment: not installed, the real check refuses
        with pytest.raises(InputError, match=f"pip install {backend}"):
            G.validate_grid(raw)
    monkeypatch.setattr(L, "package_available", lambda package: package != backend)
    with pytest.raises(InputError, match=rf"logging.backend '{backend}' needs the Python package '{backend}'"):
        G.validate_grid(raw)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
def test_the_dry_run_refuses_a_backend_that_is_not_installed(tmp_path):
    raw = {**_raw(), "logging": {"backend": "tensorboard"}, "results_dir": str(tmp_path / "results")}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(raw))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(path)], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode != 0
    assert "pip install tensorboard" in res.stdout + res.stderr and str(path) in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def test_the_default_is_no_backend_and_an_unknown_one_is_an_error():
    assert G.validate_grid(_raw())["logging"] == {"backend": "none", "tracking_uri": None}
    with pytest.raises(InputError, match="logging/backend"):
        G.validate_grid({**_raw(), "logging": {"backend": "wandb"}})


@pytest.mark.parametrize("backend", ["tensorboard", "mlflow"])
def test_the_option_changes_no_spec_hash(backend, installed):
    plain = G.validate_grid(_raw())
    logged = G.validate_grid({**_raw(), "logging": {"backend": backend}})
    cells = G.expand_cells(plain)
    assert cells == G.expand_cells(logged)
    for cell in cells:
        assert S.spec_hash(S.cell_spec(logged, cell)) == S.spec_hash(S.cell_spec(plain, cell)), cell.id
        sub = S.cell_grid(logged, cell)  # the cell's own grid carries the option to the training job
        assert G.validate_grid(sub)["logging"]["backend"] == backend


def test_a_tiny_config_built_with_the_option_has_the_backend(tiny_grid, installed):
    from mmengine.registry import VISBACKENDS

    from benchmarks.training.config_builder import build_cell_config

    raw = _raw(tiny_grid)
    cell_id = "synth/combined-0.4/retinanet/baseline/seed0"
    kinds = {}
    for backend in ("none", "tensorboard", "mlflow"):
        grid = G.validate_grid({**raw, "logging": {"backend": backend}})
        cfg = build_cell_config(grid, G.parse_cell_id(grid, cell_id))
        kinds[backend] = cfg.visualizer.vis_backends
    assert [b["type"] for b in kinds["none"]] == ["LocalVisBackend"]
    assert [b["type"] for b in kinds["tensorboard"]] == ["LocalVisBackend", "TensorboardVisBackend"]
    mlflow = kinds["mlflow"][1]
    assert mlflow["type"] == "MLflowVisBackend" and mlflow["run_name"] == cell_id and mlflow["exp_name"] == "t"
    assert mlflow["tracking_uri"] == (Path(raw["results_dir"]) / "t" / "mlruns").resolve().as_uri()
    for backends in kinds.values():  # names mmengine's registry resolves
        assert all(VISBACKENDS.get(b["type"]) is not None for b in backends)


def test_probe_rows_become_prefixed_scalars():
    from benchmarks.training.hooks import probe_scalars

    row = {"epoch": 3, "iter": 36, "lr": "0.01", "loss": "1.250000", "CA": "0.400000", "phase": "early"}
    assert probe_scalars(row) == {"probe/lr": 0.01, "probe/loss": 1.25, "probe/CA": 0.4}
