"""Config edits shared by the label-changing methods (ADELE, ORSOD): dataset swap, hooks, imports."""

from __future__ import annotations

from mmengine.config import ConfigDict

from benchmarks.errors import InputError

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
    imports = list((cfg.get("custom_imports") or {}).get("imports", []))
    cfg.custom_imports = dict(imports=sorted(set(imports) | set(modules)), allow_failed_imports=False)


def add_hook(cfg, hook: dict) -> None:
    cfg.custom_hooks = list(cfg.get("custom_hooks", None) or []) + [hook]
