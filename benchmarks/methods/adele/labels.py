"""ADELE's label correction, adapted from pixels to boxes (a pure function, tested on hand-made inputs).

ADELE (``update_allclass`` in ``lib/datasets/VOCTrainwsegDataset.py``, Kangningthu/ADELE) rewrites a
pixel's label to the model's prediction when (i) the prediction differs from the current label,
(ii) its confidence exceeds ``mask_threshold`` = 0.8, and (iii) the *predicted* class is in the set of
classes whose early-learning transition has been detected (``IoU_npl_constraint='single'``: "when
person belongs to the set, motor pixels in the pseudo label can be updated to person even if motor is
not in set"). Updates accumulate: each epoch corrects the current (already corrected) labels.

For boxes (:func:`correct_image`):

* Candidates: the model's test-time detections (post-NMS, original-image coordinates) with score
  >= ``conf_thr`` (0.8) whose class has transitioned (rule iii).
* Matching by IoU: greedy and one-to-one, COCO style. Candidates in descending score order (ties:
  input order) each take the not-yet-matched ground-truth box of highest IoU (ties: lowest index)
  if that IoU >= ``iou_thr`` (0.5, the detection analog of "the same pixels"). One-to-one so two
  annotations never collapse onto one prediction.
* What changes (``mode``): ``"both"`` (default) sets the annotation's class to the prediction's class
  and its box to the prediction's box: a pixel update changes both the class and the extent of a
  segment, and the combined noise we correct perturbs both; ``"class"`` relabels only; ``"box"``
  refines only the box, and only when the classes already agree.
* An annotation already equal to its match (same class, box within 1e-6) is not a correction.
* Not adapted: ADELE's ``class_constraint`` (a pixel may only take a class already present in the
  image's pseudo label) exists because its pseudo labels come from image-level tags that are right;
  under class-flip noise the image-level classes are noisy too, so the constraint would block exactly
  the corrections we want. Its "do not update when the foreground shrinks below half" safeguard has
  no box analog (we never delete boxes). Adding boxes for unmatched confident predictions (the analog
  of background pixels becoming foreground, i.e. missing-box noise) is not done.
"""

from __future__ import annotations

import numpy as np

from benchmarks.methods.common.train_labels import iou_matrix

MODES = ("both", "class", "box")


def correct_image(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_labels: np.ndarray,
    active_classes,
    *,
    conf_thr: float = 0.8,
    iou_thr: float = 0.5,
    mode: str = "both",
) -> list[dict]:
    """Corrections of one image's current annotations; one dict per changed annotation.

    Each dict: ``index`` (annotation row), ``old_label``, ``new_label``, ``old_bbox``, ``new_bbox``
    (xyxy lists), ``score`` and ``iou`` of the matched prediction. Nothing is modified in place.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).ravel()
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).ravel()
    pred_labels = np.asarray(pred_labels, dtype=np.int64).ravel()
    active = np.asarray(sorted(set(int(c) for c in active_classes)), dtype=np.int64)
    if len(gt_boxes) == 0 or len(pred_boxes) == 0 or active.size == 0:
        return []
    cand = np.flatnonzero((pred_scores >= conf_thr) & np.isin(pred_labels, active))
    if cand.size == 0:
        return []
    cand = cand[np.argsort(-pred_scores[cand], kind="stable")]
    iou = iou_matrix(pred_boxes[cand], gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    out = []
    for row, p in enumerate(cand):
        ious = np.where(taken, -1.0, iou[row])
        g = int(np.argmax(ious))
        if ious[g] < iou_thr:
            continue
        taken[g] = True
        new_label, new_box = int(gt_labels[g]), gt_boxes[g]
        if mode in ("both", "class"):
            new_label = int(pred_labels[p])
        if mode == "both" or (mode == "box" and int(pred_labels[p]) == int(gt_labels[g])):
            new_box = pred_boxes[p]
        if new_label == int(gt_labels[g]) and np.allclose(new_box, gt_boxes[g], atol=1e-6, rtol=0):
            continue
        out.append(
            {
                "index": g,
                "old_label": int(gt_labels[g]),
                "new_label": new_label,
                "old_bbox": [float(v) for v in gt_boxes[g]],
                "new_bbox": [float(v) for v in new_box],
                "score": float(pred_scores[p]),
                "iou": float(iou[row, g]),
            }
        )
    return out
