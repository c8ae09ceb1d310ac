"""Exponential moving average (EMA) of a model's weights: the suite's one EMA arithmetic (OD-DETR's
online teacher, ELDET's early-learning teachers, the matching-stability probe's EMA model). The
decay schedules stay with their methods: OD-DETR's and the probe's ramp below, ELDET's
``min(d, (1 + i) / (10 + i))`` warm-up (``benchmarks.methods.eldet.hooks.warm_decay``).

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
from torch import Tensor, nn


def ema_decay(step: int, decay: float, tau: float) -> float:
    """d_t of the module docstring (``tau <= 0``: the constant ``decay``)."""
    if tau <= 0:
        return float(decay)
    return float(decay) * (1.0 - math.exp(-float(step) / float(tau)))


@torch.no_grad()
def ema_update_tensors(teacher: list[Tensor], student: list[Tensor], d: float) -> None:
    """In place, pairwise: floating-point ``t <- d t + (1 - d) s`` (one fused ``_foreach_lerp_``);
    other dtypes (BatchNorm's ``num_batches_tracked``) are copied."""
    if len(teacher) != len(student):
        raise ValueError(f"EMA: {len(teacher)} teacher tensors but {len(student)} student tensors")
    floats = [(t, s) for t, s in zip(teacher, student) if t.dtype.is_floating_point]
    others = [(t, s) for t, s in zip(teacher, student) if not t.dtype.is_floating_point]
    if floats:
        tf, sf = zip(*floats)
        torch._foreach_lerp_(list(tf), [s.detach().to(t.dtype) for t, s in floats], 1.0 - float(d))
    if others:
        to, so = zip(*others)
        torch._foreach_copy_(list(to), [s.detach() for s in so])


@torch.no_grad()
def ema_update(teacher: nn.Module, student_state: dict, d: float) -> None:
    """In place: teacher <- d * teacher + (1 - d) * student, tensor by tensor (names must match)."""
    t_state = teacher.state_dict()
    missing = set(t_state) - set(student_state)
    if missing:
        raise KeyError(f"student lacks {len(missing)} teacher tensors, e.g. {sorted(missing)[:3]}")
    # a module shared under several names (Deformable DETR's prediction heads without box
    # refinement) appears once per name in a state dict: update each storage once, or it would
    # decay as d^k (and the fused lerp would read and write aliased memory)
    seen, names = set(), []
    for name, tensor in t_state.items():
        key = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape))
        if tensor.numel() and key in seen:
            continue
        seen.add(key)
        names.append(name)
    ema_update_tensors([t_state[n] for n in names], [student_state[n] for n in names], d)
