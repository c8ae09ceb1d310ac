"""ORSOD, rebuilt from its description: early-learning transition, then small-loss selection.

Source. No paper text or code of ORSOD is available to us. Everything we know is in the ELDET
OpenReview discussion (``papers/eldet_openreview_discussion.txt``):

* "methods like ORSOD and ADELE employ different loss weighting and sample selection strategies";
* ORSOD's training cost (RetinaNet VOC 3.96 h vs 2.51 h baseline; memory 12.1 vs 11.4 GB) comes
  "primarily [from] the need for per-epoch validation over the entire training set to detect the
  early-learning transition point, a step required by all these methods";
* the issue adds: "followed by loss re-weighting and sample selection of suspected-noisy annotations
  (small-loss criterion)".

Derivation. A small memory overhead rules out a second network (Co-teaching-style peers) or a
teacher; per-epoch validation of the training set implies the transition is found from train-set
predictions, and the selection needs per-annotation losses, which the same pass can provide. Hence:

1. **Transition point** (``hooks.py``). The train-set probe's AP against the noisy labels
   (``probe.csv`` column ``AP``; the probes are forced on: ``NEEDS_PROBES``) is fitted with the
   saturating exponential of ADELE/ELDET, ``find_transition`` with r = 0.9. One transition for the
   whole detector (the discussion names a single "transition point"). The transition is taken as
   soon as the curve has bent, at any epoch; only if it has not bent by the late cutoff
   ``ceil(fallback_frac * epochs)`` (0.85, ADELE's own cutoff, see ``benchmarks/methods/adele``: ORSOD
   reuses ADELE's transition model and states no cutoff of its own; epoch 11 of 12, the last one
   whose selection is still trained on) is the cutoff epoch used. Which one happened is recorded in
   ``method_state.json``.
2. **Per-annotation loss.** Detector heads average their losses over anchors/points/RoIs, not over
   annotations, and each family assigns differently; so the loss of an annotation is computed from
   the validation pass's detections, identically for every detector:
   ``l(g) = -log max(0.01, s*) + (1 - IoU*)``, with s* the best score of a detection of g's class
   overlapping g by IoU >= 0.5 and IoU* the best IoU of a detection of g's class
   (``selection.py``). Class flips raise the first term, box perturbations the second.
3. **Sample selection (small-loss criterion).** Co-teaching (Han et al., NeurIPS 2018) keeps the
   (1 - R(t)) fraction of smallest-loss samples, R(t) = tau * min(t / T_k, 1). Here: per class
   (so a hard class is not dropped wholesale), the ceil(R * n_c) largest-loss annotations are
   suspected noisy, re-selected every epoch from the first epoch after the transition; t counts
   epochs since the transition, T_k = max(1, round(T_k_frac * epochs)) (Co-teaching's 10 of 200
   epochs is T_k_frac = 0.05), tau = 0.2 (ours; Co-teaching sets tau to the noise rate when known:
   set it per grid entry).
4. **Loss re-weighting.** A suspected-noisy annotation's weight in the detection loss is set to
   0 for the next epoch, every other annotation keeps weight 1: it is served as an *ignore region*
   (``ignore_flag = 1`` through ``OverrideCocoDataset``) and the assigners get ``ignore_iof_thr`` =
   0.5, so anchors/RoIs covering it count neither as positives nor as negatives (its object does not
   become background). FCOS's point assignment has no ignore regions: there the annotation is simply
   left out (its area counts as background), the plain "drop" of small-loss methods. Soft weights
   (0 < w < 1) would need every head's target builder to carry per-annotation weights; not done.

Records: ``<cell>/method_state.json`` and ``<cell>/orsod_selection.json``; all state also in the
checkpoint (resumable).
"""

from __future__ import annotations

from benchmarks.methods.common.plugin import add_label_hook, register

NAME = "orsod"
FAMILIES = frozenset({"dense", "two_stage"})
NEEDS_PROBES = True  # the transition is read from the train-set probe's AP curve
DEFAULTS: dict = {
    "r_threshold": 0.9,  # ADELE/ELDET transition threshold (the discussion's shared step)
    "curve_metric": "AP",  # probe.csv column whose curve gives the transition
    "fallback_frac": 0.85,  # late cutoff (ADELE's): used only when the curve has not bent by then
    "tau": 0.2,  # Co-teaching's forget rate (ours: 0.2; set it to the noise rate when known)
    "T_k_frac": 0.05,  # Co-teaching's ramp T_k = 10 of 200 epochs, as a fraction of the schedule
    "iou_thr": 0.5,  # ours: IoU for "a detection of this annotation" in the per-annotation loss
    "ignore_iof_thr": 0.5,  # ours: assigners ignore anchors/RoIs covering an ignored box by IoF > this
}
OVERRIDES_NAME = "orsod_overrides.json"
ASSIGNERS = ("MaxIoUAssigner", "ATSSAssigner")


def _set_ignore_iof(node, thr: float) -> int:
    n = 0
    if isinstance(node, dict):
        if node.get("type") in ASSIGNERS:
            node["ignore_iof_thr"] = thr
            n += 1
        for value in node.values():
            n += _set_ignore_iof(value, thr)
    elif isinstance(node, (list, tuple)):
        for value in node:
            n += _set_ignore_iof(value, thr)
    return n


def apply(cfg, params: dict, ctx):
    check(params, ctx.detector)
    register(cfg, "benchmarks.methods.common.train_labels", "benchmarks.methods.orsod.hooks")
    _set_ignore_iof(cfg.model.get("train_cfg"), float(params["ignore_iof_thr"]))
    add_label_hook(
        cfg,
        ctx,
        OVERRIDES_NAME,
        "OrsodHook",
        curve_metric=params["curve_metric"],
        r_threshold=float(params["r_threshold"]),
        fallback_frac=float(params["fallback_frac"]),
        forget_rate=float(params["tau"]),
        ramp_epochs=max(1, round(float(params["T_k_frac"]) * int(ctx.epochs))),
        iou_thr=float(params["iou_thr"]),
    )
    return cfg


def check(params: dict, detector: str) -> None:
    """Plan-time check of ORSOD's parameters (see ``benchmarks.methods``)."""
    from benchmarks.methods import in_range, require

    for key in ("r_threshold", "fallback_frac", "iou_thr", "ignore_iof_thr"):
        require(in_range(params[key], 0, 1, low_open=True), NAME, key, params[key], "a number in (0, 1]")
    require(in_range(params["tau"], 0, 1, high_open=True), NAME, "tau", params["tau"], "a forget rate in [0, 1)")
    require(
        in_range(params["T_k_frac"], 0, 1), NAME, "T_k_frac", params["T_k_frac"], "a fraction of the schedule in [0, 1]"
    )
    require(
        params["curve_metric"] in ("AP", "AP_clean", "CA", "GTBA"), NAME, "curve_metric", params["curve_metric"],
        "a probe.csv curve: one of 'AP', 'AP_clean', 'CA', 'GTBA'",
    )  # fmt: skip
