"""Training labels a method may change while it trains: an overrides file and the dataset that reads it.

ADELE corrects noisy annotations (new class, refined box) and ORSOD excludes suspected-noisy ones
from the loss; both must change what the *dataloader* feeds the model, survive a resume and be
recorded. The mechanism is one small file and one dataset class:

* ``overrides.json`` (under the cell's ``checkpoint/``) maps ``img_id -> instance index -> fields``
  (``bbox_label``, ``bbox`` as ``[x1, y1, x2, y2]`` in original-image pixels, ``ignore_flag``). The
  instance index is the position in mmdet's ``CocoDataset`` instance list of that image (annotations
  the dataset skips, e.g. zero-area boxes, have none), i.e. exactly what the model sees.
* :class:`OverrideCocoDataset` is ``CocoDataset`` whose ``get_data_info`` applies the file's fields
  on top of the annotation file's. It re-reads the file whenever its (mtime, size) changes, so the
  main process and any dataloader worker (persistent or not) see a method's update at their next
  sample; the annotation file itself is never modified.

The hook that writes the file also keeps its content in the checkpoint and rewrites the file after a
resume, so the labels a resumed cell trains on are those of the checkpoint's epoch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from benchmarks.atomic import write_json

OVERRIDE_FIELDS = ("bbox_label", "bbox", "ignore_flag")


def write_overrides(path: str | os.PathLike, overrides: dict, *, epoch: int) -> None:
    """Atomically write ``{img_id: {instance index: fields}}`` (keys as strings) for ``epoch``."""
    instances = {
        str(img): {str(i): dict(fields) for i, fields in sorted(per.items())}
        for img, per in sorted(overrides.items())
        if per
    }
    write_json(path, {"epoch": int(epoch), "instances": instances}, indent=None)


def read_overrides(path: str | os.PathLike) -> dict[int, dict[int, dict]]:
    """``{img_id: {instance index: fields}}`` from an overrides file ({} when there is none)."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {int(img): {int(i): f for i, f in per.items()} for img, per in data.get("instances", {}).items()}


def apply_overrides(instances: list[dict], fields_by_index: dict[int, dict]) -> list[dict]:
    """A copy of ``instances`` with each overridden instance's fields replaced."""
    out = []
    for i, inst in enumerate(instances):
        fields = fields_by_index.get(i)
        if fields:
            inst = dict(inst)
            for key in OVERRIDE_FIELDS:
                if key in fields:
                    inst[key] = list(fields[key]) if key == "bbox" else int(fields[key])
        out.append(inst)
    return out


@DATASETS.register_module()
class OverrideCocoDataset(CocoDataset):
    """``CocoDataset`` with per-instance label overrides read from ``overrides_file`` (see module)."""

    def __init__(self, *args, overrides_file: str = "", **kwargs):
        self.overrides_file = str(overrides_file)
        self._stamp = None
        self._overrides: dict[int, dict[int, dict]] = {}
        super().__init__(*args, **kwargs)

    def _refresh(self) -> None:
        try:
            st = os.stat(self.overrides_file)
            stamp = (st.st_mtime_ns, st.st_size)
        except (OSError, ValueError):
            stamp = None
        if stamp != self._stamp:
            self._overrides = read_overrides(self.overrides_file) if stamp else {}
            self._stamp = stamp

    def raw_data_info(self, idx: int) -> dict:
        """The annotation file's data info of sample ``idx``, without overrides."""
        return super().get_data_info(idx)

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.overrides_file:
            self._refresh()
            fields = self._overrides.get(int(info["img_id"]))
            if fields:
                info["instances"] = apply_overrides(info["instances"], fields)
        return info


def train_instances(dataset) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{img_id: (boxes [n, 4] xyxy, labels [n])}`` of the annotation file, as the dataset parses it."""
    out = {}
    for idx in range(len(dataset)):
        info = dataset.raw_data_info(idx) if hasattr(dataset, "raw_data_info") else dataset.get_data_info(idx)
        inst = info["instances"]
        boxes = np.asarray([i["bbox"] for i in inst], dtype=np.float64).reshape(-1, 4)
        labels = np.asarray([i["bbox_label"] for i in inst], dtype=np.int64)
        out[int(info["img_id"])] = (boxes, labels)
    return out


def unwrap_dataset(dataset):
    """The innermost dataset of mmengine wrappers (RepeatDataset, ClassBalancedDataset, ...)."""
    while hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return dataset


def train_set_loader(runner, *, ann_file: str, img_root: str, classes: tuple, pipeline: list, batch_size: int):
    """A deterministic test-pipeline loader over every image of the training annotation file."""
    from benchmarks.training.hooks import build_subset_loader

    return build_subset_loader(runner, ann_file, img_root, classes, pipeline, batch_size)


def predictions_by_image(dets: list[dict], cat_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """COCO results (``predict_coco``) -> ``{img_id: (boxes xyxy, scores, labels)}`` in detector labels."""
    label_of = {int(c): i for i, c in enumerate(cat_ids)}
    grouped: dict[int, list[dict]] = {}
    for d in dets:
        grouped.setdefault(int(d["image_id"]), []).append(d)
    out = {}
    for img, ds in grouped.items():
        xywh = np.asarray([d["bbox"] for d in ds], dtype=np.float64).reshape(-1, 4)
        boxes = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        scores = np.asarray([d["score"] for d in ds], dtype=np.float64)
        labels = np.asarray([label_of[int(d["category_id"])] for d in ds], dtype=np.int64)
        out[img] = (boxes, scores, labels)
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` [n, 4] with every box of ``b`` [m, 4] (xyxy, continuous coordinates)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
