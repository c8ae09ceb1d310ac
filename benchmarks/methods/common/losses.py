"""Helpers every distillation loss of the methods uses (BCKD, SSSD, CrossKD in ELDET): mmdet's
reduction modes checked, per-element weight shapes checked, and the loss of an empty input.

The one loss two methods share is BCKD's binary classification distillation
:func:`bckd_cls_loss` (BCKD Eq. 8), which CrossKD uses as its dense classification loss. The other
losses live with their methods: ``benchmarks.methods.bckd.losses`` (BCKD Eq. 8-9),
``benchmarks.methods.sssd.losses`` (SSSD's JS distance and lambda schedules),
``benchmarks.methods.eldet.crosskd`` (CrossKD), ``benchmarks.methods.adele.losses`` and
``benchmarks.methods.od_detr.losses``. Importing a method's ``losses`` module registers its mmdet
loss modules.
"""

from __future__ import annotations

import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")
BETA = 1.0  # BCKD Eq. 7 (no exponent in the paper; the code's beta = 1.0)


def resolve_reduction(default: str, override: str | None) -> str:
    """The reduction to use (``override`` wins), checked against mmdet's three modes."""
    reduction = override if override else default
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_weight(weight: Tensor | None, shape: tuple[int, ...], loss_name: str) -> None:
    """A weight must have the per-element loss shape: broadcasting ``(n,)`` with ``(n, 1)`` would
    silently give an ``(n, n)`` loss."""
    if weight is not None and tuple(weight.shape) != tuple(shape):
        raise ValueError(f"{loss_name}: weight shape {tuple(weight.shape)} != loss shape {tuple(shape)}")


def empty_loss(pred: Tensor, shape: tuple[int, ...], reduction: str, avg_factor: float | None = None) -> Tensor:
    """The loss of an empty input: zeros of the reduced shape, still attached to ``pred``'s graph.

    ``weighted_loss`` would return NaN for ``mean`` over nothing; a batch without locations must give
    0 and keep ``backward()`` working (DDP expects every parameter in the graph).
    """
    if avg_factor is not None and reduction == "sum":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    zero = pred.sum() * 0.0
    return zero.expand(tuple(shape)) if reduction == "none" else zero


# BCKD's binary classification distillation (Eqs. 6-8 of BCKD; see benchmarks.methods.bckd.losses).
# It lives here because CrossKD (ELDET's KD loss) uses the same dense classification term.
@weighted_loss
def bckd_cls_loss(pred: Tensor, target: Tensor, beta: float = BETA) -> Tensor:
    """Gap-weighted binary cross-entropy between student and teacher sigmoid maps (Eqs. 6-8).

    ``pred``/``target``: student/teacher logits ``(..., K)``. Returns the per-location sum over the K
    classes, shape ``(...)``. The teacher is detached; zero where the student equals the teacher.
    """
    if pred.shape != target.shape:
        raise ValueError(f"BCKD cls loss: student logits {tuple(pred.shape)} != teacher logits {tuple(target.shape)}")
    p_t = target.detach().sigmoid()
    bce = F.binary_cross_entropy_with_logits(pred, p_t, reduction="none")
    gap = (p_t - pred.sigmoid()).abs().pow(beta)
    return (gap * bce).sum(dim=-1)
