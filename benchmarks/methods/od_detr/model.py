"""OD-DETR's online distillation on mmdet's Deformable DETR: ``ODDeformableDETR`` and its EMA hook.

The model holds its EMA teacher as the submodule ``ema_teacher`` (a plain ``DeformableDETR`` of
the same config, frozen, in the state dict: it is checkpointed and survives a resume). Every
training step (OD-DETR Sec. 3, Fig. 2):

1. the teacher (eval mode, no grad) predicts B' on the batch at every decoder stage, and its
   predictions are matched to the GT with the same Hungarian matcher;
2. **matching distillation** (MD, Sec. 3.2): the student's matching-part predictions are matched
   too, and classification uses the multi-target QFL (Eq. 3) with the online and the teacher
   matches, regression the online GT else the teacher GT with the down-weight w_d for the costlier
   of two queries on one GT (Eq. 4) (``benchmarks.methods.od_detr.losses``). Per decoder stage,
   against the teacher's matching at the same stage;
3. **prediction distillation** (PD, Sec. 3.3): the teacher's initial content queries Q' with the
   student's positional queries P ("Q' together with the PE P") and the reference points the
   student computes from P are decoded by the student as an extra group (a self-attention mask
   keeps it and the matching part from seeing each other) and its outputs are pulled to the
   teacher's B' with the TOOD-weighted QFL and the Listen2stu regression (Eq. 5-6);
4. **auxiliary query groups** (AG, Sec. 3.4): from each teacher decoder stage t, the updated
   queries with the two lowest matching costs per GT (``benchmarks.methods.od_detr.groups``)
   form an independent group that the student decodes from its first stage, with the teacher's
   stage-t box centres as reference points (``build_aux_groups`` says how "boxes as anchors" maps
   onto this decoder). Each group is re-matched one-to-one with the GTs and trained with the main
   group's losses including MD (Table 6), logged as ``ag_loss_cls`` / ``ag_loss_bbox`` /
   ``ag_loss_iou`` (summed over the groups; ``d<i>.`` for earlier student stages). Groups see
   neither each other, nor the PD group, nor the matching part, nor are seen by them;
5. the hook ``ODDETRTeacherHook`` updates the teacher after each optimiser step
   (``benchmarks.methods.common.ema``) and stops updating it from the first LR decay on (Stop Update).

Query layout of the student's decoder in training: [PD group (N)] [AG stage 1] ... [AG stage L]
[matching part (N)]; all extra groups are training-only, inference decodes the N queries alone.

Losses use the head's loss weights (cls 2, L1 5, GIoU 2 in the configs here) and are divided by
the number of GT objects in the batch, as the baseline's DETR losses. With ``use_md`` off the
classification is plain QFL on the online matching ("QFL w/o MD"), in the main and the auxiliary
groups; with ``use_pd`` off there is no PD group, with ``use_ag`` off no auxiliary group (and
exactly the loss keys of the model without AG).
"""

from __future__ import annotations

import copy

import torch
from mmdet.models.detectors.deformable_detr import DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps, bbox_xyxy_to_cxcywh
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from benchmarks.methods.common.detr_matching import cost_matrix, hungarian, scale_factor
from benchmarks.methods.common.ema import ema_decay, ema_update
from benchmarks.methods.common.extra_queries import ExtraQueriesDeformableDETR
from benchmarks.methods.od_detr.groups import padded_group_mask, select_group_queries
from benchmarks.methods.od_detr.losses import (
    matching_distillation_targets,
    prediction_distillation_targets,
    qfl,
)
from benchmarks.training.hook_protocol import PRIORITY_EMA_TEACHER

TEACHER = "ema_teacher."


def group_attention_mask(sizes: list[int], device=None) -> torch.Tensor:
    """Self-attention mask of independent query groups: True where query i and j are in different groups."""
    gid = torch.cat([torch.full((s,), k, dtype=torch.long, device=device) for k, s in enumerate(sizes)])
    return gid.unsqueeze(1) != gid.unsqueeze(0)


@MODELS.register_module()
class ODDeformableDETR(ExtraQueriesDeformableDETR):
    """Deformable DETR trained with OD-DETR's online distillation (see the module docstring)."""

    def __init__(self, *args, od_cfg: dict | None = None, **kwargs) -> None:
        cfg = dict(use_md=True, use_pd=True, use_ag=True, ag_per_gt=2, w_d=0.51, alpha=0.25, beta=0.75, qfl_gamma=2.0)
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
    def teacher_outputs(self, batch_inputs, samples) -> dict:
        """The teacher's per-stage predictions, updated queries and initial queries (no grad)."""
        t = self.ema_teacher
        head_in = t.forward_transformer(t.extract_feat(batch_inputs), samples)
        cls, boxes = t.bbox_head(head_in["hidden_states"], head_in["references"])
        c = self.embed_dims
        query_pos, query = torch.split(t.query_embedding.weight, c, dim=1)
        return dict(
            cls=cls,  # (L, bs, N, C) logits
            boxes=boxes,  # (L, bs, N, 4) normalised cxcywh
            hidden=head_in["hidden_states"],  # (L, bs, N, c): the updated queries of each stage
            query=query,
            query_pos=query_pos,
            ref=t.reference_points_fc(query_pos).sigmoid(),
        )

    @torch.no_grad()
    def teacher_matching(self, teacher: dict, samples) -> tuple[list, list]:
        """Matching costs and Hungarian matching of the teacher, ``[stage][image]`` (N, M) / (N,)."""
        assigner = self.bbox_head.assigner
        costs, matches = [], []
        for layer in range(teacher["cls"].shape[0]):
            c_l, m_l = [], []
            for b, s in enumerate(samples):
                c = cost_matrix(
                    assigner, teacher["cls"][layer, b], teacher["boxes"][layer, b], s.gt_instances, s.metainfo
                )
                c_l.append(c)
                m_l.append(hungarian(c).to(c.device))
            costs.append(c_l)
            matches.append(m_l)
        return costs, matches

    @torch.no_grad()
    def build_aux_groups(self, teacher: dict, t_costs: list, t_matches: list) -> list[dict]:
        """One auxiliary group per teacher decoder stage (OD-DETR Sec. 3.4), padded over the batch.

        Stage t's group holds, per image, the queries of :func:`select_group_queries` on the
        teacher's stage-t costs (the matcher's own cost: focal + L1 + GIoU of the train config).
        Every teacher stage gives a group (the paper: "from each decoder stage"; 6 with the paper
        config, 2 with the tiny one), built without grad: no gradient reaches the teacher. Each
        selected query n enters the student's first decoder stage as

        * content query: the teacher's *updated* query of stage t (decoder output t, row n);
        * positional query: the teacher's learned positional query of slot n (Deformable DETR's
          positional queries are learned per slot, not computed from anchors, so the slot's own
          one is the parameter-free choice; it is also what prediction distillation feeds);
        * reference point: the centre (cx, cy) of the teacher's stage-t box of query n. This is how
          "boxes as anchors" maps onto single-stage Deformable DETR without box refinement: its
          anchors are 2-d reference points, which the head adds (as ``inverse_sigmoid``) to its
          (cx, cy) regression, so an AG query starts from the teacher box's centre; w and h of the
          box have no anchor to go to (the head regresses them absolutely).

        Returns dicts with ``query``, ``query_pos``, ``reference_points`` (bs, W, .), ``valid``
        (bs, W), ``counts`` (real queries per image, at the front of each image's slots) and
        ``teacher_match`` (bs, W): the teacher's stage-t GT of each slot (-1 none or padding), the
        "original matching" of MD. Stages whose group is empty for the whole batch are left out.
        """
        per_gt = int(self.od_cfg["ag_per_gt"])
        c = self.embed_dims
        groups = []
        for t, (costs, matches) in enumerate(zip(t_costs, t_matches)):
            picks = [select_group_queries(cost, per_gt) for cost in costs]
            w = max((len(p) for p in picks), default=0)
            if w == 0:
                continue
            bs = len(picks)
            hidden, boxes = teacher["hidden"][t], teacher["boxes"][t]
            query = hidden.new_zeros(bs, w, c)
            query_pos = hidden.new_zeros(bs, w, c)
            ref = hidden.new_full((bs, w, 2), 0.5)
            valid = torch.zeros(bs, w, dtype=torch.bool, device=hidden.device)
            t_match = torch.full((bs, w), -1, dtype=torch.long, device=hidden.device)
            for b, idx in enumerate(picks):
                k = len(idx)
                query[b, :k] = hidden[b, idx]
                query_pos[b, :k] = teacher["query_pos"][idx]
                ref[b, :k] = boxes[b, idx, :2]
                valid[b, :k] = True
                t_match[b, :k] = matches[b][idx]
            counts = [len(p) for p in picks]
            groups.append(
                dict(stage=t, query=query, query_pos=query_pos, reference_points=ref, valid=valid,
                     counts=counts, teacher_match=t_match)
            )  # fmt: skip
        return groups

    def extra_queries(self, teacher: dict, groups: list[dict], bs: int, device) -> dict | None:
        """PD group (the teacher's initial queries) and AG groups in front of the N matching queries."""
        n = self.num_queries
        parts, sizes, valid = [], [], []
        if self.od_cfg["use_pd"]:
            # Sec. 3.3: "the EMA queries Q' together with the PE P and image feature F" into the
            # student decoder: the teacher's content queries with the *student's* positional
            # queries P and the reference points the student derives from them (Deformable DETR's
            # reference points are a function of P), so the PD group differs from the matching part
            # only by its content queries
            s_pos, _ = torch.split(self.query_embedding.weight, self.embed_dims, dim=1)
            s_ref = self.reference_points_fc(s_pos).sigmoid()
            parts.append(
                (
                    teacher["query"].unsqueeze(0).expand(bs, -1, -1),
                    s_pos.unsqueeze(0).expand(bs, -1, -1),
                    s_ref.unsqueeze(0).expand(bs, -1, -1),
                )
            )
            sizes.append(n)
            valid.append(torch.ones(bs, n, dtype=torch.bool, device=device))
        for g in groups:
            parts.append((g["query"], g["query_pos"], g["reference_points"]))
            sizes.append(g["valid"].shape[1])
            valid.append(g["valid"])
        if not parts:
            return None
        sizes.append(n)
        valid.append(torch.ones(bs, n, dtype=torch.bool, device=device))
        if groups:  # per-image padding: a 3-d mask, one copy per attention head
            heads = self.decoder.layers[0].self_attn.num_heads
            mask = padded_group_mask(sizes, torch.cat(valid, dim=1)).repeat_interleave(heads, dim=0)
        else:
            mask = group_attention_mask(sizes, device=device)
        return dict(
            query=torch.cat([p[0] for p in parts], dim=1),
            query_pos=torch.cat([p[1] for p in parts], dim=1),
            reference_points=torch.cat([p[2] for p in parts], dim=1),
            attn_mask=mask,
            num_extra=sum(sizes[:-1]),
        )

    def loss(self, batch_inputs, batch_data_samples) -> dict:
        cfg = self.od_cfg
        teacher = self.teacher_outputs(batch_inputs, batch_data_samples)
        t_costs, t_matches = self.teacher_matching(teacher, batch_data_samples)
        groups = self.build_aux_groups(teacher, t_costs, t_matches) if cfg["use_ag"] else []
        bs, n = len(batch_data_samples), self.num_queries
        extra = self.extra_queries(teacher, groups, bs, batch_inputs.device)
        head_in = self.forward_transformer(self.extract_feat(batch_inputs), batch_data_samples, extra_queries=extra)
        cls, boxes = self.bbox_head(head_in["hidden_states"], head_in["references"])
        k = extra["num_extra"] if extra is not None else 0
        pd_k = n if cfg["use_pd"] else 0
        losses = {}
        num_layers = cls.shape[0]
        num_gts = max(sum(len(s.gt_instances) for s in batch_data_samples), 1)
        for layer in range(num_layers):
            prefix = "" if layer == num_layers - 1 else f"d{layer}."
            t_layer = dict(cls=teacher["cls"][layer], boxes=teacher["boxes"][layer], match=t_matches[layer])
            md, pd = self.layer_losses(cls[layer], boxes[layer], t_layer, k, pd_k, batch_data_samples, num_gts)
            losses.update({f"{prefix}{name}": v for name, v in md.items()})
            if pd:
                losses.update({f"{prefix}pd_{name}": v for name, v in pd.items()})
            if cfg["use_ag"]:
                ag = self.ag_losses(cls[layer], boxes[layer], groups, pd_k, batch_data_samples, num_gts)
                losses.update({f"{prefix}ag_{name}": v for name, v in ag.items()})
        return losses

    def md_losses(self, s_cls, s_box, t_match, gt, meta, num_gts) -> dict:
        """Matching-distillation losses (Eq. 3-4) of one image's queries, online matching recomputed."""
        cfg, head = self.od_cfg, self.bbox_head
        w_cls, w_l1, w_iou = head.loss_cls.loss_weight, head.loss_bbox.loss_weight, head.loss_iou.loss_weight
        factor = scale_factor(meta, s_box)
        zero = s_cls.sum() * 0
        out = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero)
        with torch.no_grad():
            cost = cost_matrix(head.assigner, s_cls, s_box, gt, meta)
            online = hungarian(cost).to(s_cls.device)
            s_xyxy = bbox_cxcywh_to_xyxy(s_box) * factor
            ious = bbox_overlaps(s_xyxy, gt.bboxes) if len(gt) else s_box.new_zeros(len(s_box), 0)
        cls_t, reg_gt, reg_w = matching_distillation_targets(
            online, t_match, gt.labels, ious, cost, s_cls.shape[-1], cfg["w_d"], cfg["use_md"]
        )
        out["loss_cls"] = w_cls * qfl(s_cls, cls_t, cfg["qfl_gamma"]) / num_gts
        q = torch.nonzero(reg_w > 0).flatten()
        if q.numel():
            tgt_xyxy = gt.bboxes[reg_gt[q]]
            l1, giou = self._box_losses(s_box[q], bbox_xyxy_to_cxcywh(tgt_xyxy / factor), factor, reg_w[q])
            out["loss_bbox"] = w_l1 * l1 / num_gts
            out["loss_iou"] = w_iou * giou / num_gts
        return out

    def ag_losses(self, cls, boxes, groups, offset, samples, num_gts) -> dict:
        """Auxiliary-group losses of one student decoder stage, summed over the groups (L_aux of Eq. 7).

        Each group is re-matched one-to-one with the GTs and trained with the main group's
        losses, matching distillation included (Table 6 "MD"): the teacher's "original matching"
        of a selected query is its stage-t Hungarian GT (the stage it was selected from), for
        every student stage. Each group is normalised by the batch's GT count, as the main group.
        """
        zero = cls.sum() * 0
        out = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero)
        start = offset
        for g in groups:
            for b, sample in enumerate(samples):
                cnt = g["counts"][b]
                if not cnt:
                    continue
                sl = slice(start, start + cnt)
                part = self.md_losses(
                    cls[b, sl], boxes[b, sl], g["teacher_match"][b, :cnt], sample.gt_instances, sample.metainfo, num_gts
                )
                out = {name: out[name] + part[name] for name in out}
            start += g["valid"].shape[1]
        return out

    def layer_losses(self, cls, boxes, teacher: dict, k, pd_k, samples, num_gts):
        """Matching-distillation and prediction-distillation losses of one decoder stage.

        ``teacher`` holds the teacher's ``cls``, ``boxes`` (bs, N, .) and Hungarian ``match`` (per
        image) at the same stage; the matching queries are ``[k:]``, the PD group ``[:pd_k]``.
        """
        cfg, head = self.od_cfg, self.bbox_head
        w_cls, w_l1, w_iou = head.loss_cls.loss_weight, head.loss_bbox.loss_weight, head.loss_iou.loss_weight
        zero = cls.sum() * 0
        md = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero)
        pd = dict(loss_cls=zero, loss_bbox=zero, loss_iou=zero) if pd_k else {}
        t_cls, t_boxes = teacher["cls"], teacher["boxes"]
        for b, sample in enumerate(samples):
            gt, meta = sample.gt_instances, sample.metainfo
            t_match = teacher["match"][b]
            part = self.md_losses(cls[b, k:], boxes[b, k:], t_match, gt, meta, num_gts)
            md = {name: md[name] + part[name] for name in md}
            if not pd_k:
                continue
            factor = scale_factor(meta, boxes)
            p_cls, p_box = cls[b, :pd_k], boxes[b, :pd_k]
            with torch.no_grad():
                t_xyxy = bbox_cxcywh_to_xyxy(t_boxes[b]) * factor
                p_xyxy = bbox_cxcywh_to_xyxy(p_box) * factor
                g = t_match.clamp(min=0)
                has = len(gt) > 0
                t_iou = bbox_overlaps(t_xyxy, gt.bboxes[g], is_aligned=True) if has else t_xyxy.new_zeros(pd_k)
                p_iou = bbox_overlaps(p_xyxy, gt.bboxes[g], is_aligned=True) if has else t_xyxy.new_zeros(pd_k)
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

    priority = PRIORITY_EMA_TEACHER

    def __init__(self, decay: float = 0.9996, tau: float = 0.0, stop_epoch: int | None = None):
        self.decay, self.tau, self.stop_epoch = float(decay), float(tau), stop_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.stop_epoch is not None and runner.epoch >= self.stop_epoch:
            return
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        model.update_teacher(self.decay, self.tau)


#: mmdet model type -> the registered subclass (what ``plugin.use_variant`` swaps in)
MODEL_TYPES = {"DeformableDETR": "ODDeformableDETR"}
