"""BCKD: binary classification + IoU-based localization distillation from a teacher cell.

Yang et al., "Bridging Cross-task Protocol Inconsistency for Distillation in Dense Object
Detection", ICCV 2023 (``papers/bckd_iccv2023.txt``; code github.com/TinyTigerPan/BCKD).

    L = L_det + alpha_1 * L_cls^dis + alpha_2 * L_loc^dis                      (Eq. 10)

with the equations and normalisation of :mod:`benchmarks.methods.bckd.losses` and the detector
integration of :mod:`benchmarks.methods.bckd.model`. The teacher is another cell of the grid
(``teacher:`` in the grid's methods entry): its resolved ``config.py`` is rebuilt and its exported
``weights.pth`` loaded, frozen, in eval mode. Self-distillation (the paper's Table 6) is a teacher
entry naming the student's own detector (``teacher: {detector: gfl}`` for a GFL student).

Parameters (``DEFAULTS``, the paper's names and values):

* ``alpha1 = 1.0``, ``alpha2 = 4.0``: alpha_1, alpha_2 of Eq. 10 (Sec. 4.3, Tables 4-5; released config);
* ``beta = 1.0``: exponent of the score-gap weight ``|p_t - p_s|`` (Eq. 7);
* ``loc_overlap = "giou"``: the released config's ``GIoULoss``; ``"iou"`` is Eq. 9 as printed;
* ``distill_roi = True``: Faster R-CNN only, also distil the RoI head (the RPN is always
  distilled; see :mod:`benchmarks.methods.bckd.model`, our extension beyond the paper's tables).

Families: dense (RetinaNet, FCOS, GFL, ATSS) and two-stage (Faster R-CNN); DETR cells are skipped.
"""

from __future__ import annotations

from benchmarks.errors import InputError
from benchmarks.methods.bckd.losses import ALPHA_CLS, ALPHA_LOC, BETA, LOC_MODES
from benchmarks.methods.common.plugin import register, use_variant

NAME = "bckd"
FAMILIES = frozenset({"dense", "two_stage"})
NEEDS_TEACHER = True  # grid entries must name a teacher cell
DEFAULTS = {"alpha1": ALPHA_CLS, "alpha2": ALPHA_LOC, "beta": BETA, "loc_overlap": "giou", "distill_roi": True}
MODEL_MODULE = "benchmarks.methods.bckd.model"
SUPPORTED_TYPES = ("RetinaNet", "FCOS", "GFL", "ATSS", "FasterRCNN")


def teacher_of(ctx) -> dict | None:
    """The teacher cell of ``ctx`` (``ctx.teacher``; older contexts carry it in ``ctx.extra``)."""
    teacher = getattr(ctx, "teacher", None)
    if teacher is None:
        teacher = (getattr(ctx, "extra", None) or {}).get("teacher")
    return teacher


def check(params: dict, detector: str) -> None:
    """Plan-time check of BCKD's parameters and detector (the teacher: ``NEEDS_TEACHER``)."""
    from benchmarks.methods import in_range, require, require_type

    require_type(NAME, detector, SUPPORTED_TYPES)
    for key in ("alpha1", "alpha2", "beta"):
        require(in_range(params[key], 0, float("inf")), NAME, key, params[key], "a number >= 0")
    require(params["loc_overlap"] in LOC_MODES, NAME, "loc_overlap", params["loc_overlap"], f"one of {LOC_MODES}")
    require(isinstance(params["distill_roi"], bool), NAME, "distill_roi", params["distill_roi"], "true or false")


def apply(cfg, params: dict, ctx):
    """Swap the detector for its BCKD subclass holding the teacher cell's frozen model."""
    check(params, ctx.detector)
    teacher = teacher_of(ctx)
    if not teacher:
        raise InputError(
            f"bckd needs a teacher cell for {ctx.cell_id}: give the grid's bckd methods entry a "
            "`teacher: {detector: ..., method: baseline, noise: clean-0}`"
        )
    cfg.model.bckd = dict(
        teacher_config=str(teacher["config"]),
        teacher_weights=str(teacher["weights"]),
        alpha_cls=float(params["alpha1"]),
        alpha_loc=float(params["alpha2"]),
        beta=float(params["beta"]),
        loc_mode=params["loc_overlap"],
        distill_roi=bool(params["distill_roi"]),
    )
    register(cfg, MODEL_MODULE)
    use_variant(cfg, NAME, ctx.detector, MODEL_MODULE)
    return cfg
