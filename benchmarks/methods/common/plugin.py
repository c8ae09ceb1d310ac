"""The config edits every method makes, written once.

* :func:`register`: import a method's modules in this process (so mmengine's registries hold its
  models, hooks and losses now) and list them in ``custom_imports`` (so whoever loads the dumped
  ``config.py`` again, e.g. a student of this cell, registers them too);
* :func:`use_variant`: swap the detector's model type for the method's subclass of it, from the
  ``MODEL_TYPES`` mapping (base type -> registered name) its model module exports;
* :func:`add_hook`: append a custom hook;
* for the label-changing methods (ADELE, ORSOD): :func:`add_label_hook` (with
  :func:`use_override_dataset`, :func:`label_hook_args`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from benchmarks.errors import InputError

if TYPE_CHECKING:  # mmengine is not imported at plan time
    from mmengine.config import ConfigDict

WRAPPERS = ("RepeatDataset", "ClassBalancedDataset")


def train_dataset_cfg(cfg) -> ConfigDict:
    """The innermost training dataset config (under RepeatDataset / ClassBalancedDataset)."""
    ds = cfg.train_dataloader.dataset
    while "dataset" in ds and ds.get("type") in WRAPPERS:
        ds = ds.dataset
    return ds


def use_override_dataset(cfg, overrides_file: str) -> ConfigDict:
    """Serve the training annotations through ``OverrideCocoDataset`` reading ``overrides_file``."""
    ds = train_dataset_cfg(cfg)
    if ds.get("type") not in ("CocoDataset", "OverrideCocoDataset"):
        raise InputError(f"label-changing methods need a CocoDataset training set, got {ds.get('type')}")
    ds.type = "OverrideCocoDataset"
    ds.overrides_file = str(overrides_file)
    return ds


def label_hook_args(cfg, ctx, overrides_file: str) -> dict:
    """Arguments of a ``TrainLabelHook`` for this cell's training set."""
    ds = train_dataset_cfg(cfg)
    return dict(
        train_ann=str(ds.ann_file),
        img_root=str(ds.data_prefix["img"]),
        classes=tuple(ds.metainfo["classes"]),
        pipeline=cfg.ndr_val_dataloader.dataset.pipeline,
        overrides_file=str(overrides_file),
        cell_dir=str(ctx.cell_dir),
        batch_size=int(cfg.ndr_val_dataloader.batch_size),
    )


def add_imports(cfg, *modules: str) -> None:
    """List ``modules`` in the config's ``custom_imports`` (kept sorted, no duplicates)."""
    imports = list((cfg.get("custom_imports") or {}).get("imports", []))
    cfg.custom_imports = dict(imports=sorted(set(imports) | set(modules)), allow_failed_imports=False)


def register(cfg, *modules: str) -> None:
    """Import ``modules`` here and add them to ``custom_imports`` (see the module docstring)."""
    for module in modules:
        importlib.import_module(module)
    add_imports(cfg, *modules)


def use_variant(cfg, method: str, detector: str, *model_modules: str) -> str:
    """Set ``cfg.model.type`` to the method's subclass of the detector's type; returns the base type.

    Each of ``model_modules`` exports ``MODEL_TYPES`` (mmdet model type -> registered name of the
    method's subclass); a type without one is an error naming the detector.
    """
    variants: dict[str, str] = {}
    for module in model_modules:
        variants.update(importlib.import_module(module).MODEL_TYPES)
    base = cfg.model.type
    if base not in variants:
        raise InputError(
            f"{method}: no {method} variant of the {base} detector ('{detector}'); variants exist for {sorted(variants)}"
        )
    cfg.model.type = variants[base]
    return base


def add_label_hook(cfg, ctx, overrides_name: str, hook_type: str, **hook_params) -> None:
    """A label-changing method's set-up: the training set served through ``OverrideCocoDataset``
    reading ``<cell>/checkpoint/<overrides_name>``, and its ``TrainLabelHook`` subclass
    ``hook_type`` with the loader arguments of this cell and ``hook_params``."""
    overrides = str(ctx.cell_dir / "checkpoint" / overrides_name)
    hook_args = label_hook_args(cfg, ctx, overrides)
    use_override_dataset(cfg, overrides)
    add_hook(cfg, dict(type=hook_type, **hook_args, **hook_params))


def add_hook(cfg, hook: dict) -> None:
    """Append ``hook`` to the config's ``custom_hooks``."""
    cfg.custom_hooks = list(cfg.get("custom_hooks", None) or []) + [hook]
