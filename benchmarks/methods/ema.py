"""Exponential moving average (EMA) of a model's weights: the online teacher of OD-DETR.

Update (OD-DETR Sec. 4.1, "EMA decay value 0.9996"; Tarvainen & Valpola's mean teacher):

    theta'_t = d_t * theta'_{t-1} + (1 - d_t) * theta_t,      d_t = d * (1 - exp(-t / tau))

for every floating-point parameter and buffer; integer buffers (BatchNorm's ``num_batches_tracked``)
are copied. ``t`` counts updates from 1. The ramp ``(1 - exp(-t/tau))`` is the YOLOv5/detrex
``ModelEMA`` warm-up and is chosen here because the paper's d = 0.9996 has a time constant of
2,500 iterations: on COCO (7,300 iterations per epoch) the teacher follows the student within the
first epoch, but on the embedded default (50 iterations per epoch, 600 in all) a constant
0.9996 would leave 79 % of the *random initialisation* in the teacher at the end of training.
With the ramp the teacher averages over roughly the last ``tau`` updates early on and reaches the
paper's decay after a few ``tau``; ``tau = 0`` gives the constant decay exactly. The paper does not
state a warm-up; ``tau`` is a documented parameter of the method.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def ema_decay(step: int, decay: float, tau: float) -> float:
    """d_t of the module docstring (``tau <= 0``: the constant ``decay``)."""
    if tau <= 0:
        return float(decay)
    return float(decay) * (1.0 - math.exp(-float(step) / float(tau)))


@torch.no_grad()
def ema_update(teacher: nn.Module, student_state: dict, d: float) -> None:
    """In place: teacher <- d * teacher + (1 - d) * student, tensor by tensor (names must match)."""
    t_state = teacher.state_dict()
    missing = set(t_state) - set(student_state)
    if missing:
        raise KeyError(f"student lacks {len(missing)} teacher tensors, e.g. {sorted(missing)[:3]}")
    for name, t in t_state.items():
        s = student_state[name].detach()
        if t.dtype.is_floating_point:
            t.mul_(d).add_(s.to(t.dtype), alpha=1.0 - d)
        else:
            t.copy_(s)
