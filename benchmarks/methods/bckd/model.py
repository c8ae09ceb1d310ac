"""BCKD student detectors: an mmdet detector plus a frozen teacher cell and the BCKD loss terms.

Registered types (``cfg.model.type``): ``BCKDRetinaNet``, ``BCKDFCOS``, ``BCKDGFL``, ``BCKDATSS``
(dense) and ``BCKDFasterRCNN`` (two-stage). Each is the mmdet class with :class:`BCKDMixin` in front;
the extra constructor argument ``bckd`` holds the teacher paths and the loss parameters.

Training step (:meth:`BCKDMixin.loss`): the student's own detection losses are computed exactly as
mmdet does, while the head's ``forward`` / ``get_targets`` calls are recorded (no second forward or
label assignment); the teacher runs on the same preprocessed batch under ``no_grad`` in eval mode;
then, per distilled head,

* ``loss_bckd_cls = alpha_1 * sum_i sum_j |p_t - p_s| * BCE(p_s, p_t) / N_pos``    (Eqs. 6-8)
* ``loss_bckd_loc = alpha_2 * sum_i max_j |p_t - p_s| * (1 - GIoU(b_s, b_t)) / N_pos``  (Eq. 9)

over every location of every FPN level, with ``N_pos`` the number of locations the student's
assigner made positive (at least 1, averaged over processes), as in the released BCKD code (see
:mod:`benchmarks.methods.bckd.losses` for the equations and the GIoU/IoU choice).

Faster R-CNN (not in the BCKD paper, whose tables are dense detectors only; our extension):

* RPN: a dense sigmoid anchor head, distilled exactly like RetinaNet (K = 1 objectness map),
  normalised by the RPN's positive anchors. Keys ``loss_rpn_bckd_cls`` / ``loss_rpn_bckd_loc``.
* RoI head (``distill_roi``): the teacher's RoI head is run on the student's *sampled* RoIs (the
  ones the student's RoI losses use) with the teacher's FPN features. Its classifier is a softmax
  over K + 1 classes; BCKD's binary view is applied to those K + 1 probabilities (each class a
  binary map, ``logit(p)`` fed to the same loss, so ``sigmoid`` gives back ``p``). The box of
  the teacher's most likely foreground class is decoded for both models (class-specific
  regression) and compared with GIoU, weighted by the largest gap over the K + 1 probabilities.
  Both terms are averaged over the sampled RoIs, like the RoI head's own cross-entropy.
  Keys ``loss_roi_bckd_cls`` / ``loss_roi_bckd_loc``.

Teacher and student must share the head's prior layout (same strides, anchors, number of
classes): the losses compare location ``i`` of one with location ``i`` of the other. A mismatch
is reported with both shapes.
"""

from __future__ import annotations

import contextlib

import torch
from mmdet.models.detectors import ATSS, FCOS, GFL, FasterRCNN, RetinaNet
from mmdet.registry import MODELS
from mmdet.utils import reduce_mean
from torch import Tensor

from benchmarks.methods.bckd.losses import ALPHA_CLS, ALPHA_LOC, BETA, BCKDClsLoss, BCKDLocLoss
from benchmarks.methods.common.dense_outputs import capture, count_positives, flatten_dense
from benchmarks.methods.common.kd_teacher import TeacherHolder, build_frozen_teacher

BCKD_KEYS = ("teacher_config", "teacher_weights", "alpha_cls", "alpha_loc", "beta", "loc_mode", "distill_roi")


def _logit_of_probs(log_p: Tensor, eps: float = 1e-6) -> Tensor:
    """``logit(p)`` from ``log p``, so that ``sigmoid`` of the result is ``p`` (clamped away from 0, 1)."""
    p = log_p.exp().clamp(eps, 1.0 - eps)
    return torch.log(p) - torch.log1p(-p)


class BCKDMixin(TeacherHolder):
    """Adds a frozen teacher and BCKD's distillation losses to an mmdet detector (see module doc)."""

    def __init__(self, *args, bckd: dict, **kwargs):
        super().__init__(*args, **kwargs)
        unknown = set(bckd) - set(BCKD_KEYS)
        if unknown:
            raise ValueError(f"bckd: unknown keys {sorted(unknown)}")
        self.bckd_cfg = dict(bckd)
        beta = float(bckd.get("beta", BETA))
        self.loss_bckd_cls = BCKDClsLoss(loss_weight=float(bckd.get("alpha_cls", ALPHA_CLS)), beta=beta)
        self.loss_bckd_loc = BCKDLocLoss(
            loss_weight=float(bckd.get("alpha_loc", ALPHA_LOC)), mode=bckd.get("loc_mode", "giou"), beta=beta
        )
        preproc = kwargs.get("data_preprocessor")
        self._set_teacher(
            build_frozen_teacher(bckd["teacher_config"], bckd["teacher_weights"], dict(preproc) if preproc else None)
        )

    # which heads are distilled: dense detectors their bbox_head, Faster R-CNN its RPN (+ RoI head)
    def _kd_dense_heads(self) -> tuple[str, ...]:
        return ("rpn_head",) if hasattr(self, "rpn_head") else ("bbox_head",)

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        dense = self._kd_dense_heads()
        roi = hasattr(self, "roi_head") and bool(self.bckd_cfg.get("distill_roi", True))
        with contextlib.ExitStack() as stack:
            outs = {n: stack.enter_context(capture(getattr(self, n), "forward")) for n in dense}
            tgts = {n: stack.enter_context(capture(getattr(self, n), "get_targets")) for n in dense}
            roi_calls = stack.enter_context(capture(self.roi_head, "_bbox_forward")) if roi else None
            losses = super().loss(batch_inputs, batch_data_samples)
        teacher = self._teacher_on(batch_inputs.device)
        with torch.no_grad():
            t_feats = teacher.extract_feat(batch_inputs)
        for name in dense:
            prefix = "loss_rpn_bckd" if name == "rpn_head" else "loss_bckd"
            s_head, t_head = getattr(self, name), getattr(teacher, name)
            with torch.no_grad():
                t_out = t_head(t_feats)
            losses.update(self._dense_terms(prefix, s_head, outs[name][-1][2], t_head, t_out, tgts[name][-1][2]))
        if roi:
            (s_feats, rois), _, s_res = roi_calls[-1]
            with torch.no_grad():
                t_res = teacher.roi_head._bbox_forward(t_feats, rois)
            losses.update(self._roi_terms(rois, s_res, t_res))
        return losses

    def _dense_terms(self, prefix: str, s_head, s_out, t_head, t_out, targets) -> dict:
        s_logits, s_boxes = flatten_dense(s_head, s_out[0], s_out[1])
        t_logits, t_boxes = flatten_dense(t_head, t_out[0], t_out[1])
        if s_logits.shape != t_logits.shape:
            raise RuntimeError(
                f"BCKD: teacher head gives {tuple(t_logits.shape)} logits (batch, locations, classes), the student "
                f"{tuple(s_logits.shape)}; teacher and student need the same priors and classes"
            )
        k = s_logits.shape[-1]
        num_pos = max(float(reduce_mean(count_positives(s_head, targets))), 1.0)
        s_logits, t_logits = s_logits.reshape(-1, k), t_logits.reshape(-1, k)
        return {
            f"{prefix}_cls": self.loss_bckd_cls(s_logits, t_logits, avg_factor=num_pos),
            f"{prefix}_loc": self.loss_bckd_loc(
                s_boxes.reshape(-1, 4), t_boxes.reshape(-1, 4), avg_factor=num_pos,
                pred_logits=s_logits, target_logits=t_logits,
            ),
        }  # fmt: skip

    def _roi_terms(self, rois: Tensor, s_res: dict, t_res: dict) -> dict:
        bbox_head = self.roi_head.bbox_head
        s_cls, t_cls = s_res["cls_score"], t_res["cls_score"]
        if s_cls.shape != t_cls.shape:
            raise RuntimeError(f"BCKD: teacher RoI scores {tuple(t_cls.shape)} != student {tuple(s_cls.shape)}")
        s_logit = _logit_of_probs(torch.log_softmax(s_cls, dim=-1))
        t_logit = _logit_of_probs(torch.log_softmax(t_cls, dim=-1))
        num_fg = s_cls.shape[-1] - 1
        n = rois.shape[0]
        terms = {"loss_roi_bckd_cls": self.loss_bckd_cls(s_logit, t_logit)}
        if bbox_head.reg_class_agnostic:
            s_delta, t_delta = s_res["bbox_pred"], t_res["bbox_pred"]
        else:
            cls = t_cls[:, :num_fg].argmax(dim=-1)
            pick = cls[:, None, None].expand(-1, 1, 4)
            s_delta = s_res["bbox_pred"].reshape(n, num_fg, 4).gather(1, pick).squeeze(1)
            t_delta = t_res["bbox_pred"].reshape(n, num_fg, 4).gather(1, pick).squeeze(1)
        priors = rois[:, 1:]
        s_box = bbox_head.bbox_coder.decode(priors, s_delta)
        t_box = bbox_head.bbox_coder.decode(priors, t_delta)
        terms["loss_roi_bckd_loc"] = self.loss_bckd_loc(s_box, t_box, pred_logits=s_logit, target_logits=t_logit)
        return terms


@MODELS.register_module()
class BCKDRetinaNet(BCKDMixin, RetinaNet):
    """RetinaNet student with BCKD (paper Table 2)."""


@MODELS.register_module()
class BCKDFCOS(BCKDMixin, FCOS):
    """FCOS student with BCKD (paper Table 2)."""


@MODELS.register_module()
class BCKDGFL(BCKDMixin, GFL):
    """GFL student with BCKD (paper Tables 1, 3-6)."""


@MODELS.register_module()
class BCKDATSS(BCKDMixin, ATSS):
    """ATSS student with BCKD (an ATSS-style dense head, as GFL's assigner)."""


@MODELS.register_module()
class BCKDFasterRCNN(BCKDMixin, FasterRCNN):
    """Faster R-CNN student with BCKD on the RPN and the RoI head (our extension, see module doc)."""


#: mmdet model type -> the registered BCKD subclass (what ``plugin.use_variant`` swaps in)
MODEL_TYPES = {
    "RetinaNet": "BCKDRetinaNet",
    "FCOS": "BCKDFCOS",
    "GFL": "BCKDGFL",
    "ATSS": "BCKDATSS",
    "FasterRCNN": "BCKDFasterRCNN",
}
