"""ELDET detectors: mmdet detectors with early-learning teachers and CrossKD distillation.

Registered in mmdet's ``MODELS`` registry (``custom_imports``) as ``ELDETRetinaNet``, ``ELDETFCOS``,
``ELDETGFL`` and ``ELDETFasterRCNN`` (+ ``ELDETStandardRoIHead``). The method itself (when the
teachers freeze, when each loss part switches on) is decided by :mod:`benchmarks.methods.eldet.hooks`;
this module only holds the state and computes the losses:

* ``eldet_teachers``: one (shared) or two (per task: index 0 = localization, 1 = classification)
  copies of the detector, no gradients, always in eval mode, updated as an EMA of the student by the
  hook until frozen. They are submodules, so their weights are in the checkpoint and survive a
  resume; they are not in the optimiser's way (no gradient ever reaches them, and SGD/AdamW skip
  parameters without gradients).
* buffers ``eldet_frozen`` (per teacher) and ``eldet_on`` (``[cls, loc]``: which loss part is on),
  also in the checkpoint.

Per iteration, when a part is on: the teacher's backbone/neck/head run once under ``no_grad``; the
student's intermediate head features (CrossKD's ``reused_teacher_head_idx``, default the input of
the last stacked conv) are standardised to the teacher's per-channel statistics and go once through
the teacher's remaining head layers (the "cross head"), only through the branches a switched-on part
needs (box branch only between the CA and the GTBA transition); the losses are
:mod:`benchmarks.methods.eldet.crosskd`. ``kd_interval = k`` distils on every k-th iteration with the
losses scaled by k (same expected gradient, 1/k of the teacher cost; default 1, the paper's setting). When no part is on, ``loss`` is the plain
detector's loss and the teachers cost nothing but the EMA update.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from mmdet.models.detectors import FCOS, GFL, FasterRCNN, RetinaNet
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import distance2bbox
from torch import Tensor, nn

from benchmarks.methods.common.ema import ema_update_tensors
from benchmarks.methods.eldet import crosskd as K

TASKS = ("cls", "loc")


def align_scale(student: Tensor, teacher: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise each channel of ``student`` (over batch and space), then give it the teacher's mean/std.

    CrossKD's ``align_scale``: the teacher's head layers expect the teacher's feature statistics.
    """
    dims = (0, 2, 3)
    s_std, s_mean = torch.std_mean(student, dim=dims, keepdim=True)  # one pass for both (unbiased std)
    t_std, t_mean = torch.std_mean(teacher, dim=dims, keepdim=True)
    return (student - s_mean) / (s_std + eps) * t_std + t_mean


# ------------------------------------------------------------------------------ dense heads
def _branch(convs: nn.ModuleList, x: Tensor, split: int) -> tuple[Tensor, Tensor]:
    """Run a stacked-conv branch; also return the pre-activation output of conv ``split`` (1-based).

    ``split = 0`` holds the branch input (the FPN feature). The returned feature equals the
    plain forward's (``ConvModule(x) == activate(ConvModule(x, activate=False))``).
    """
    hold = x
    for i, conv in enumerate(convs):
        if i + 1 == split and getattr(conv, "with_activation", False):
            hold = conv(x, activate=False)
            x = conv.activate(hold)
        else:
            x = conv(x)
            if i + 1 == split:
                hold = x
    return x, hold


def _resume_branch(convs: nn.ModuleList, hold: Tensor, split: int) -> Tensor:
    """The teacher's branch from the held feature: activation of conv ``split``, then convs after it."""
    x = hold
    if split > 0 and getattr(convs[split - 1], "with_activation", False):
        x = convs[split - 1].activate(x)
    for conv in convs[split:]:
        x = conv(x)
    return x


def _predict(head, cls_feat: Tensor, reg_feat: Tensor, level: int) -> tuple:
    """The head's output layers on branch features, exactly as its ``forward_single`` (per head type)."""
    name = type(head).__name__
    if hasattr(head, "retina_cls"):
        return head.retina_cls(cls_feat), head.retina_reg(reg_feat)
    if hasattr(head, "gfl_cls"):
        return head.gfl_cls(cls_feat), head.scales[level](head.gfl_reg(reg_feat)).float()
    if hasattr(head, "conv_centerness"):
        cls_score = head.conv_cls(cls_feat)
        bbox_pred = head.conv_reg(reg_feat)
        centerness = head.conv_centerness(reg_feat if head.centerness_on_reg else cls_feat)
        bbox_pred = head.scales[level](bbox_pred).float()
        if head.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not head.training:
                bbox_pred = bbox_pred * head.strides[level]
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness
    raise TypeError(f"ELDET: unsupported dense head {name}")


def split_forward(head, feats: tuple[Tensor, ...], split: int, *, reg: bool = True) -> tuple[tuple, list, list]:
    """``head.forward(feats)`` plus the held cls/reg features of every level.

    Returns ``(outs, cls_holds, reg_holds)`` where ``outs`` is what ``head.forward`` returns (a tuple
    of per-level lists), so ``head.loss_by_feat(*outs, ...)`` gives the detector's usual losses.
    ``reg=False`` runs the classification branch alone (a teacher that serves only the cls part
    needs its logits and cls features, nothing of its box branch): ``outs`` is then ``(cls_scores,)``
    and the reg holds are None.
    """
    per_level, cls_holds, reg_holds = [], [], []
    for level, x in enumerate(feats):
        cls_feat, cls_hold = _branch(head.cls_convs, x, split)
        if reg:
            reg_feat, reg_hold = _branch(head.reg_convs, x, split)
            per_level.append(_predict(head, cls_feat, reg_feat, level))
        else:
            reg_hold = None
            per_level.append((_predict_cls(head, cls_feat),))
        cls_holds.append(cls_hold)
        reg_holds.append(reg_hold)
    outs = tuple(list(t) for t in zip(*per_level))
    return outs, cls_holds, reg_holds


def _predict_cls(head, feat: Tensor) -> Tensor:
    """The classification output layer alone (cross head: only the branches a switched-on part needs)."""
    for name in ("retina_cls", "gfl_cls", "conv_cls"):
        if hasattr(head, name):
            return getattr(head, name)(feat)
    raise TypeError(f"ELDET: unsupported dense head {type(head).__name__}")


def _predict_reg(head, feat: Tensor, level: int) -> Tensor:
    """The box output of one level alone, as in ``_predict`` (no centerness: it is not distilled)."""
    if hasattr(head, "retina_reg"):
        return head.retina_reg(feat)
    if hasattr(head, "gfl_reg"):
        return head.scales[level](head.gfl_reg(feat)).float()
    if hasattr(head, "conv_centerness"):
        bbox_pred = head.scales[level](head.conv_reg(feat)).float()
        if head.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            return bbox_pred if head.training else bbox_pred * head.strides[level]
        return bbox_pred.exp()
    raise TypeError(f"ELDET: unsupported dense head {type(head).__name__}")


def cross_forward(
    teacher_head, s_cls_holds, s_reg_holds, t_cls_holds, t_reg_holds, split: int, *, cls: bool = True, reg: bool = True
) -> tuple[list | None, list | None]:
    """The teacher's remaining head layers on the student's (scale-aligned) held features.

    Returns per-level ``(cls_scores, bbox_preds)``; a branch that is not asked for is not run (None).
    """
    cls_out = [] if cls else None
    reg_out = [] if reg else None
    for level, (sc, sr, tc, tr) in enumerate(zip(s_cls_holds, s_reg_holds, t_cls_holds, t_reg_holds)):
        if cls:
            cls_out.append(
                _predict_cls(teacher_head, _resume_branch(teacher_head.cls_convs, align_scale(sc, tc), split))
            )
        if reg:
            feat = _resume_branch(teacher_head.reg_convs, align_scale(sr, tr), split)
            reg_out.append(_predict_reg(teacher_head, feat, level))
    return cls_out, reg_out


def flatten_logits(head, cls_scores: list) -> Tensor:
    """Per-level ``(N, A*K, H, W)`` logits -> ``(n, K)``, ordered image by image, level by level."""
    num_imgs = cls_scores[0].shape[0]
    flat = [c.permute(0, 2, 3, 1).reshape(num_imgs, -1, head.cls_out_channels) for c in cls_scores]
    return torch.cat(flat, 1).reshape(-1, head.cls_out_channels)


def decode_boxes(head, bbox_preds: list) -> Tensor:
    """Per-level box outputs -> ``(n, 4)`` pixel boxes (x1, y1, x2, y2), in ``flatten_logits``' order."""
    sizes = [b.shape[-2:] for b in bbox_preds]
    priors = head.prior_generator.grid_priors(sizes, device=bbox_preds[0].device)
    num_imgs = bbox_preds[0].shape[0]
    boxes = []
    for level, (reg, pri) in enumerate(zip(bbox_preds, priors)):
        if hasattr(head, "retina_reg"):
            deltas = reg.permute(0, 2, 3, 1).reshape(-1, 4)
            anchors = pri[None].expand(num_imgs, -1, -1).reshape(-1, 4)
            b = head.bbox_coder.decode(anchors, deltas)
        elif hasattr(head, "gfl_reg"):
            stride = head.prior_generator.strides[level][0]
            dist = head.integral(reg.permute(0, 2, 3, 1).reshape(-1, 4 * (head.reg_max + 1))) * stride
            centers = head.anchor_center(pri)[None].expand(num_imgs, -1, -1).reshape(-1, 2)
            b = distance2bbox(centers, dist)
        else:  # FCOS: distances (in pixels when the head is in eval mode, as the teacher's always is)
            dist = reg.permute(0, 2, 3, 1).reshape(-1, 4)
            points = pri[:, :2][None].expand(num_imgs, -1, -1).reshape(-1, 2)
            b = distance2bbox(points, dist)
        boxes.append(b.reshape(num_imgs, -1, 4))
    return torch.cat(boxes, 1).reshape(-1, 4)


@contextmanager
def captured_targets(head):
    """Record what ``head.get_targets`` returns while the head computes its own detection loss.

    CrossKD normalises its losses by the student assigner's targets of the same iteration; capturing
    them avoids running the assigner a second time. Yields a dict that holds ``"targets"`` afterwards.
    """
    box: dict = {}
    original = head.get_targets

    def recording(*args, **kwargs):
        box["targets"] = original(*args, **kwargs)
        return box["targets"]

    head.get_targets = recording
    try:
        yield box
    finally:
        del head.get_targets  # the instance attribute goes, the class method is back


def crosskd_normalisers(head, targets) -> dict:
    """CrossKD's label weights and normalisers for one dense head, from its assigner's targets.

    Returns ``label_weights`` (``(n,)`` in :func:`flatten_logits`' order, or None), ``cls_avg`` and
    ``loc_avg`` (None: the masked teacher-weight sum, GFL's box-KD normaliser). See
    :mod:`benchmarks.methods.eldet.crosskd` for the per-head rule.
    """
    if hasattr(head, "conv_centerness"):  # FCOS: (labels, bbox_targets) per level
        labels, bbox_targets = targets
        labels, bbox_targets = torch.cat(labels), torch.cat(bbox_targets)
        pos = (labels >= 0) & (labels < head.num_classes)
        denorm = float(head.centerness_target(bbox_targets[pos]).sum()) if bool(pos.any()) else 0.0
        denorm = max(denorm, 1e-6)
        return {"label_weights": None, "cls_avg": denorm, "loc_avg": denorm}
    if hasattr(head, "gfl_cls"):  # GFL: (anchors, labels, label_weights, bbox_targets, bbox_weights, avg_factor)
        label_weights, avg_factor, loc_avg = targets[2], targets[-1], None
    else:  # RetinaNet (AnchorHead): (labels, label_weights, bbox_targets, bbox_weights, avg_factor)
        label_weights, avg_factor = targets[1], targets[-1]
        loc_avg = float(avg_factor)
    flat = torch.cat([lw.reshape(lw.shape[0], -1) for lw in label_weights], dim=1).reshape(-1)
    return {"label_weights": flat, "cls_avg": float(avg_factor), "loc_avg": loc_avg}


# ------------------------------------------------------------------------------ shared state
class ELDETMixin:
    """Teachers, switches and EMA arithmetic shared by every ELDET detector."""

    def _eldet_init(self, eldet: dict | None) -> None:
        cfg = dict(eldet or {})
        self.eldet_cfg = cfg
        n = 2 if cfg.get("per_task_teachers", True) else 1
        template = copy.deepcopy(self)  # before any ELDET attribute exists: a plain copy of the detector
        teachers = nn.ModuleList([copy.deepcopy(template) for _ in range(n)])
        for p in teachers.parameters():
            p.requires_grad_(False)
        self.eldet_teachers = teachers
        self.register_buffer("eldet_frozen", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("eldet_on", torch.zeros(len(TASKS), dtype=torch.bool))

    def init_weights(self) -> None:
        """The detector's own initialisation, then every teacher := the student.

        The teachers sit in a plain ``nn.ModuleList``, which mmengine's recursive ``init_weights``
        skips, so without this they keep the uninitialised tensors of their construction (e.g.
        Deformable DETR's ``level_embed``), which PyTorch fills with NaN once deterministic
        algorithms are on (``torch.utils.deterministic.fill_uninitialized_memory``), as every CPU
        cell leaves them. The hook copies the student in again at iteration 0; this makes a model
        that is built and initialised outside a runner finite too.
        """
        super().init_weights()
        if hasattr(self, "eldet_teachers"):
            for i in range(len(self.eldet_teachers)):
                self.eldet_copy_student_to(i)

    # which teacher serves which task
    def eldet_teacher_index(self, task: str) -> int:
        return 0 if len(self.eldet_teachers) == 1 or task == "loc" else 1

    def eldet_part_on(self, task: str) -> bool:
        return bool(self.eldet_on[TASKS.index(task)])

    def _kd_due(self) -> bool:
        """Distil on every ``kd_interval``-th training iteration (1: every iteration, the paper's setting)."""
        interval = int(self.eldet_cfg.get("kd_interval") or 1)
        self._eldet_step = getattr(self, "_eldet_step", -1) + 1
        return self._eldet_step % interval == 0

    def _kd_scale(self) -> float:
        """``kd_interval``: a loss applied on every k-th iteration is scaled by k (same expected gradient)."""
        return float(int(self.eldet_cfg.get("kd_interval") or 1))

    def train(self, mode: bool = True):
        super().train(mode)
        if hasattr(self, "eldet_teachers"):
            self.eldet_teachers.eval()
        return self

    def _student_tensors(self) -> tuple[list[Tensor], list[Tensor]]:
        params = [p for n, p in self.named_parameters() if not n.startswith("eldet_teachers.")]
        bufs = [b for n, b in self.named_buffers() if not n.startswith(("eldet_teachers.", "eldet_"))]
        return params, bufs

    @staticmethod
    def _tensors(module: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
        return list(module.parameters()), list(module.buffers())

    @torch.no_grad()
    def eldet_copy_student_to(self, index: int) -> None:
        """Teacher ``index`` := the student (parameters and buffers)."""
        sp, sb = self._student_tensors()
        tp, tb = self._tensors(self.eldet_teachers[index])
        torch._foreach_copy_(tp, sp)
        torch._foreach_copy_(tb, sb)

    @torch.no_grad()
    def eldet_ema_step(self, decay: float) -> int:
        """One EMA step of every unfrozen teacher: ``theta_t <- decay theta_t + (1 - decay) theta_s``.

        In place with the suite's one EMA (``common.ema.ema_update_tensors``: one fused lerp over all
        parameters); buffers (BN running statistics, counters) are copied, as mmengine's
        ``ExponentialMovingAverage`` does by default. Returns the number of teachers updated.
        """
        sp, sb = self._student_tensors()
        updated = 0
        for i, teacher in enumerate(self.eldet_teachers):
            if bool(self.eldet_frozen[i]):
                continue
            tp, tb = self._tensors(teacher)
            ema_update_tensors(tp, sp, decay)
            torch._foreach_copy_(tb, sb)
            updated += 1
        return updated

    def eldet_teacher_state(self, index: int) -> dict:
        return {k: v.detach().clone().cpu() for k, v in self.eldet_teachers[index].state_dict().items()}

    def eldet_load_teacher(self, index: int, state: dict) -> None:
        self.eldet_teachers[index].load_state_dict(state)

    def _kd_weight(self, task: str, default: float) -> float:
        value = self.eldet_cfg.get(f"lambda_{task}")
        return float(default if value is None else value)


# ------------------------------------------------------------------------------ dense detectors
class ELDETDenseMixin(ELDETMixin):
    def _eldet_split(self) -> int:
        split = self.eldet_cfg.get("reused_head_idx")
        n = len(self.bbox_head.cls_convs)
        return max(0, n - 1) if split is None else int(split)

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        on = {t: self.eldet_part_on(t) for t in TASKS}
        x = self.extract_feat(batch_inputs)
        if not any(on.values()) or not self._kd_due():
            return self.bbox_head.loss(x, batch_data_samples)
        gt, gt_ignore, metas = unpack_gt_instances(batch_data_samples)
        split = self._eldet_split()
        outs, s_cls_h, s_reg_h = split_forward(self.bbox_head, x, split)
        with captured_targets(self.bbox_head) as captured:
            losses = self.bbox_head.loss_by_feat(*outs, gt, metas, gt_ignore)
        norm = crosskd_normalisers(self.bbox_head, captured["targets"])
        lw = norm["label_weights"]
        # one teacher forward per distinct teacher that a switched-on part needs
        for index in sorted({self.eldet_teacher_index(t) for t in TASKS if on[t]}):
            teacher = self.eldet_teachers[index]
            tasks = [t for t in TASKS if on[t] and self.eldet_teacher_index(t) == index]
            with torch.no_grad():
                t_x = teacher.extract_feat(batch_inputs)
                t_outs, t_cls_h, t_reg_h = split_forward(teacher.bbox_head, t_x, split, reg="loc" in tasks)
                t_logits = flatten_logits(teacher.bbox_head, t_outs[0])
            c_cls, c_reg = cross_forward(
                teacher.bbox_head, s_cls_h, s_reg_h, t_cls_h, t_reg_h, split, cls="cls" in tasks, reg="loc" in tasks
            )
            scale = self._kd_scale()
            if "cls" in tasks:
                w = self._kd_weight("cls", K.DENSE_CLS_WEIGHT) * scale
                losses["loss_cls_kd"] = w * K.crosskd_dense_cls_loss(
                    flatten_logits(teacher.bbox_head, c_cls), t_logits, label_weights=lw, avg_factor=norm["cls_avg"]
                )
            if "loc" in tasks:
                w = self._kd_weight("loc", K.DENSE_LOC_WEIGHT) * scale
                with torch.no_grad():
                    t_boxes = decode_boxes(teacher.bbox_head, t_outs[1])
                c_boxes = decode_boxes(teacher.bbox_head, c_reg)
                loc_avg = norm["loc_avg"]
                if loc_avg is None:  # GFL: the sum of the masked teacher weights (CrossKD's kd_avg_factor)
                    loc_avg = K.dense_teacher_weight(t_logits, lw).sum().clamp(min=1e-6)
                losses["loss_loc_kd"] = w * K.crosskd_dense_loc_loss(
                    c_boxes, t_boxes, t_logits, label_weights=lw, avg_factor=loc_avg
                )
        return losses


@MODELS.register_module()
class ELDETRetinaNet(ELDETDenseMixin, RetinaNet):
    """RetinaNet + ELDET (see the module docstring)."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)


@MODELS.register_module()
class ELDETFCOS(ELDETDenseMixin, FCOS):
    """FCOS + ELDET (centerness is not distilled: CrossKD distils the cls and box outputs only)."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)


@MODELS.register_module()
class ELDETGFL(ELDETDenseMixin, GFL):
    """GFL + ELDET (box distributions distilled through their decoded boxes; see losses.crosskd)."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)


# ------------------------------------------------------------------------------ two-stage
@MODELS.register_module()
class ELDETStandardRoIHead(StandardRoIHead):
    """StandardRoIHead that keeps the last training batch's RoIs and RoI features for the distiller."""

    def bbox_loss(self, x, sampling_results) -> dict:
        from mmdet.structures.bbox import bbox2roi

        results = super().bbox_loss(x, sampling_results)
        self.eldet_last = {
            "rois": bbox2roi([res.priors for res in sampling_results]),
            "bbox_feats": results["bbox_feats"],
        }
        return results


@MODELS.register_module()
class ELDETFasterRCNN(ELDETMixin, FasterRCNN):
    """Faster R-CNN + ELDET: CrossKD on the RoI box head (teacher's box head on the student's RoI
    features of the student's sampled RoIs; the teacher's own prediction from its own features on the
    same RoIs). The RPN is not distilled (as in CrossKD's Faster R-CNN)."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        losses = super().loss(batch_inputs, batch_data_samples)
        on = {t: self.eldet_part_on(t) for t in TASKS}
        if not any(on.values()) or not self._kd_due():
            return losses
        last = self.roi_head.eldet_last
        rois, feats = last["rois"], last["bbox_feats"]
        for index in sorted({self.eldet_teacher_index(t) for t in TASKS if on[t]}):
            teacher = self.eldet_teachers[index]
            tasks = [t for t in TASKS if on[t] and self.eldet_teacher_index(t) == index]
            with torch.no_grad():
                t_res = teacher.roi_head._bbox_forward(teacher.extract_feat(batch_inputs), rois)
            c_cls, c_reg = teacher.roi_head.bbox_head(feats)
            if "cls" in tasks:
                w = self._kd_weight("cls", K.ROI_CLS_WEIGHT) * self._kd_scale()
                temp = self.eldet_cfg.get("kd_temperature") or K.ROI_TEMPERATURE
                losses["loss_cls_kd"] = w * K.crosskd_roi_cls_loss(c_cls, t_res["cls_score"], temp)
            if "loc" in tasks:
                w = self._kd_weight("loc", K.ROI_LOC_WEIGHT) * self._kd_scale()
                losses["loss_loc_kd"] = w * K.crosskd_roi_loc_loss(c_reg, t_res["bbox_pred"], t_res["cls_score"])
        return losses


MODEL_TYPES = {
    "RetinaNet": "ELDETRetinaNet",
    "FCOS": "ELDETFCOS",
    "GFL": "ELDETGFL",
    "FasterRCNN": "ELDETFasterRCNN",
}
"""mmdet detector type -> its ELDET subclass."""

__all__ = ["MODEL_TYPES", "align_scale", "cross_forward", "decode_boxes", "flatten_logits", "split_forward"]
