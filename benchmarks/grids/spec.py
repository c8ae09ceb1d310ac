"""A cell's identity: one resolved, immutable spec per cell and its hash.

Two levels, both built here and nowhere else:

* :func:`cell_spec` -- the *plan-time* spec, computable by ``snakemake -n`` without any file of the
  run existing: dataset definition, noise setting and corruption parameters, detector (name, size,
  a digest of its config files), backbone weights, method module, its resolved parameters and the
  digest of its code (:mod:`benchmarks.grids.code_digest`), schedule, probe settings, seed and
  derived init seed, process count, and the teacher cell's spec hash. Its :func:`spec_hash` is what
  the Snakemake DAG sees (through ``runs/<cell>/spec.json``), so editing any of these (a grid entry
  or a method's code) reruns exactly the cells whose spec changed and, through the teacher hash,
  their students.
* :func:`cell_identity` -- the *run-time* identity the training job records: the spec plus the
  content hashes of the annotation files the cell reads and the teacher's recorded cell hash. Its
  ``cell_hash`` keys the checkpoint: ``checkpoint/identity.json`` holds it, and a checkpoint is
  resumed only under the same hash (see :mod:`benchmarks.training.checkpoint_guard`).

Left out on purpose: resources other than the GPU count (threads, memory, runtime: moving a grid to
another cluster does not retrain it), the grid name and results directory, and the shared training
code every cell runs (an edit there is rerun with ``--forcerun``, see the README).
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import os
from pathlib import Path

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids.code_digest import method_file_hashes
from benchmarks.seeding import derive_seed

SPEC_VERSION = 1
SPEC_FILE = "spec.json"
HASH_CHARS = 16


def canonical(obj) -> str:
    """The canonical JSON text of ``obj`` (sorted keys, no spaces): what hashes are taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def digest(obj) -> str:
    """A short sha256 hex digest of ``obj``'s canonical JSON."""
    return hashlib.sha256(canonical(obj).encode("ascii")).hexdigest()[:HASH_CHARS]


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (streamed: annotation files can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:HASH_CHARS]


def init_seed(cell: G.Cell) -> int:
    """Seed of a cell's initialisation and data order.

    Derived from (dataset, detector, seed k) and deliberately not from the method or the noise
    setting: seed k of ELDET and seed k of the baseline, or of clean and 40 % noise, start from the
    same weights and see the images in the same order, so paired comparisons across methods and
    noise settings isolate what the method or the noise changes.
    """
    return derive_seed(cell.dataset, cell.detector, cell.seed, "init")


def _config_bases(path: Path) -> list[str]:
    """The ``_base_`` entries of an mmengine config file (a string or a list of strings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


@functools.cache
def config_digest(path: str) -> str:
    """Digest of a detector config file and every local ``_base_`` it inherits, recursively.

    A package base (``mmdet::...``) is identified by its name and the installed mmdet version, which
    the lock pins; reading it would import mmdet at plan time.
    """
    parts: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def walk(p: Path) -> None:
        p = p.resolve()
        if p in seen:
            return
        seen.add(p)
        if not p.is_file():
            raise InputError("detector config not found", path=p)
        parts.append((p.name, hashlib.sha256(p.read_bytes()).hexdigest()))
        for base in _config_bases(p):
            if "::" in base:
                parts.append((base, _package_version(base.split("::", 1)[0])))
            else:
                walk(p.parent / base)

    walk(Path(path))
    return digest(parts)


@functools.cache
def method_code_digest(module: str) -> str:
    """Digest of the code a method's cells run: its modules' normalised syntax trees
    (:mod:`benchmarks.grids.code_digest`)."""
    return digest(method_file_hashes(module))


def _package_version(scope: str) -> str:
    from importlib import metadata

    for dist in (f"onedl-{scope}detection" if scope == "mmdet" else f"onedl-{scope}", scope):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def probes_enabled(grid: dict, cell: G.Cell, override: bool | None = None) -> bool:
    """Whether the cell probes the training set: the grid's (or the command line's) choice, or always
    when its method reads the probes during training (``NEEDS_PROBES``)."""
    from benchmarks.methods import get_method

    method = get_method(G.method_module(grid, cell.method))
    wanted = grid["probe"]["enabled"] if override is None else override
    return bool(wanted or getattr(method, "NEEDS_PROBES", False))


def _pretrained(grid: dict, cell: G.Cell) -> dict:
    """The backbone-weights part of the spec: the option, a local file's digest, or the spec hash of
    the pretraining run the cell starts from (so editing the stage reruns it and every cell)."""
    value = grid["pretrained_backbone"]
    if value in ("none", "default"):
        return {"value": value}
    if value == G.PRETRAINING:
        pre = G.pretraining_cell(grid, cell)
        out = {"value": value, "cell": pre.id, "spec_hash": spec_hash(cell_spec(G.pretraining_grid(grid), pre))}
        if grid["pretraining"]["class_layers"] != "fresh":  # absent when fresh: the hashes of before the key
            out["class_layers"] = grid["pretraining"]["class_layers"]
        return out
    path = Path(value)
    return {"value": value, "sha256": file_digest(path) if path.is_file() else None}


def cell_spec(grid: dict, cell: G.Cell, *, probes: bool | None = None) -> dict:
    """The plan-time spec of ``cell`` (see the module docstring); a plain, JSON-safe dict."""
    from benchmarks.detectors import get_detector
    from benchmarks.methods import get_method, resolve_params

    det = get_detector(cell.detector)
    module = G.method_module(grid, cell.method)
    params = resolve_params(get_method(module), G.method_params(grid, cell.method))
    noise: dict = {"type": cell.noise, "rate": float(cell.rate)}
    if cell.noise != "clean":
        c = grid["corruption"]
        noise["corruption"] = {
            "seed": derive_seed(cell.dataset, cell.noise, G.format_rate(cell.rate), c["seed"]),
            "cls_mode": c["cls_mode"],
            "beta": c["beta"],
        }
    probe_on = probes_enabled(grid, cell, probes)
    # a null option is left out, so an option added with a null default keeps existing cells' hashes
    probe = {k: v for k, v in sorted(grid["probe"].items()) if k != "enabled" and v is not None} if probe_on else {}
    teacher = G.teacher_cell(grid, cell)
    spec = {
        "version": SPEC_VERSION,
        "cell": cell.id,
        "dataset": {"name": cell.dataset, **copy.deepcopy(grid["datasets"][cell.dataset])},
        "noise": noise,
        "detector": {
            "name": cell.detector,
            "family": det.family,
            "size": grid["size"],
            "config": config_digest(str(det.config_path(grid["size"]))),
        },
        "pretrained_backbone": _pretrained(grid, cell),
        "method": {"entry": cell.method, "module": module, "params": params, "code": method_code_digest(module)},
        # amp appears only when on and warmup_iters only when set, so the hashes of cells that use
        # neither are those of before the keys existed
        "schedule": {
            k: v
            for k, v in G.schedule_for(grid, cell.detector).items()
            if not (k == "amp" and not v) and not (k == "warmup_iters" and v is None)
        },
        "probe": {"enabled": probe_on, **probe},
        "seed": cell.seed,
        "init_seed": init_seed(cell),
        "processes": max(1, int(grid["resources"]["gpu"])),
        "teacher": None if teacher is None else {"cell": teacher.id, "spec_hash": spec_hash(cell_spec(grid, teacher))},
    }
    return json.loads(canonical(spec))  # tuples -> lists, exactly what is hashed and stored


def spec_hash(spec: dict) -> str:
    return digest(spec)


# ---- the per-cell spec file the DAG hands the training job --------------------------------


def cell_grid(grid: dict, cell: G.Cell) -> dict:
    """The part of ``grid`` that decides ``cell`` (and its teacher): a valid grid of its own.

    The training job builds its config from this, never from a shared file that a later dry run
    could rewrite under it.
    """
    teacher = G.teacher_cell(grid, cell)
    cells = [cell] + ([teacher] if teacher is not None else [])
    sub = copy.deepcopy(grid)
    sub["datasets"] = {cell.dataset: grid["datasets"][cell.dataset]}
    sub["noise"] = [
        n for n in grid["noise"] if any(f"{n['type']}-{G.format_rate(n['rate'])}" == c.setting for c in cells)
    ]
    sub["detectors"] = [d for d in grid["detectors"] if any(c.detector == d for c in cells)]
    # each entry scoped to its one cell (a method is never its own teacher: one entry per cell), on
    # that cell's seed (a teacher may have a fixed seed of its own)
    sub["methods"] = {
        c.method: {**copy.deepcopy(grid["methods"][c.method]), "detectors": None, "noise": None,
                   "cells": [f"{c.detector}/{c.setting}"], "seeds": None if c.seed == cell.seed else [c.seed]}
        for c in cells
    }  # fmt: skip
    sub["seeds"] = [cell.seed]
    sub["schedule"]["per_detector"] = {
        d: v for d, v in sub["schedule"]["per_detector"].items() if d in sub["detectors"]
    }
    pre = G.pretraining_cell(grid, cell)
    if pre is not None:  # the sub-grid's detectors include the one its pretraining run is of
        if pre.detector not in sub["detectors"]:
            sub["detectors"].append(pre.detector)
        stage = sub["pretraining"]
        stage["shared"] = {d: s for d, s in stage["shared"].items() if d in sub["detectors"]}
        stage["schedule"]["per_detector"] = {
            d: v for d, v in stage["schedule"]["per_detector"].items() if d in sub["detectors"]
        }
    return sub


def spec_document(grid: dict, cell: G.Cell) -> dict:
    """What ``runs/<cell>/spec.json`` holds: the spec, its hash and the cell's own grid."""
    spec = cell_spec(grid, cell)
    return {"cell": cell.id, "spec_hash": spec_hash(spec), "spec": spec, "grid": cell_grid(grid, cell)}


def write_spec_file(grid: dict, cell: G.Cell, path: str | os.PathLike) -> dict:
    from benchmarks.atomic import write_json

    doc = spec_document(grid, cell)
    write_json(Path(path), doc)
    return doc


def read_spec_file(path: str | os.PathLike) -> tuple[dict, G.Cell, dict]:
    """(grid, cell, document) of a spec file; a file that does not validate is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("cell spec file not found (snakemake writes it: rule cell_spec)", path=path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        grid = G.validate_grid(doc["grid"], path=path)
        cell = G.parse_cell_id(grid, doc["cell"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"not a cell spec file ({exc})", path=path) from None
    return grid, cell, doc


# ---- run-time identity ---------------------------------------------------------------------


def data_files(grid: dict, cell: G.Cell) -> dict[str, Path]:
    """The annotation files a cell reads, by role."""
    ddir = G.dataset_dir(grid, cell.dataset)
    files = {"train": G.train_ann_file(grid, cell), "train_clean": ddir / "train.json", "val": ddir / "val.json"}
    if (ddir / "dataset.json").is_file():
        files["dataset"] = ddir / "dataset.json"
    return files


def cell_identity(grid: dict, cell: G.Cell, *, probes: bool | None = None) -> dict:
    """The spec plus the content of what the cell reads; ``cell_hash`` keys its checkpoint."""
    spec = cell_spec(grid, cell, probes=probes)
    data = {role: file_digest(p) for role, p in data_files(grid, cell).items()}
    for role, source in (("teacher", G.teacher_cell(grid, cell)), ("pretraining", G.pretraining_cell(grid, cell))):
        if source is not None:  # the weights the cell reads come from this run: its recorded hash
            record = G.cell_dir(grid, source) / "metrics.json"
            data[f"{role}_cell_hash"] = (
                json.loads(record.read_text(encoding="utf-8")).get("cell_hash") if record.is_file() else None
            )
    if spec["pretrained_backbone"].get("sha256", "") is None:  # a path that did not exist at plan time
        spec["pretrained_backbone"]["sha256"] = file_digest(spec["pretrained_backbone"]["value"])
    s_hash = spec_hash(spec)
    return {"cell": cell.id, "spec_hash": s_hash, "cell_hash": digest([s_hash, data]), "spec": spec, "data": data}


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identities (for the log line that says why)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        where = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, where + ".")
        elif a != b:
            out.append(f"{where}: {a!r} -> {b!r}")
    return out
