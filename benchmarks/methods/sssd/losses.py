"""SSSD distillation loss and its lambda schedules (Deng et al., "Smooth and Stepwise Self-Distillation
for Object Detection", ICIP 2023, arXiv:2303.05015; ``papers/sssd.txt``).

SSSD keeps LGD's implicit teacher (Zhang et al., "LGD: Label-Guided Self-Distillation for Object
Detection", AAAI 2022, github.com/megvii-research/LGD): label-encoded feature maps ``K_e`` built from
the annotations and the student's own FPN features ``K``. It replaces LGD's MSE by the Jensen-Shannon
*distance* (the square root of the JS divergence, which is a metric, bounded and smoother near the
optimum than the MSE) and adds a distillation coefficient that changes with the schedule::

    L_distill = 1/N * sum_{p=1..P} ( D_JS(k^p || k_e^p) ) ** (1/2)
    D_JS(P || Q) = 1/2 KL(P || M) + 1/2 KL(Q || M),   M = (P + Q) / 2      (natural log: 0 <= D_JS <= ln 2)
    L_total  = L_det + lambda * L_distill

What we took from where, and why:

* The equations above are SSSD's as quoted in ``papers/sssd.txt`` (its method section is not in our
  text, nor in the stored copies of arXiv:2303.05015 we could search, which stop after the abstract;
  no public SSSD code was found, only LGD's); the square
  root is explicit there ("Jensen-Shannon distance", exponent 1/2). Logs are natural (as
  ``scipy.spatial.distance.jensenshannon`` by default), so one distance lies in ``[0, sqrt(ln 2)]``.
* How a feature map becomes the distributions ``k^p`` is among the equations lost in our text. We read
  ``k^p`` as the feature vector at position ``p`` turned into a distribution by a softmax over the
  distribution axis (``dim``, default the last one), and ``1/N`` as the mean over the N distributions
  in the batch (mmdet's ``mean`` reduction; pass ``avg_factor`` to divide by something else, e.g. the
  number of images). :func:`feature_rows` lays an FPN level out either per position over channels
  (``over="channel"``, our default reading) or per channel over positions (``over="spatial"``, the
  channel-wise layout of CWD); the method integration chooses. LGD instance-normalises both feature
  maps before its MSE (``models/base_distillator.py``); the softmax here is shift- but not
  scale-invariant, so that normalisation, if wanted, is applied by the caller.
* The teacher ``K_e`` is detached inside the loss, as LGD detaches the teacher features in its
  distillation term (the implicit teacher learns from its own detection loss only).
* ``sqrt`` has an infinite slope at 0: where ``D_JS <= eps`` the distance is 0 with zero gradient,
  so a student equal to its teacher gives exactly 0 and no NaN.

Schedules (:func:`sssd_lambda`), as fractions of ``max_iter`` so that they scale to any schedule:

* ``constant``: ``lambda`` throughout (the paper's fixed-lambda runs).
* ``step``: ``lambda`` before, ``lambda * factor`` from iteration ``round(at * max_iter)`` on. The paper
  switches at 120,000 iterations; the total is not in our text, so we take LGD's 2x schedule that
  SSSD builds on (detectron2, 180,000 iterations, LR steps at 120k and 160k): ``at = 2/3``, the first
  LR decay (also epoch 16 of mmdet's 24-epoch 2x schedule). The paper's stated aim is to keep the distillation term effective while the LR decays, so
  lambda grows at the switch. The value after the switch is not in our text: we default to
  ``factor = 10``, the inverse of the 0.1 LR decay at the same iteration, so ``lambda * lr`` is unchanged
  across it (our assumption; set ``factor`` to the paper's value when known).
* ``smooth``: the same two values joined by a half-cosine ramp centred on the switch point, of total
  width ``width`` (fraction of the schedule, default 1/6 = 30k of 180k iterations); ``width = 0`` is
  the step. The paper's "smooth" names its loss; this continuous counterpart of the step is ours.
* Default ``lambda = 75``: the value the paper shows against LGD (Fig. 2, "Ours_75"), on the paper's
  own loss scale ("after calibrating the distillation loss"); the method divides the summed
  per-position distances by the number of feature elements (``distill_norm: elements`` in
  :mod:`benchmarks.methods.sssd`), which puts ``75 * L_distill`` at LGD's magnitude; with another
  normalisation of ``L_distill`` it needs re-tuning.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS
from torch import Tensor, nn

from benchmarks.errors import InputError
from benchmarks.methods.common.losses import check_weight, empty_loss, resolve_reduction

LAMBDA = 75.0
"""Distillation coefficient (paper Fig. 2, "Ours_75")."""
SWITCH_AT = 2.0 / 3.0
"""Stepwise switch as a fraction of the schedule: 120,000 / 180,000 iterations (paper)."""
STEP_FACTOR = 10.0
"""lambda_after / lambda_before of the step (our assumption: inverse of the 0.1 LR decay there)."""
SMOOTH_WIDTH = 1.0 / 6.0
"""Width of the smooth ramp as a fraction of the schedule (ours: 30k of 180k iterations)."""
SCHEDULES = ("constant", "step", "smooth")
LOG2 = math.log(2.0)


def feature_rows(feat: Tensor, over: str = "channel") -> Tensor:
    """Lay out an FPN level ``(B, C, H, W)`` as rows of logits, one distribution per row.

    ``over="channel"``: ``(B*H*W, C)``, a distribution over channels at every position;
    ``over="spatial"``: ``(B*C, H*W)``, a distribution over positions for every channel.
    """
    if feat.dim() != 4:
        raise ValueError(f"feature_rows expects (B, C, H, W), got shape {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    if over == "channel":
        return feat.permute(0, 2, 3, 1).reshape(b * h * w, c)
    if over == "spatial":
        return feat.reshape(b * c, h * w)
    raise ValueError(f"feature_rows: over must be 'channel' or 'spatial', got {over!r}")


@weighted_loss
def sssd_js_loss(pred: Tensor, target: Tensor, dim: int = -1, eps: float = 1e-12) -> Tensor:
    """Jensen-Shannon distance between ``softmax(pred)`` and ``softmax(target)`` along ``dim``.

    ``pred``: student logits/features; ``target``: teacher (label-encoded) logits/features, detached.
    Returns one distance per distribution (``dim`` removed), in ``[0, sqrt(ln 2)]``; symmetric in its
    two arguments. Computed in log space: with ``d = log q - log p``,
    ``log p - log m = ln 2 - softplus(d)`` and ``log q - log m = ln 2 - softplus(-d)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"SSSD JS loss: student {tuple(pred.shape)} != teacher {tuple(target.shape)}")
    if pred.dtype in (torch.float16, torch.bfloat16):
        pred, target = pred.float(), target.float()
    log_p = F.log_softmax(pred, dim=dim)
    log_q = F.log_softmax(target.detach(), dim=dim)
    d = log_q - log_p
    kl_pm = (log_p.exp() * (LOG2 - F.softplus(d))).sum(dim=dim)
    kl_qm = (log_q.exp() * (LOG2 - F.softplus(-d))).sum(dim=dim)
    js = 0.5 * (kl_pm + kl_qm)
    above = js > eps
    return torch.where(above, js.clamp_min(eps).sqrt(), torch.zeros_like(js))


@MODELS.register_module()
class SSSDJSLoss(nn.Module):
    """SSSD's Jensen-Shannon distance distillation loss as an mmdet loss module.

    ``forward(pred, target)``: student and label-encoded teacher logits/features with the distribution
    along ``dim`` (see :func:`feature_rows`); ``weight`` has the shape of the input without ``dim``.
    ``loss_weight`` is a fixed factor; the scheduled lambda of the paper is :func:`sssd_lambda`, applied
    by the method (e.g. through :func:`sssd_total_loss`) so the module stays stateless.
    """

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0, dim: int = -1, eps: float = 1e-12):
        super().__init__()
        self.reduction = resolve_reduction(reduction, None)
        self.loss_weight = float(loss_weight)
        self.dim = int(dim)
        self.eps = float(eps)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        reduction = resolve_reduction(self.reduction, reduction_override)
        shape = list(pred.shape)
        del shape[self.dim]
        check_weight(weight, tuple(shape), "SSSDJSLoss")
        if pred.numel() == 0:
            return empty_loss(pred, tuple(shape), reduction, avg_factor)
        loss = sssd_js_loss(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor, dim=self.dim, eps=self.eps
        )
        return self.loss_weight * loss


def validate_schedule(
    kind: str,
    lam: float = LAMBDA,
    factor: float = STEP_FACTOR,
    at: float = SWITCH_AT,
    width: float = SMOOTH_WIDTH,
) -> None:
    """Reject schedule parameters that make no sense (they come from a grid config)."""
    if kind not in SCHEDULES:
        raise InputError(f"SSSD lambda schedule: kind must be one of {SCHEDULES}, got {kind!r}")
    for name, value in (("lambda", lam), ("factor", factor), ("at", at), ("width", width)):
        if not math.isfinite(value) or value < 0:
            raise InputError(f"SSSD lambda schedule: {name} must be a finite number >= 0, got {value!r}")
    if not 0.0 <= at <= 1.0:
        raise InputError(f"SSSD lambda schedule: at is a fraction of the schedule in [0, 1], got {at!r}")
    if width > 1.0:
        raise InputError(f"SSSD lambda schedule: width is a fraction of the schedule in [0, 1], got {width!r}")


def sssd_lambda(
    iteration: int,
    max_iter: int,
    kind: str = "step",
    lam: float = LAMBDA,
    factor: float = STEP_FACTOR,
    at: float = SWITCH_AT,
    width: float = SMOOTH_WIDTH,
) -> float:
    """lambda at ``iteration`` (0-based, as mmengine's ``runner.iter``) of a ``max_iter``-iteration run.

    ``constant``: ``lam``. ``step``: ``lam`` before iteration ``round(at * max_iter)``, ``lam * factor``
    from it on. ``smooth``: ``lam + (lam * factor - lam) * (1 - cos(pi * r)) / 2`` with
    ``r = clip((iteration / max_iter - (at - width / 2)) / width, 0, 1)``. Pure: same inputs, same value.
    """
    validate_schedule(kind, lam, factor, at, width)
    if max_iter <= 0:
        raise ValueError(f"SSSD lambda schedule: max_iter must be > 0, got {max_iter}")
    if not 0 <= iteration <= max_iter:
        raise ValueError(f"SSSD lambda schedule: iteration {iteration} outside [0, {max_iter}]")
    after = lam * factor
    if kind == "constant":
        return float(lam)
    if kind == "step" or width == 0.0:
        return float(after if iteration >= round(at * max_iter) else lam)
    r = min(max((iteration / max_iter - (at - width / 2.0)) / width, 0.0), 1.0)
    return float(lam + (after - lam) * 0.5 * (1.0 - math.cos(math.pi * r)))


def sssd_total_loss(
    loss_det: Tensor, loss_distill: Tensor, iteration: int, max_iter: int, kind: str = "step", **schedule
) -> Tensor:
    """``L_total = L_det + lambda(iteration) * L_distill`` (SSSD), with lambda from :func:`sssd_lambda`."""
    return loss_det + sssd_lambda(iteration, max_iter, kind, **schedule) * loss_distill
