"""The one reader of a grid's cells for every table, figure and report.

The DAG writes ``results/<grid>/cells.json`` (rule ``cell_manifest``) from exactly the cells'
``metrics.json`` files it hands that rule, together with the grid's dataset sources and method
entries. Analysis scripts take ``--cells results/<grid>/cells.json`` and read the cells listed
there and nothing else: a cell dropped from the grid (its directory still on disk) is not in the
manifest and so not in any table. :func:`discover` globs a runs directory for interactive use only
(``python -m analysis.cell_files --runs DIR`` writes a manifest for an ad-hoc set of cells).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.errors import InputError, run_cli
from benchmarks.grids.grid import Cell, cell_from_id

MANIFEST_VERSION = 1
MANIFEST_FILE = "cells.json"  # results/<grid>/cells.json


@dataclass(frozen=True)
class CellRef:
    """One cell of the manifest: the grid's :class:`Cell` and its directory (``metrics.json``'s parent)."""

    cell: Cell
    dir: Path

    @property
    def id(self) -> str:
        return self.cell.id

    def file(self, name: str) -> Path:
        return self.dir / name

    @property
    def metrics_file(self) -> Path:
        return self.dir / "metrics.json"


IDENTITY_KEYS = ("dataset", "noise", "rate", "detector", "method", "seed")


def identity(rec: dict) -> dict:
    """The cell identity of a metrics.json record, typed (the columns every table groups by)."""
    return {
        "dataset": str(rec["dataset"]),
        "noise": str(rec["noise"]),
        "rate": float(rec["rate"]),
        "detector": str(rec["detector"]),
        "method": str(rec["method"]),
        "seed": int(rec["seed"]),
    }


@dataclass(frozen=True)
class Manifest:
    grid: str
    cells: list[CellRef]
    datasets: dict = field(default_factory=dict)  # dataset id -> source (synthetic, voc, coco, ...)
    methods: dict = field(default_factory=dict)  # method entry -> {method, params, teacher, ...}


def _read_json(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=path, where=f"line {exc.lineno}") from None


def _ref_from_dir(cell_dir: Path, cell_id: str) -> CellRef:
    try:
        return CellRef(cell_from_id(cell_id), Path(cell_dir))
    except InputError as exc:
        raise InputError(str(exc), path=cell_dir) from None


def _id_from_path(cell_dir: Path) -> str:
    return "/".join(Path(cell_dir).parts[-5:])


def ref_of_metrics(metrics_file: str | os.PathLike) -> CellRef:
    """The cell a ``metrics.json`` belongs to: its directory ``<dataset>/<noise>-<rate>/<detector>/
    <method>/seed<k>`` is the cell id (DESIGN.md's layout)."""
    metrics_file = Path(metrics_file)
    return _ref_from_dir(metrics_file.parent, _id_from_path(metrics_file.parent))


def write_manifest(out: str | os.PathLike, cells: Iterable[str | os.PathLike | CellRef], *, grid: dict) -> Manifest:
    """Write ``cells.json`` for exactly ``cells`` (metrics.json paths or CellRefs), atomically; return it."""
    from benchmarks.atomic import write_json

    refs = sorted((c if isinstance(c, CellRef) else ref_of_metrics(c) for c in cells), key=lambda r: r.id)
    doc = {
        "version": MANIFEST_VERSION,
        "grid": grid["name"],
        "datasets": {name: ds["source"] for name, ds in grid["datasets"].items()},
        "methods": grid.get("methods") or {},
        "cells": [{"id": r.id, "dir": os.path.relpath(r.dir, Path(out).parent)} for r in refs],
    }
    write_json(Path(out), doc)
    return Manifest(doc["grid"], refs, doc["datasets"], doc["methods"])


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The cells (and grid facts) of a ``cells.json``; cell directories are relative to it."""
    path = Path(path)
    doc = _read_json(path)
    if not isinstance(doc, dict) or "cells" not in doc:
        raise InputError("not a cell manifest (no 'cells'); rule cell_manifest writes it", path=path)
    if not isinstance(doc["cells"], list):
        raise InputError(f"'cells' must be a list of {{id, dir}}, got {type(doc['cells']).__name__}", path=path)
    refs = []
    for i, entry in enumerate(doc["cells"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("dir"), str)):
            raise InputError("cell entry lacks a string 'id' or 'dir'", path=path, where=f"cells[{i}]")
        try:
            refs.append(_ref_from_dir(path.parent / entry["dir"], entry["id"]))
        except InputError as exc:  # a malformed id: say which entry of which manifest
            raise InputError(str(exc), path=path, where=f"cells[{i}]") from None
    return Manifest(doc.get("grid", ""), refs, dict(doc.get("datasets") or {}), dict(doc.get("methods") or {}))


def cells_of(source: str | os.PathLike | Manifest | Sequence[CellRef]) -> list[CellRef]:
    """Cells from a manifest path, a Manifest or a list of CellRefs (what every analysis accepts)."""
    if isinstance(source, Manifest):
        return list(source.cells)
    if isinstance(source, (str, os.PathLike)):
        return list(read_manifest(source).cells)
    return list(source)


def discover(runs_dir: str | os.PathLike) -> list[CellRef]:
    """Every cell directory under a runs directory. For interactive use; the DAG uses manifests."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise InputError("runs directory not found", path=runs_dir)
    refs = []
    for cdir in sorted(p for p in runs_dir.glob("*/*/*/*/seed*") if p.is_dir()):
        m = cdir / "metrics.json"
        refs.append(ref_of_metrics(m) if m.is_file() else _ref_from_dir(cdir, _id_from_path(cdir)))
    return refs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.cell_files", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, type=Path, help="a runs directory to list (interactive use)")
    p.add_argument("--out", required=True, type=Path, help="the cells.json to write")
    p.add_argument("--grid-name", default="adhoc", help="grid name recorded in the manifest")
    args = p.parse_args(argv)
    refs = discover(args.runs)
    write_manifest(args.out, refs, grid={"name": args.grid_name, "datasets": {}})
    print(f"{len(refs)} cells -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
