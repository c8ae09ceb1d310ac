"""ADELE: adaptive early-learning correction, adapted from semantic segmentation to object detection.

Paper: Liu, Liu, Yang, Razavian, Fernandez-Granda, "Adaptive Early-Learning Correction for
Segmentation from Noisy Annotations", CVPR 2022; code github.com/Kangningthu/ADELE (``train.py``,
``lib/utils/JSD_loss.py``, ``lib/datasets/VOCTrainwsegDataset.py``), read to fix every convention the
paper leaves open; nothing is copied.

What ADELE does, and what each part became here:

1. **Per-class early-learning transition.** ADELE tracks, per class, the IoU between predictions and
   the noisy labels during training, fits ``f(x) = a(1 - exp(-x^b / c))`` with its late-weighted
   least squares, and switches a class on once ``|f'(t) - f'(1)| / f'(1) > r`` (r = 0.9) has been
   reached. Here: per-class COCO AP of the model's detections on all training images against the
   original noisy annotations, every epoch (``analysis.probes_per_class``), fitted by
   ``analysis.transition.find_transition`` (ADELE's fit and threshold). A class is switched on as
   soon as its curve has bent, at any epoch; only a class whose curve has not bent by the cutoff
   ``ceil(fallback_frac * epochs)`` is switched on then. ADELE's own cutoff: its search window ends
   at epoch 15 and a class that has not bent is updated at epoch 16 of its 20,000 iterations x 10
   images / 10,581 = 18.9 epochs, i.e. 0.85 of the schedule (epoch 11 of 12, the last epoch whose
   corrections are still trained on). See ``hooks.py``.
2. **Label correction.** ADELE replaces labels by confident predictions (``mask_threshold`` 0.8) of
   switched-on classes, cumulatively, once per epoch. Here: test-time detections with score >= 0.8
   of switched-on classes are matched one-to-one to annotations by IoU >= 0.5 (greedy by score); a
   matched annotation takes the prediction's class and box (``correct: both``; ``class`` or ``box``
   for one of them). See ``labels.py`` for the exact rule and what was not adapted.
   Corrections reach the dataloader through ``OverrideCocoDataset`` (``common/train_labels.py``), are
   logged in ``<cell>/adele_corrections.json`` and ``<cell>/method_state.json``, and live in the
   checkpoint, so they survive a resume.
3. **Consistency regularisation.** ADELE adds ``Lambda1 * mean(mask * sum_v KL(p_v || q))`` over
   scale views, masked where the mixture's confidence >= ``threshold`` (0.8). Here: two views (the
   image and its mirror), the dense classification map as per-class Bernoulli distributions, one
   mask per image as in ADELE's code (the image's most confident location has every class decision
   confident); see ``losses.py`` and ``model.py``.

Detectors: RetinaNet, FCOS, GFL (dense) and Faster R-CNN (two-stage; consistency on the RPN
objectness). DETR-family detectors are not supported (no dense classification map).
"""

from __future__ import annotations

from benchmarks.methods.common.plugin import add_label_hook, register, use_variant

NAME = "adele"
FAMILIES = frozenset({"dense", "two_stage"})
NEEDS_PROBES = False  # ADELE's per-class curves come from its own pass over every training image
DEFAULTS: dict = {
    "mask_threshold": 0.8,  # ADELE --mask_threshold: confidence a prediction needs to correct a label
    "r_threshold": 0.9,  # ADELE --r_threshold: relative derivative change marking the transition
    "Lambda1": 1.0,  # ADELE --Lambda1: weight of the consistency term
    "threshold": 0.8,  # ADELE --threshold: mixture confidence that enables the consistency term
    "iou_thr": 0.5,  # ours: IoU for matching a prediction to an annotation (detection's "same object")
    "correct": "both",  # ours: what a correction changes: both | class | box
    "curve_metric": "AP",  # ours: per-class curve metric (AP@[.5:.95] like the probes, or AP50)
    # cutoff: a class whose curve has not bent by ceil(frac * epochs) is switched on then; ADELE's cap
    # (epoch 16 of its 18.9-epoch schedule = 0.85), which covers transitions up to epoch 11 of 12
    "fallback_frac": 0.85,
}
OVERRIDES_NAME = "adele_overrides.json"
MODEL_MODULE = "benchmarks.methods.adele.model"
MODULES = ("benchmarks.methods.common.train_labels", MODEL_MODULE, "benchmarks.methods.adele.hooks")


def apply(cfg, params: dict, ctx):
    check(params, ctx.detector)
    register(cfg, *MODULES)
    use_variant(cfg, NAME, ctx.detector, MODEL_MODULE)
    cfg.model.adele_consistency = dict(lambda_cons=float(params["Lambda1"]), tau=float(params["threshold"]))
    add_label_hook(
        cfg,
        ctx,
        OVERRIDES_NAME,
        "AdeleHook",
        conf_thr=float(params["mask_threshold"]),
        iou_thr=float(params["iou_thr"]),
        mode=params["correct"],
        r_threshold=float(params["r_threshold"]),
        curve_metric=params["curve_metric"],
        fallback_frac=float(params["fallback_frac"]),
    )
    return cfg


#: mmdet model types with an ADELE subclass (model.MODEL_TYPES)
SUPPORTED_TYPES = ("RetinaNet", "FCOS", "GFL", "FasterRCNN")


def check(params: dict, detector: str) -> None:
    """Plan-time check of ADELE's parameters and detector (see ``benchmarks.methods``)."""
    from benchmarks.methods import in_range, require, require_type

    require_type(NAME, detector, SUPPORTED_TYPES)
    require(
        params["correct"] in ("both", "class", "box"),
        NAME,
        "correct",
        params["correct"],
        "one of 'both', 'class', 'box'",
    )
    for key in ("mask_threshold", "r_threshold", "threshold", "iou_thr", "fallback_frac"):
        require(in_range(params[key], 0, 1, low_open=True), NAME, key, params[key], "a number in (0, 1]")
    require(in_range(params["Lambda1"], 0, float("inf")), NAME, "Lambda1", params["Lambda1"], "a number >= 0")
    require(
        params["curve_metric"] in ("AP", "AP50"), NAME, "curve_metric", params["curve_metric"], "one of 'AP', 'AP50'"
    )
