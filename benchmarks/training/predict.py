"""Run a detector over a dataloader and return COCO-format detections.

One code path for the per-epoch train-set probes and the final clean-val evaluation, so both
score exactly the same kind of predictions (mmdet's test-time post-processing, boxes rescaled to
the original image).
"""

from __future__ import annotations

import numpy as np
import torch


def decode_batches(loader) -> list:
    """Every batch of a (test-mode) loader, decoded once, without touching torch's global random
    generator: iterating a DataLoader draws its base seed from it, so a hook that first decodes its
    subset at epoch k would shift the training stream of every later epoch, and a resumed run (whose
    cache starts empty again) would draw at a different point than an uninterrupted one."""
    with torch.random.fork_rng(devices=[]):
        return list(loader)


def label_to_category(dataset) -> list[int]:
    """Category id of each detector label (mmdet's CocoDataset keeps them in ``cat_ids``)."""
    return [int(c) for c in dataset.cat_ids]


@torch.no_grad()
def predict_coco(model, batches, cat_ids: list[int], *, score_thr: float = 0.0) -> list[dict]:
    """Detections ``{image_id, category_id, bbox: [x, y, w, h], score}`` for every image.

    ``batches`` is a dataloader or any iterable of its collated batches (the probes keep theirs in
    memory); ``cat_ids[label]`` is the category id of detector label ``label``. Iterating a
    dataloader draws its base seed from torch's global generator, so the pass runs on a fork of it:
    a hook that predicts mid-training leaves the training stream as it found it.
    """
    cat_of_label = np.asarray(cat_ids, dtype=np.int64)
    was_training = model.training
    model.eval()
    dets: list[dict] = []
    try:
        with torch.random.fork_rng(devices=[]):
            _predict_into(dets, model, batches, cat_of_label, score_thr)
    finally:
        model.train(was_training)
    return dets


def _predict_into(dets: list, model, batches, cat_of_label: np.ndarray, score_thr: float) -> None:
    """Append the detections of every image in ``batches`` to ``dets``."""
    for batch in batches:
        for sample in model.test_step(batch):
            inst = sample.pred_instances
            boxes = inst.bboxes.detach().cpu().numpy().astype(np.float64)
            scores = inst.scores.detach().cpu().numpy().astype(np.float64)
            labels = inst.labels.detach().cpu().numpy().astype(np.int64)
            keep = scores > score_thr
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).round(2)
            img_id = int(sample.img_id)
            cats = cat_of_label[labels]
            dets.extend(
                {"image_id": img_id, "category_id": int(c), "bbox": b.tolist(), "score": round(float(s), 5)}
                for b, s, c in zip(xywh, scores, cats)
            )
