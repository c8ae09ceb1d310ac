"""OD-DETR (Wu, Sun & Li, IJCAI 2024; ``shared/papers/od_detr_ijcai2024.txt``): online distillation
from an EMA teacher to stabilise DETR training.

Model and hook: ``benchmarks.methods.od_detr.model`` (``ODDeformableDETR``, ``ODDETRTeacherHook``);
targets and losses: ``benchmarks.methods.od_detr.losses``. The module docstrings give the
equations and the choices made where the paper leaves room.

Parameters (paper names and values):

* ``use_md`` = True, ``use_pd`` = True, ``use_ag`` = True: the ablation switches of Table 2 (MD,
  PD, AG; rows 1-4 are MD, MD+PD, MD+AG, MD+PD+AG); all off is the "QFL w/o MD" row of Table 3
  (Deformable DETR with QFL and the EMA teacher unused);
* ``ag_per_gt`` = 2: queries per GT and teacher decoder stage in an auxiliary group (Sec. 3.4);
* ``w_d`` = 0.51: regression down-weight of Eq. 4;
* ``alpha`` = 0.25, ``beta`` = 0.75: TOOD-weight exponents of Eq. 5;
* ``ema_decay`` = 0.9996 (Sec. 4.1) and ``ema_tau`` = 0: the EMA warm-up time constant
  (``benchmarks.methods.common.ema``; not in the paper, so off by default; e.g. 2000 ramps the decay in
  over the first few thousand iterations, which short runs may want: without it a 600-iteration run
  keeps 0.9996^600 = 79 % of the initial weights in the teacher);
* ``stop_update`` = True: the teacher stops updating at the first LR decay (Table 5, "Stop Update"),
  the first milestone of the cell's MultiStepLR after the schedule is scaled to the grid's epochs.

Detectors: single-stage Deformable DETR, with iterative box refinement (``with_box_refine=True``:
the paper's baseline, "Def-DETR+", Table 1 and Sec. 4.1) or without (the suite's
``deformable_detr`` configs). With refinement every decoder stage refines the references of every
query group (matching part, PD group, auxiliary groups) with the student's per-stage box branches;
the groups' initial references stay 2-d points (see ``ODDeformableDETR.build_aux_groups``). The
suite has no Def-DETR+ detector entry yet (adding one means a new detector name in the grid schema
and configs), so grids run the plug-in on the configs without refinement. Not implemented: the
DINO variant (OD-DINO).

The matching consistency between student and teacher (Fig. 5) and both models' IS (Fig. 1) are
recorded by the suite's ``MatchingStabilityHook``, which uses this model's ``ema_teacher``.
"""

from __future__ import annotations

from benchmarks.errors import InputError
from benchmarks.methods.common.plugin import add_hook, register, use_variant

NAME = "od_detr"
FAMILIES = frozenset({"detr"})
DEFAULTS = {
    "use_md": True,
    "use_pd": True,
    "use_ag": True,
    "ag_per_gt": 2,
    "w_d": 0.51,
    "alpha": 0.25,
    "beta": 0.75,
    "ema_decay": 0.9996,
    "ema_tau": 0.0,  # warm-up: not in the paper, off
    "stop_update": True,
}
MODEL_MODULE = "benchmarks.methods.od_detr.model"


def first_lr_decay_epoch(cfg) -> int | None:
    """0-based index of the first epoch trained at a decayed LR (first epoch-based milestone)."""
    scheds = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    milestones = [m for s in scheds if s.get("by_epoch", True) for m in s.get("milestones", [])]
    return min(milestones) if milestones else None


def apply(cfg, params: dict, ctx):
    """Swap the detector for ``ODDeformableDETR`` and add the teacher's EMA hook."""
    check(params, ctx.detector)
    if cfg.model.get("as_two_stage"):
        raise InputError(
            f"od_detr supports single-stage Deformable DETR (with or without box refinement); '{ctx.detector}' is two-stage"
        )
    register(cfg, MODEL_MODULE)
    use_variant(cfg, NAME, ctx.detector, MODEL_MODULE)
    cfg.model.od_cfg = dict(
        use_md=bool(params["use_md"]),
        use_pd=bool(params["use_pd"]),
        use_ag=bool(params["use_ag"]),
        ag_per_gt=int(params["ag_per_gt"]),
        w_d=float(params["w_d"]),
        alpha=float(params["alpha"]),
        beta=float(params["beta"]),
    )
    stop = first_lr_decay_epoch(cfg) if params["stop_update"] else None
    hook = dict(
        type="ODDETRTeacherHook", decay=float(params["ema_decay"]), tau=float(params["ema_tau"]), stop_epoch=stop
    )
    add_hook(cfg, hook)
    return cfg


def check(params: dict, detector: str) -> None:
    """Plan-time check of OD-DETR's parameters and detector (see ``benchmarks.methods``)."""
    from benchmarks.methods import in_range, require, require_type

    require_type(NAME, detector, ("DeformableDETR",), "OD-DETR plugs into Deformable DETR")
    for key in ("use_md", "use_pd", "use_ag", "stop_update"):
        require(isinstance(params[key], bool), NAME, key, params[key], "true or false")
    require(in_range(params["ema_decay"], 0, 1, low_open=True, high_open=True), NAME, "ema_decay", params["ema_decay"], "a number in (0, 1)")  # fmt: skip
    require(in_range(params["ema_tau"], 0, float("inf")), NAME, "ema_tau", params["ema_tau"], "a number >= 0")
    per_gt = params["ag_per_gt"]
    require(isinstance(per_gt, int) and not isinstance(per_gt, bool) and per_gt >= 1, NAME, "ag_per_gt", per_gt, "an integer >= 1")  # fmt: skip
    for key in ("w_d", "alpha", "beta"):
        require(in_range(params[key], 0, float("inf")), NAME, key, params[key], "a number >= 0")
