"""Per-class train-set probe: COCO AP of each category against the labels the model trains on.

ADELE detects the early-learning transition separately per class, on each class's fit to the noisy
training labels (its per-class IoU of predicted vs noisy masks). The detection analog is each class's
COCO AP on the training images against the noisy annotations: the same evaluation as the probes' AP
(``analysis.probes``: AP@[.5:.95] by default, "all" area range, 100 detections per image), read per
category from the accumulated precision array ``[T, R, K, A, M]`` instead of averaged over K. The
mean of the finite per-class values is therefore exactly the probe's AP; the tests check that.
A category without annotations on the images is NaN (COCO's -1).
"""

from __future__ import annotations

import math

import numpy as np

from analysis.coco_eval import (
    MAX_DETS,
    _printer,
    _quiet,
    build_dets,
    build_gt,
    detection_arrays,
    load_ground_truth,
)


def per_class_ap(gt: dict, dets: list[dict], *, metric: str = "AP", backend: str = "fast") -> dict[int, float]:
    """``{category_id: AP}`` (fractions, NaN without ground truth); ``metric`` is "AP" or "AP50"."""
    if metric not in ("AP", "AP50"):
        raise ValueError(f"metric must be AP or AP50, got {metric!r}")
    g = load_ground_truth(gt)
    d = detection_arrays(dets, g)
    coco_gt = build_gt(g, backend)
    coco_dt = build_dets(coco_gt, d, backend)
    if backend == "fast":
        from faster_coco_eval import COCOeval_faster

        ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=_printer(False))
    else:
        from pycocotools.cocoeval import COCOeval

        with _quiet(False):
            ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
    ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0.0, 1e5**2]], ["all"], [MAX_DETS]
    with _quiet(False):
        ev.evaluate()
        ev.accumulate()
    precision = np.asarray(ev.eval["precision"])  # [T, R, K, A=1, M=1]
    if metric == "AP50":
        precision = precision[np.flatnonzero(np.isclose(np.asarray(ev.params.iouThrs), 0.5))]
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        s = precision[:, :, k, 0, 0]
        s = s[s > -1]
        out[int(cat)] = float(np.mean(s)) if s.size else math.nan
    return out
