"""Shared machinery of the hooks that change training labels during training (ADELE, ORSOD).

:class:`TrainLabelHook` owns

* a test-pipeline loader over *every* training image (decoded once and kept in memory, like the
  probes' subset, when the set has at most ``CACHE_MAX_IMAGES`` images; re-read every epoch
  otherwise) and :meth:`predict_train`, the model's detections on it through the suite's one
  prediction path (``benchmarks.training.predict.predict_coco``);
* the overrides (``{img_id: {instance index: fields}}``) the :class:`OverrideCocoDataset` applies,
  written to ``overrides_file`` after each change;
* persistence: the method's whole state (overrides, curves, transition epochs, logs) goes into the
  checkpoint (``before_save_checkpoint``) and comes back on resume (``after_load_checkpoint``), which
  then rewrites the overrides file and the cell-dir records, so a killed cell resumes with exactly the
  labels and log of its checkpoint's epoch. A fresh start writes empty ones.

Priority ``hook_protocol.PRIORITY_PROBE_CONSUMER``: after the train-set probe hook (whose rows of
the epoch are then published) and before the checkpoint and cost hooks (VERY_LOW = 90).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
from mmengine.hooks import Hook

from benchmarks.atomic import write_json
from benchmarks.methods.common.train_labels import (
    predictions_by_image,
    train_instances,
    train_set_loader,
    unwrap_dataset,
    write_overrides,
)
from benchmarks.training.hook_protocol import PRIORITY_PROBE_CONSUMER

CACHE_MAX_IMAGES = 2000  # decoded batches are kept only for small training sets (400 x 160 px ~ 30 MB)


class TrainLabelHook(Hook):
    priority = PRIORITY_PROBE_CONSUMER
    STATE_KEY = "ndr_label_state"

    def __init__(
        self,
        train_ann: str,
        img_root: str,
        classes: tuple,
        pipeline: list,
        overrides_file: str,
        cell_dir: str,
        batch_size: int = 8,
    ):
        self.train_ann, self.img_root, self.classes = train_ann, img_root, tuple(classes)
        self.pipeline, self.batch_size = pipeline, batch_size
        self.overrides_file = Path(overrides_file)
        self.cell_dir = Path(cell_dir)
        self.state: dict = self.fresh_state()
        self._restored = False
        self._batches = None

    # -- to be defined by a method ----------------------------------------------------------
    def fresh_state(self) -> dict:
        return {"overrides": {}, "log": [], "seconds": 0.0}

    def write_records(self) -> None:
        """Write the method's human-readable records (cell dir) from ``self.state``."""

    # -- persistence ------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[self.STATE_KEY] = copy.deepcopy(self.state)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.STATE_KEY in checkpoint:
            self.state = copy.deepcopy(checkpoint[self.STATE_KEY])
            self._restored = True
            self.flush(runner.epoch)

    def before_train(self, runner) -> None:
        if not self._restored:
            self.state = self.fresh_state()
            self.flush(0)
        self.dataset = unwrap_dataset(runner.train_dataloader.dataset)
        self.cat_ids = [int(c) for c in self.dataset.cat_ids]
        self.raw = train_instances(self.dataset)
        self.loader = train_set_loader(
            runner,
            ann_file=self.train_ann,
            img_root=self.img_root,
            classes=self.classes,
            pipeline=self.pipeline,
            batch_size=self.batch_size,
        )

    def flush(self, epoch: int) -> None:
        write_overrides(self.overrides_file, self.overrides, epoch=epoch)
        self.write_records()

    @property
    def overrides(self) -> dict:
        return self.state["overrides"]

    # -- helpers ----------------------------------------------------------------------------
    def predict_train(self, runner) -> tuple[list[dict], dict]:
        """(COCO detections, ``{img_id: (boxes, scores, labels)}``) of the model on every training image."""
        from benchmarks.training.predict import decode_batches, predict_coco

        if self._batches is None:
            small = len(self.loader.dataset) <= CACHE_MAX_IMAGES
            self._batches = decode_batches(self.loader) if small else self.loader
        dets = predict_coco(runner.model, self._batches, self.cat_ids)
        return dets, predictions_by_image(dets, self.cat_ids)

    def current(self, img_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, labels, ignore flags) of one image's annotations as the dataloader now serves them."""
        boxes, labels = self.raw[img_id]
        boxes, labels = boxes.copy(), labels.copy()
        ignore = np.zeros(len(labels), dtype=bool)
        for i, f in self.overrides.get(img_id, {}).items():
            if "bbox" in f:
                boxes[i] = f["bbox"]
            if "bbox_label" in f:
                labels[i] = f["bbox_label"]
            if "ignore_flag" in f:
                ignore[i] = bool(f["ignore_flag"])
        return boxes, labels, ignore

    def timed(self):
        hook = self

        class _T:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                hook.state["seconds"] = hook.state.get("seconds", 0.0) + time.perf_counter() - self.t0

        return _T()

    def write_state_json(self, payload: dict) -> None:
        write_json(self.cell_dir / "method_state.json", payload)
