"""BCKD distillation losses (Yang et al., "Bridging Cross-task Protocol Inconsistency for Distillation
in Dense Object Detection", ICCV 2023; ``papers/bckd_iccv2023.txt``).

Notation: ``l_s``/``l_t`` are student/teacher classification logits of shape ``(n, K)`` (n locations,
K foreground classes), ``p = sigmoid(l)``; ``b_s``/``b_t`` are the boxes decoded from each model's
regression output at the same n locations (``x1, y1, x2, y2``).

Binary classification distillation (paper Eqs. 6-8)::

    L_BCE(p_s, p_t) = -( p_t * log p_s + (1 - p_t) * log(1 - p_s) )       (Eq. 6)
    w_ij            = |p_t,ij - p_s,ij| ** beta                           (Eq. 7, beta = 1)
    L_cls^dis       = sum_i sum_j w_ij * L_BCE(p_s,ij, p_t,ij)            (Eq. 8)

IoU-based localization distillation (paper Eq. 9)::

    L_loc^dis = sum_i max_j(w_ij) * (1 - u_i),   u_i = overlap(b_s,i, b_t,i)

Choices, with their source (the public code is github.com/TinyTigerPan/BCKD, files
``mmdet/models/losses/kd_loss.py`` (``NovelKDLoss``), ``mmdet/models/dense_heads/ld_head.py`` and
``configs/bckd/bckd_r50_gflv1_r101_fpn_coco_1x.py``; read, not copied):

* ``beta``: the paper's Eq. 7 has no exponent (``beta = 1``); the code computes ``|p_t - p_s| ** beta``
  with ``beta = 1.0``. We keep ``beta`` as a parameter, default 1.
* The weight ``w`` of the classification loss is *not* detached from the student, as in the
  reference code (``scale_factor = target - pred.sigmoid()``): like the focal-loss factor it also
  shapes the gradient. The teacher probabilities are detached.
* The localization weight is ``max_j |p_t - p_s|`` (Eq. 9 writes ``max(w_.,j)`` with ``w`` from Eq. 7),
  i.e. the largest teacher-student *score gap* over classes, not the teacher's largest score. The
  reference code computes it the same way from detached scores (``.abs().pow(1.0).max(dim=1)``), so
  no gradient reaches either classification branch through it.
* Overlap ``u``: Eq. 9 and the text say IoU, the released configs use mmdet's ``GIoULoss``
  (``loss_score_kd=dict(type='GIoULoss', loss_weight=4.0)``), so the published numbers come from
  ``1 - GIoU``. Default ``mode="giou"`` (what produced the results); ``mode="iou"`` gives Eq. 9 as
  printed.
* Normalisation: Eqs. 8-9 are plain sums. The code sums over classes per location, then averages the
  per-location sum over *all* valid locations (weight = label weights) by the number of positive
  locations (``avg_factor=num_total_samples``, all-reduced, at least 1). Here the elementwise
  functions return one value per location (sum over classes), so the caller passes
  ``avg_factor=num_pos`` with ``reduction="mean"`` to get the paper's setting; the localization loss is
  evaluated at all valid locations too, not only positives.
* Loss weights ``alpha_1 = 1.0`` (cls) and ``alpha_2 = 4.0`` (loc), Eq. 10: paper Sec. 4.3 (Tables 4/5,
  "best ... when setting alpha_1 = 1.0 and alpha_2 = 4.0") and the same values in the released config.
"""

from __future__ import annotations

from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor, nn

from benchmarks.methods.common.losses import BETA, bckd_cls_loss, check_weight, empty_loss, resolve_reduction

ALPHA_CLS = 1.0
"""alpha_1 of Eq. 10 (paper Sec. 4.3 / Table 4; released config ``loss_kd`` weight)."""
ALPHA_LOC = 4.0
"""alpha_2 of Eq. 10 (paper Sec. 4.3 / Table 5; released config ``loss_score_kd`` weight)."""
# BETA, the exponent of the score-gap weight (Eq. 7; code: ``beta=1.0``), and bckd_cls_loss (Eq. 8)
# live in benchmarks.methods.common.losses, because CrossKD (ELDET) uses the same term.
LOC_MODES = ("giou", "iou")


def bckd_loc_weight(student_logits: Tensor, teacher_logits: Tensor, beta: float = BETA) -> Tensor:
    """Per-location weight of Eq. 9: ``max_j |p_t - p_s| ** beta`` over classes, detached, shape ``(...)``."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"BCKD loc weight: student logits {tuple(student_logits.shape)} != teacher logits "
            f"{tuple(teacher_logits.shape)}"
        )
    gap = (teacher_logits.detach().sigmoid() - student_logits.detach().sigmoid()).abs().pow(beta)
    if gap.shape[-1] == 0:
        return gap.new_zeros(gap.shape[:-1])
    return gap.max(dim=-1).values


@weighted_loss
def bckd_loc_loss(pred: Tensor, target: Tensor, mode: str = "giou", eps: float = 1e-6) -> Tensor:
    """``1 - IoU`` or ``1 - GIoU`` between aligned student and teacher boxes ``(n, 4)`` (Eq. 9 summand).

    Boxes are ``x1, y1, x2, y2`` in any common unit (both overlaps are scale-invariant); the teacher is
    detached. ``eps`` guards empty unions as in mmdet's ``bbox_overlaps``.
    """
    if mode not in LOC_MODES:
        raise ValueError(f"BCKD loc loss: mode must be one of {LOC_MODES}, got {mode!r}")
    if pred.shape != target.shape or pred.shape[-1:] != (4,):
        raise ValueError(f"BCKD loc loss: boxes must both be (n, 4), got {tuple(pred.shape)} and {tuple(target.shape)}")
    overlap = bbox_overlaps(pred, target.detach(), mode=mode, is_aligned=True, eps=eps)
    return 1.0 - overlap


@MODELS.register_module()
class BCKDClsLoss(nn.Module):
    """Binary classification distillation loss of BCKD (Eq. 8) as an mmdet loss module.

    ``forward(pred, target)``: student and teacher logits ``(n, K)``; ``weight`` per location ``(n,)``
    (label weights); ``avg_factor``: number of positive locations for the paper's normalisation.
    """

    def __init__(self, reduction: str = "mean", loss_weight: float = ALPHA_CLS, beta: float = BETA):
        super().__init__()
        self.reduction = resolve_reduction(reduction, None)
        self.loss_weight = float(loss_weight)
        self.beta = float(beta)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        reduction = resolve_reduction(self.reduction, reduction_override)
        check_weight(weight, pred.shape[:-1], "BCKDClsLoss")
        if pred.numel() == 0:
            return empty_loss(pred, pred.shape[:-1], reduction, avg_factor)
        loss = bckd_cls_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor, beta=self.beta)
        return self.loss_weight * loss


@MODELS.register_module()
class BCKDLocLoss(nn.Module):
    """IoU-based localization distillation loss of BCKD (Eq. 9) as an mmdet loss module.

    ``forward(pred, target)``: decoded student and teacher boxes ``(n, 4)``. If ``pred_logits`` and
    ``target_logits`` (student/teacher classification logits ``(n, K)``) are given, the paper's weight
    ``max_j |p_t - p_s|`` is computed from them and multiplied into ``weight`` (e.g. label weights).
    A weight of shape ``(n, 4)`` is averaged over the last axis, as mmdet's IoU losses do.
    """

    def __init__(
        self,
        reduction: str = "mean",
        loss_weight: float = ALPHA_LOC,
        mode: str = "giou",
        beta: float = BETA,
        eps: float = 1e-6,
    ):
        super().__init__()
        if mode not in LOC_MODES:
            raise ValueError(f"BCKDLocLoss: mode must be one of {LOC_MODES}, got {mode!r}")
        self.reduction = resolve_reduction(reduction, None)
        self.loss_weight = float(loss_weight)
        self.mode = mode
        self.beta = float(beta)
        self.eps = float(eps)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        pred_logits: Tensor | None = None,
        target_logits: Tensor | None = None,
    ) -> Tensor:
        reduction = resolve_reduction(self.reduction, reduction_override)
        if (pred_logits is None) != (target_logits is None):
            raise ValueError("BCKDLocLoss: give both pred_logits and target_logits, or neither")
        if weight is not None and weight.dim() == pred.dim() and weight.shape[-1] == 4:
            weight = weight.mean(dim=-1)
        if pred_logits is not None:
            gap = bckd_loc_weight(pred_logits, target_logits, beta=self.beta)
            weight = gap if weight is None else weight * gap
        check_weight(weight, pred.shape[:-1], "BCKDLocLoss")
        if pred.numel() == 0:
            return empty_loss(pred, pred.shape[:-1], reduction, avg_factor)
        loss = bckd_loc_loss(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor, mode=self.mode, eps=self.eps
        )
        return self.loss_weight * loss
