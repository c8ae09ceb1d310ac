"""The embedded default's regime, read from its grid file, so the speed scripts measure what `all` runs."""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT_GRID = Path(__file__).resolve().parents[2] / "benchmarks" / "grids" / "default.yaml"


def default_regime() -> dict:
    """The default grid's training images, image side, epochs, probe subset and batch, threads per cell."""
    grid = yaml.safe_load(DEFAULT_GRID.read_text())
    synth = grid["datasets"]["synth"]["synthetic"]
    return {
        "n_train": int(synth["n_train"]),
        "size": int(synth["size"]),
        "epochs": int(grid["schedule"]["epochs"]),
        "subset": int(grid["probe"]["subset"]),
        "probe_batch_size": grid["probe"].get("batch_size"),
        "threads": int(grid.get("resources", {}).get("threads", 2)),
    }
