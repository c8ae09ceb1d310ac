"""Per-epoch matching stability of DETR-family cells: DN-DETR's IS and OD-DETR's consistency.

``MatchingStabilityHook`` runs after every training epoch (before the probe hook, which writes the
values as extra ``probe.csv`` columns through the message hub key ``hook_protocol.PROBE_EXTRA``):

1. the model, in eval mode (no denoising or distillation queries), predicts on a fixed subset of
   training images, drawn with the probe subset's seed (same images for every method and seed of
   a setting) and matched against the labels the model trains on (noisy in a noisy cell) with the
   detector's own Hungarian assigner (last decoder layer, as in DN-DETR Fig. 3);
2. ``IS`` = mean number of changed query assignments per image since the previous epoch
   (``analysis.matching_stability``); empty at the first epoch;
3. the EMA teacher does the same (``IS_ema``, OD-DETR Fig. 1) and ``match_consistency`` is the
   share of the online model's matched queries whose teacher copy is matched to the same object
   (OD-DETR Fig. 5). The teacher is the model's own ``ema_teacher`` when it has one (OD-DETR);
   for other detectors the hook keeps an EMA of the weights itself, with the same update rule
   (``benchmarks.methods.common.ema``), so the baseline's curves are measured the same way.

The previous epoch's assignments and the hook's EMA weights are stored in the checkpoint, so a
resumed cell continues the curves exactly.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from analysis.matching_stability import consistency, mean_instability
from benchmarks.methods.common.detr_matching import cost_matrix, hungarian, last_layer_predictions
from benchmarks.methods.common.ema import ema_decay, ema_update
from benchmarks.training.hook_protocol import PRIORITY_PROBE_PRODUCER, PROBE_EXTRA
from benchmarks.training.predict import decode_batches

CKPT_KEY = "ndr_matching_stability"


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


@torch.no_grad()
def assignments(model, batches) -> dict[int, list[int]]:
    """img_id -> assignment vector (GT index per query, -1 none) of ``model`` on ``batches``."""
    was_training = model.training
    model.eval()
    out: dict[int, list[int]] = {}
    try:
        assigner = model.bbox_head.assigner
        for batch in batches:
            cls, boxes, samples = last_layer_predictions(model, batch)
            for i, sample in enumerate(samples):
                gt = sample.gt_instances
                cost = cost_matrix(assigner, cls[i], boxes[i], gt, sample.metainfo)
                out[int(sample.img_id)] = hungarian(cost).tolist()
    finally:
        model.train(was_training)
    return out


@HOOKS.register_module()
class MatchingStabilityHook(Hook):
    """See the module docstring. Runs before the probe hook (``PRIORITY_PROBE_PRODUCER``)."""

    priority = PRIORITY_PROBE_PRODUCER

    def __init__(
        self,
        ann_file: str,
        img_root: str,
        classes: tuple,
        subset: int,
        subset_seed: int,
        pipeline: list,
        subset_file: str,
        batch_size: int = 8,
        ema_decay: float = 0.9996,
        ema_tau: float = 2000.0,
    ):
        self.ann_file, self.img_root, self.classes = ann_file, img_root, tuple(classes)
        self.subset, self.subset_seed, self.pipeline = subset, subset_seed, pipeline
        self.subset_file, self.batch_size = subset_file, batch_size
        self.ema_decay, self.ema_tau = float(ema_decay), float(ema_tau)
        self.prev: dict | None = None
        self.prev_ema: dict | None = None
        self.ema = None
        self.ema_steps = 0
        self._loaded: dict | None = None
        self._batches = None

    # -- set-up -----------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        from benchmarks.atomic import write_json
        from benchmarks.data.coco import read_json
        from benchmarks.training.hooks import _subset_coco, build_subset_loader, choose_subset

        coco = read_json(self.ann_file)
        chosen = choose_subset(coco, self.subset, self.subset_seed)
        write_json(self.subset_file, _subset_coco(coco, chosen), indent=None)
        self.loader = build_subset_loader(
            runner, self.subset_file, self.img_root, self.classes, self.pipeline, self.batch_size
        )
        model = _unwrap(runner.model)
        if getattr(model, "ema_teacher", None) is None:
            self.ema = copy.deepcopy(model)
            self.ema.requires_grad_(False)
            self.ema.eval()
        loaded = self._loaded or {}
        self.prev = loaded.get("prev")
        self.prev_ema = loaded.get("prev_ema")
        if self.ema is not None and loaded.get("ema_state") is not None:
            self.ema.load_state_dict(loaded["ema_state"])
            self.ema_steps = int(loaded.get("ema_steps", 0))

    # -- the hook's own EMA (detectors without a teacher) -------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.ema is None:
            return
        self.ema_steps += 1
        ema_update(
            self.ema, _unwrap(runner.model).state_dict(), ema_decay(self.ema_steps, self.ema_decay, self.ema_tau)
        )

    def teacher(self, runner):
        model = _unwrap(runner.model)
        t = getattr(model, "ema_teacher", None)
        return t if t is not None else self.ema

    # -- the measurement --------------------------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        t0 = time.perf_counter()
        if self._batches is None:
            self._batches = decode_batches(self.loader)
        cur = assignments(_unwrap(runner.model), self._batches)
        cur_ema = assignments(self.teacher(runner), self._batches)
        row = {
            "IS": mean_instability(self.prev, cur) if self.prev else math.nan,
            "IS_ema": mean_instability(self.prev_ema, cur_ema) if self.prev_ema else math.nan,
            "match_consistency": consistency(cur, cur_ema),
        }
        self.prev, self.prev_ema = cur, cur_ema
        columns = {k: ("" if math.isnan(v) else f"{v:.6f}") for k, v in row.items()}
        runner.message_hub.update_info(PROBE_EXTRA, {"epoch": runner.epoch + 1, "columns": columns}, resumed=False)
        runner.logger.info(
            "matching stability epoch %d: IS %.3f IS_ema %.3f consistency %.3f (%.1f s)",
            runner.epoch + 1,
            row["IS"],
            row["IS_ema"],
            row["match_consistency"],
            time.perf_counter() - t0,
        )

    # -- resume -----------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CKPT_KEY] = {
            "prev": self.prev,
            "prev_ema": self.prev_ema,
            "ema_state": self.ema.state_dict() if self.ema is not None else None,
            "ema_steps": self.ema_steps,
        }

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(CKPT_KEY)
