"""ELDET's train-set probes: CA (localization), GTBA (classification) and plain AP, every epoch.

ELDET (NeurIPS 2025, OpenReview discussion in ``papers/``) tracks two task-specific metrics on the
training images to find when each task starts memorizing label noise:

* **CA, class-agnostic AP.** "treats all objects as a single class to isolate localization
  performance by ignoring classification errors": every ground-truth box and every detection is
  mapped to one class, then COCO AP. Implemented with COCO's own class-agnostic mode
  (``params.useCats = 0``), which is exactly that mapping (the 100-detections-per-image cap then
  applies per image, as it would with one class); the tests check it against pycocotools on
  explicitly relabelled inputs.
* **GTBA, ground-truth box allocation AP.** "replaces predicted boxes with ground truth ones when
  IoU exceeds threshold tau, removing localization error influence to isolate classification
  performance": each detection whose best IoU with a ground-truth box of *any* class is >= tau
  gets that box; class and score stay; then class-aware COCO AP. Choices where the paper is silent:
  the allocation is class-agnostic (the class is what GTBA measures); ties in IoU go to the first
  ground-truth box in file order; crowd regions are never allocated; several detections may get the
  same box (no one-to-one constraint -- COCO matching then scores all but one as duplicates, as it
  would with their own boxes); detections below tau are kept unchanged (they still count as false
  positives, so GTBA is not inflated by dropping them).
* **AP**, plain class-aware COCO AP.

Base metric. The rebuttal describes CA as tracking "how well the model learns precise object
locations", which only the IoU-averaged COCO AP@[.5:.95] measures (AP50 accepts any box with IoU
>= 0.5); so ``metric="AP"`` (AP@[.5:.95]) is the default for all three. For GTBA the choice barely
matters: allocated boxes coincide with a ground-truth box (IoU 1), so only duplicates differ
between thresholds. ``metric="AP50"`` gives the VOC-style variant used in ELDET's VOC tables.

Every value is returned against the noisy labels the model trains on and, when ``gt_clean`` is
given, against the clean labels (``*_clean``), all as fractions. Cost: the inputs are validated
and converted once, each label set's ground truth and the detections are built once and shared by
the three metrics (CA reuses AP's objects in class-agnostic mode), only the "all" area range is
accumulated, IoUs are vectorised numpy, and no file is written; see :func:`probe_metrics` for a
timing.
"""

from __future__ import annotations

import numpy as np

from analysis.coco_eval import (
    Detections,
    GroundTruth,
    build_dets,
    build_gt,
    check_detections,
    detection_arrays,
    image_pairs,
    load_ground_truth,
    pair_iou,
    run_eval,
    segment_max_first,
)

PROBE_METRICS = ("AP", "CA", "GTBA")
BASE_METRICS = ("AP", "AP50")


def allocate_gt_boxes(gt: GroundTruth, dets: Detections, tau: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """GTBA's box replacement: (new boxes, mask of replaced detections).

    Detection i gets the box of the non-crowd ground truth (any class, same image) with the highest
    IoU when that IoU is >= ``tau``; ties go to the first such box in file order.
    """
    boxes = dets.boxes.copy()
    keep = ~gt.iscrowd
    gt_rows = np.flatnonzero(keep)
    d_idx, g_local = image_pairs(dets.image_ids, gt.ann_image_ids[keep])
    if len(d_idx) == 0:
        return boxes, np.zeros(len(dets), dtype=bool)
    g_idx = gt_rows[g_local]
    iou = pair_iou(dets.boxes, gt.boxes, d_idx, g_idx)
    best, first = segment_max_first(iou, d_idx, len(dets))
    replaced = (first >= 0) & (best >= tau)
    boxes[replaced] = gt.boxes[g_idx[first[replaced]]]
    return boxes, replaced


def _probe_one(gt: GroundTruth, dets: Detections, tau: float, metric: str, backend: str) -> dict[str, float]:
    coco_gt = build_gt(gt, backend)
    coco_dt = build_dets(coco_gt, dets, backend)
    ap = run_eval(coco_gt, coco_dt, backend, by_area=False)
    ca = run_eval(coco_gt, coco_dt, backend, use_cats=False, by_area=False)
    allocated, _ = allocate_gt_boxes(gt, dets, tau)
    gtba = run_eval(coco_gt, build_dets(coco_gt, dets.with_boxes(allocated), backend), backend, by_area=False)
    return {"AP": ap[metric], "CA": ca[metric], "GTBA": gtba[metric]}


def probe_metrics(
    gt_noisy: dict,
    gt_clean: dict | None,
    dets: list[dict],
    tau: float = 0.5,
    *,
    metric: str = "AP",
    backend: str = "fast",
) -> dict[str, float]:
    """{"AP", "CA", "GTBA"} against ``gt_noisy`` (+ ``*_clean`` against ``gt_clean``), fractions.

    ``dets`` is a COCO results list on the images of the ground truth; ``metric`` is "AP"
    (COCO AP@[.5:.95], default) or "AP50"; ``tau`` is GTBA's allocation IoU threshold. A metric
    without ground truth is NaN.

    Cost (``tests/test_probes.py::test_cost_200_images_100_dets``): 200 images x 100 detections
    (20k) with ~500 boxes, noisy + clean labels (six evaluations) -> 0.7-1.3 s on a shared 2-core
    CPU, of which ~0.35 s is faster-coco-eval's C++ and the rest building its COCO objects.
    """
    if metric not in BASE_METRICS:
        raise ValueError(f"metric must be one of {BASE_METRICS}, got {metric!r}")
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    if (
        isinstance(gt_clean, dict)
        and isinstance(gt_noisy, dict)
        and gt_clean.get("annotations") == gt_noisy.get("annotations")
    ):
        # clean cells: both label sets are the same, so score once (half the probe's evaluation time)
        once = probe_metrics(gt_noisy, None, dets, tau, metric=metric, backend=backend)
        return {**once, **{k + "_clean": v for k, v in once.items()}}
    out: dict[str, float] = {}
    d = None
    for suffix, gt in (("", gt_noisy), ("_clean", gt_clean)):
        if gt is None:
            continue
        g = load_ground_truth(gt)
        if d is None:
            d = detection_arrays(dets, g)  # converted once, checked against each label set
        else:
            check_detections(d, g)
        for k, v in _probe_one(g, d, tau, metric, backend).items():
            out[k + suffix] = v
    return out
