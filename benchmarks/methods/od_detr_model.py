"""OD-DETR's online distillation on mmdet's Deformable DETR: ``ODDeformableDETR`` and its EMA hook.

The model holds its EMA teacher as the submodule ``ema_teacher`` (a plain ``DeformableDETR`` of
the same config, frozen, in the state dict: it is checkpointed and survives a resume). Every
training step (OD-DETR Sec. 3, Fig. 2):

1. the teacher (eval mode, no grad) predicts B' on the batch at every decoder stage, and its
   predictions are matched to the GT with the same Hungarian matcher;
2. **matching distillation** (MD, Sec. 3.2): the student's matching-part predictions are matched
   too, and classification uses the multi-target QFL (Eq. 3) with the online and the teacher
   matches, regression the online GT else the teacher GT with the down-weight w_d for the costlier
   of two queries on one GT (Eq. 4) (``benchmarks.methods.losses.od_detr``). Per decoder stage,
   against the teacher's matching at the same stage;
3. **prediction distillation** (PD, Sec. 3.3): the teacher's initial queries Q' (content,
   positional query and reference points) are decoded by the student as an extra group (a
   self-attention mask keeps it and the matching part from seeing each other) and its outputs are
   pulled to the teacher's B' with the TOOD-weighted QFL and the Listen2stu regression (Eq. 5-6);
4. the hook ``ODDETRTeacherHook`` updates the teacher after each optimiser step
   (``benchmarks.methods.ema``) and stops updating it from the first LR decay on (Stop Update).

Losses use the head's loss weights (cls 2, L1 5, GIoU 2 in the configs here) and are divided by
the number of GT objects in the batch, as the baseline's DETR losses. With ``use_md`` off the
classification is plain QFL on the online matching ("QFL w/o MD"); with ``use_pd`` off there is no
extra group. The auxiliary query groups (AG, Sec. 3.4) are not implemented.
"""

from __future__ import annotations

import copy

import torch
from mmdet.models.detectors.deformable_detr import DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps, bbox_xyxy_to_cxcywh
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from benchmarks.methods.detr_matching import cost_matrix, hungarian, scale_factor
from benchmarks.methods.dn_detr_model import ExtraQueriesDeformableDETR
from benchmarks.methods.ema import ema_decay, ema_update
from benchmarks.methods.losses.od_detr import (
    matching_distillation_targets,
    prediction_distillation_targets,
    qfl,
)

TEACHER = "ema_teacher."


def group_attention_mask(sizes: list[int], device=None) -> torch.Tensor:
    """Self-attention mask of independent query groups: True where query i and j are in different groups."""
    gid = torch.cat([torch.full((s,), k, dtype=torch.long, device=device) for k, s in enumerate(sizes)])
    return gid.unsqueeze(1) != gid.unsqueeze(0)


@MODELS.register_module()
class ODDeformableDETR(ExtraQueriesDeformableDETR):
    """Deformable DETR trained with OD-DETR's online distillation (see the module docstring)."""

    def __init__(self, *args, od_cfg: dict | None = None, **kwargs) -> None:
        cfg = dict(use_md=True, use_pd=True, w_d=0.51, alpha=0.25, beta=0.75, qfl_gamma=2.0)
        cfg.update(od_cfg or {})
        self.od_cfg = cfg
        teacher_kwargs = copy.deepcopy(kwargs)  # DeformableDETR.__init__ edits bbox_head in place
        super().__init__(*args, **kwargs)
        self.ema_teacher = DeformableDETR(*copy.deepcopy(args), **teacher_kwargs)
        self.ema_teacher.requires_grad_(False)
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))

    def init_weights(self) -> None:
        super().init_weights()
        self.ema_teacher.load_state_dict(self.student_state())

    def student_state(self) -> dict:
        """The student's tensors under the teacher's names."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(TEACHER) and k != "ema_steps"}

    def train(self, mode: bool = True):
        super().train(mode)
        self.ema_teacher.eval()  # the teacher never trains: no dropout in its predictions
        return self

    @torch.no_grad()
    def update_teacher(self, decay: float, tau: float) -> None:
        """One EMA step of the teacher towards the student."""
        self.ema_steps += 1
        ema_update(self.ema_teacher, self.student_state(), ema_decay(int(self.ema_steps), decay, tau))

    # -- training ---------------------------------------------------------------------------
    @torch.no_grad()
    def teacher_outputs(self, batch_inputs, samples):
        t = self.ema_teacher
        head_in = t.forward_transformer(t.extract_feat(batch_inputs), samples)
        cls, boxes = t.bbox_head(head_in["hidden_states"], head_in["references"])
        c = self.embed_dims
        query_pos, query = torch.split(t.query_embedding.weight, c, dim=1)
        return cls, boxes, (query, query_pos, t.reference_points_fc(query_pos).sigmoid())

    def loss(self, batch_inputs, batch_data_samples) -> dict:
        cfg = self.od_cfg
        t_cls, t_boxes, (tq, tq_pos, t_ref) = self.teacher_outputs(batch_inputs, batch_data_samples)
        bs, n = len(batch_data_samples), self.num_queries
        extra = None
        if cfg["use_pd"]:
            extra = dict(
                query=tq.unsqueeze(0).expand(bs, -1, -1),
                query_pos=tq_pos.unsqueeze(0).expand(bs, -1, -1),
                reference_points=t_ref.unsqueeze(0).expand(bs, -1, -1),
                attn_mask=group_attention_mask([n, n], device=batch_inputs.device),
            )
        head_in = self.forward_transformer(self.extract_feat(batch_inputs), batch_data_samples, extra_queries=extra)
        cls, boxes = self.bbox_head(head_in["hidden_states"], head_in["references"])
        k = n if extra is not None else 0
        losses = {}
        num_layers = cls.shape[0]
        num_gts = max(sum(len(s.gt_instances) for s in batch_data_samples), 1)
        for layer in range(num_layers):
            prefix = "" if layer == num_layers - 1 else f"d{layer}."
            md, pd = self.layer_losses(
                cls[layer], boxes[layer], t_cls[layer], t_boxes[layer], k, batch_data_samples, num_gts
            )
            losses.update({f"{prefix}{name}": v for name, v in md.items()})
            if pd:
                losses.update({f"{prefix}pd_{name}": v for name, v in pd.items()})
        return losses

    def layer_losses(self, cls, boxes, t_cls, t_boxes, k, samples, num_gts):
        """Matching-distillation and prediction-distillation losses of one decoder stage."""
        cfg, head = self.od_cfg, self.bbox_head
        assigner = head.assigner
        w_cls, w_l1, w_iou = head.loss_cls.loss_weight, head.loss_bbox.loss_weight, head.loss_iou.loss_weight
        zero = cls.sum() * 0
        md = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero)
        pd = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero) if k else {}
        for b, sample in enumerate(samples):
            gt, meta = sample.gt_instances, sample.metainfo
            factor = scale_factor(meta, boxes)
            s_cls, s_box = cls[b, k:], boxes[b, k:]
            with torch.no_grad():
                t_match = hungarian(cost_matrix(assigner, t_cls[b], t_boxes[b], gt, meta)).to(cls.device)
                cost = cost_matrix(assigner, s_cls, s_box, gt, meta)
                online = hungarian(cost).to(cls.device)
                s_xyxy = bbox_cxcywh_to_xyxy(s_box) * factor
                ious = bbox_overlaps(s_xyxy, gt.bboxes) if len(gt) else s_box.new_zeros(len(s_box), 0)
            cls_t, reg_gt, reg_w = matching_distillation_targets(
                online, t_match, gt.labels, ious, cost, cls.shape[-1], cfg["w_d"], cfg["use_md"]
            )
            md["loss_cls"] = md["loss_cls"] + w_cls * qfl(s_cls, cls_t, cfg["qfl_gamma"]) / num_gts
            q = torch.nonzero(reg_w > 0).flatten()
            if q.numel():
                tgt_xyxy = gt.bboxes[reg_gt[q]]
                l1, giou = self._box_losses(s_box[q], bbox_xyxy_to_cxcywh(tgt_xyxy / factor), factor, reg_w[q])
                md["loss_bbox"] = md["loss_bbox"] + w_l1 * l1 / num_gts
                md["loss_iou"] = md["loss_iou"] + w_iou * giou / num_gts
            if not k:
                continue
            p_cls, p_box = cls[b, :k], boxes[b, :k]
            with torch.no_grad():
                t_xyxy = bbox_cxcywh_to_xyxy(t_boxes[b]) * factor
                p_xyxy = bbox_cxcywh_to_xyxy(p_box) * factor
                g = t_match.clamp(min=0)
                has = len(gt) > 0
                t_iou = bbox_overlaps(t_xyxy, gt.bboxes[g], is_aligned=True) if has else t_xyxy.new_zeros(k)
                p_iou = bbox_overlaps(p_xyxy, gt.bboxes[g], is_aligned=True) if has else t_xyxy.new_zeros(k)
                pd_t, pd_w = prediction_distillation_targets(
                    t_cls[b].sigmoid(), t_match, gt.labels, t_iou, p_iou, cfg["alpha"], cfg["beta"]
                )
            pd["loss_cls"] = pd["loss_cls"] + w_cls * qfl(p_cls, pd_t, cfg["qfl_gamma"]) / num_gts
            q = torch.nonzero(pd_w > 0).flatten()
            if q.numel():
                l1, giou = self._box_losses(p_box[q], t_boxes[b, q], factor, pd_w[q])
                pd["loss_bbox"] = pd["loss_bbox"] + w_l1 * l1 / num_gts
                pd["loss_iou"] = pd["loss_iou"] + w_iou * giou / num_gts
        return md, pd

    @staticmethod
    def _box_losses(pred, target, factor, weight):
        """Weighted sums of the L1 (normalised cx, cy, w, h) and GIoU (pixels) losses."""
        l1 = ((pred - target).abs().sum(-1) * weight).sum()
        giou = bbox_overlaps(
            bbox_cxcywh_to_xyxy(pred) * factor, bbox_cxcywh_to_xyxy(target) * factor, mode="giou", is_aligned=True
        )
        return l1, ((1 - giou) * weight).sum()


@HOOKS.register_module()
class ODDETRTeacherHook(Hook):
    """EMA update of ``ODDeformableDETR.ema_teacher`` after every step, until ``stop_epoch``.

    ``stop_epoch`` (0-based epoch index) is the first epoch trained at the decayed LR (OD-DETR's
    Stop Update, Table 5); None updates throughout.
    """

    priority = "ABOVE_NORMAL"

    def __init__(self, decay: float = 0.9996, tau: float = 2000.0, stop_epoch: int | None = None):
        self.decay, self.tau, self.stop_epoch = float(decay), float(tau), stop_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.stop_epoch is not None and runner.epoch >= self.stop_epoch:
            return
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        model.update_teacher(self.decay, self.tau)
