"""Shared fixtures: tiny synthetic datasets and grids in temporary result directories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def make_grid(tmp_path: Path, name: str = "t", **over) -> tuple[Path, dict]:
    """Write a small grid whose results go under ``tmp_path/results``; return (path, grid dict)."""
    grid = {
        "name": name,
        "results_dir": str(tmp_path / "results"),
        "datasets": {"synth": {"source": "synthetic", "synthetic": {"seed": 0, "n_train": 24, "n_val": 8}}},
        "noise": [{"type": "clean", "rate": 0.0}, {"type": "combined", "rate": 0.4}],
        "detectors": ["retinanet"],
        "schedule": {"epochs": 1},
        "probe": {"subset": 8},
        "resources": {"threads": 2},
    }
    for key, value in over.items():
        grid[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path, grid


def build_data(grid_path: Path, *, noisy: tuple[str, float] | None = ("combined", 0.4)) -> None:
    """Run the data stage of a grid without Snakemake (synthetic set, then one corruption)."""
    from benchmarks.grids import grid as G

    grid = G.load_grid(grid_path)
    for name, ds in grid["datasets"].items():
        out = G.dataset_dir(grid, name)
        if out.exists():
            continue
        s = ds["synthetic"]
        subprocess.run(
            [sys.executable, "-m", "benchmarks.data.synthetic", "--out", str(out), "--seed", str(s["seed"]),
             "--n-train", str(s["n_train"]), "--n-val", str(s["n_val"]), "--size", str(s["size"]),
             "--classes", str(s["classes"])],
            check=True, cwd=REPO,
        )  # fmt: skip
        if noisy:
            noise, rate = noisy
            nd = G.noisy_dir(grid, name, f"{noise}-{G.format_rate(rate)}")
            subprocess.run(
                [sys.executable, "-m", "benchmarks.data.corrupt", "--in", str(out / "train.json"),
                 "--out", str(nd / "train.json"), "--noise", noise, "--rate", str(rate), "--seed", "0",
                 "--manifest", str(nd / "manifest.csv"), "--stats", str(nd / "stats.json")],
                check=True, cwd=REPO,
            )  # fmt: skip


EARLY_ELDET = {"cutoff_ca": 0.01, "fallback_ca": 0.01, "cutoff_gtba": 0.01, "fallback_gtba": 0.01}
"""ELDET parameters whose parts both switch on after epoch 1 (cutoffs and fallbacks at the first epoch)."""


def two_epoch_eldet_grid(tmp_path: Path, **over) -> Path:
    """A 2-epoch, 1-thread grid with a baseline and an ELDET cell (parts on from epoch 2, so epoch 2
    runs both teachers), its data stage built; ``over`` as in :func:`make_grid`."""
    path, _ = make_grid(
        tmp_path,
        methods={"baseline": {}, "eldet": {"params": dict(EARLY_ELDET)}},
        schedule={"epochs": 2},
        resources={"threads": 1},
        **over,
    )
    build_data(path)
    return path


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory) -> Path:
    """A 1-epoch RetinaNet grid on 24 synthetic images, data stage already built (shared, read-only)."""
    tmp = tmp_path_factory.mktemp("tinygrid")
    path, _ = make_grid(tmp)
    build_data(path)
    return path


def final_weights(grid_path: Path, cell: str, extra: list[str] | tuple[str, ...] = ()) -> dict:
    """Train ``cell`` of the grid afresh in this process (``benchmarks.train`` plus ``extra``
    arguments) and return the state dict of its last checkpoint."""
    import torch

    from benchmarks.errors import run_cli
    from benchmarks.grids import grid as G
    from benchmarks.train import main

    assert run_cli(main, ["--grid", str(grid_path), "--cell", cell, "--fresh", *extra]) == 0
    grid = G.load_grid(grid_path)
    ckpt = G.cell_dir(grid, G.parse_cell_id(grid, cell)) / "checkpoint"
    final = ckpt / (ckpt / "last_checkpoint").read_text().strip().split("/")[-1]
    return torch.load(final, map_location="cpu", weights_only=False)["state_dict"]


def manifest(runs: Path, name: str = "t") -> Path:
    """The cells.json of every cell directory under ``runs`` (what rule cell_manifest writes for a
    grid's cells): the analysis CLIs read cells from it, never by globbing runs/."""
    from analysis.cell_files import discover, write_manifest

    out = runs.parent / "cells.json"
    write_manifest(out, discover(runs), grid={"name": name, "datasets": {}})
    return out


def interrupt_after(cell_dir: Path, epoch: int) -> None:
    """Make a finished cell look killed after ``epoch`` (deterministically, unlike a real SIGKILL):
    mmengine's last checkpoint is epoch_<epoch>.pth, the identity record says unfinished, and
    metrics.json is gone, as after a kill. Rerun, the cell resumes from that epoch."""
    import json

    ckpt = cell_dir / "checkpoint"
    target = ckpt / f"epoch_{epoch}.pth"
    assert target.is_file(), f"{target} was not kept (max_keep_ckpts)"
    (ckpt / "last_checkpoint").write_text(str(target))
    ident = json.loads((ckpt / "identity.json").read_text())
    (ckpt / "identity.json").write_text(json.dumps({**ident, "complete": False}))
    (cell_dir / "metrics.json").unlink()
