"""Distillation losses of the BCKD and SSSD methods, as plain tensor functions and mmdet loss modules.

Importing this package registers in mmdet's ``MODELS`` registry (load it with
``custom_imports=dict(imports=["benchmarks.methods.losses"])``):

* ``BCKDClsLoss``: binary classification distillation, BCKD Eq. 8 (:mod:`.bckd`);
* ``BCKDLocLoss``: IoU/GIoU-based localization distillation, BCKD Eq. 9 (:mod:`.bckd`);
* ``SSSDJSLoss``: Jensen-Shannon distance distillation, SSSD (:mod:`.sssd`), with the
  ``lambda(iter)`` schedules in :func:`.sssd.sssd_lambda`.

Every elementwise function is decorated with mmdet's ``weighted_loss`` (``weight``, ``reduction``,
``avg_factor``), every module follows mmdet's loss contract (``loss_weight``, ``reduction_override``),
and teacher inputs are detached inside the losses so gradients reach only the student.
``register_module()`` refuses a name that is already taken, so nothing in mmdet is overwritten.
"""

from __future__ import annotations

from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


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


# Imported after the helpers above, which the submodules use.
from benchmarks.methods.losses.bckd import (  # noqa: E402
    BCKDClsLoss,
    BCKDLocLoss,
    bckd_cls_loss,
    bckd_loc_loss,
    bckd_loc_weight,
)
from benchmarks.methods.losses.sssd import (  # noqa: E402
    SSSDJSLoss,
    sssd_js_loss,
    sssd_lambda,
    sssd_total_loss,
)

__all__ = [
    "BCKDClsLoss",
    "BCKDLocLoss",
    "SSSDJSLoss",
    "bckd_cls_loss",
    "bckd_loc_loss",
    "bckd_loc_weight",
    "check_weight",
    "empty_loss",
    "resolve_reduction",
    "sssd_js_loss",
    "sssd_lambda",
    "sssd_total_loss",
]
