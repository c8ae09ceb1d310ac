"""ELDET on DETR detectors: ``ELDETDeformableDETR`` and ``ELDETDINO`` (+ ``ELDETDINOHead``).

The ELDET rebuttal (``papers/eldet_openreview_discussion.txt``) applies ELDET to Deformable DETR
"with CrossKD" and to DINO "in place of query denoising", without saying how CrossKD's cross head
maps onto a DETR. Everything but the distillation is the dense ELDET's (:mod:`benchmarks.methods.eldet.model`'s
``ELDETMixin``: EMA teachers frozen at the transition, ``eldet_on`` switches set by
:mod:`benchmarks.methods.eldet.hooks` from the CA/GTBA probes, ``kd_interval``, per-task teachers).

**Our adaptation of CrossKD to a DETR.** CrossKD feeds the student's intermediate head features
through the teacher's remaining head layers. In a DETR the "head features" are the decoder's output
embeddings and the "remaining layers" are the prediction branches, so:

* cross prediction: the student's decoder output embeddings of the last decoder layer (every layer
  with ``kd_all_layers``) go through the TEACHER's ``cls_branches`` / ``reg_branches`` of that layer,
  the box added to the student's reference of that layer (exactly the head's own forward);
* target: the teacher's own prediction for the SAME queries. Queries of two decoders do not
  correspond one-to-one (a query's slot means nothing outside its decoder; Hungarian-matching the
  two prediction sets would make the target depend on a brittle assignment). So, as KD-DETR's
  "consistent distillation points" (Wang et al., CVPR 2024, the rebuttal's [1]), the frozen
  teacher's decoder is run on the teacher's own encoder memory with the STUDENT's initial decoder
  inputs of this pass: content query, positional query and reference points (Deformable DETR: the
  learned query embedding and ``reference_points_fc`` of the student; DINO: the student's learned
  content queries and its top-k encoder proposals as reference boxes). Query i of the teacher then
  starts where query i of the student starts, so the two predictions of query i are of the same
  object hypothesis, and with student == teacher both passes coincide and the losses are exactly 0.
* no ``align_scale``: the decoder's last operation is a LayerNorm, so the embeddings already have
  per-token normalised statistics (CrossKD standardises conv features, which have none).
* losses (:mod:`benchmarks.methods.eldet.crosskd`): classification = CrossKD's dense cls loss on
  the sigmoid logits of the ``num_queries`` matching queries; localization = L1 + GIoU between the
  cross boxes and the teacher's boxes, both weighted by the teacher's max class score; weights
  ``lambda_cls``/``lambda_loc`` default to the dense ones (1.0 / 1.0; the discussion's tuned DINO
  weight is not given). Logged as ``loss_cls_kd`` / ``loss_loc_kd`` (last layer) and
  ``d{l}.loss_cls_kd`` / ``d{l}.loss_loc_kd`` (earlier layers, ``kd_all_layers``).

**DINO's query denoising** (param ``dn``): ``remove`` (default) follows the rebuttal's "ELDET
applied in place of query denoising": the denoising queries are dropped from the decoder input for
the whole run (the DINO baseline keeps them), and ``ELDETDINOHead`` computes the matching and
encoder losses without a denoising part. ``keep`` trains DINO's denoising as usual; the KD then
uses the matching part only (the denoising queries are built from the noisy GT, so they have no
counterpart in the teacher's pass, and the matching queries cannot see them through DINO's
attention mask, so the student's matching outputs are those of a pass without them).

Cost per distilled iteration: one teacher backbone + encoder + decoder forward under ``no_grad``
and the teacher's prediction branches on the student's embeddings (one layer by default).
"""

from __future__ import annotations

import torch
from mmdet.models.dense_heads import DINOHead
from mmdet.models.detectors import DINO, DeformableDETR
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.registry import MODELS
from torch import Tensor

from benchmarks.methods.eldet import crosskd as K
from benchmarks.methods.eldet.model import TASKS, ELDETMixin

# decoder inputs that describe the queries (the rest comes from the encoder of each model)
QUERY_KEYS = ("query", "query_pos", "reference_points")


def detr_predict(head, hidden: Tensor, reference: Tensor, layer: int) -> tuple[Tensor, Tensor]:
    """Layer ``layer``'s prediction branches of ``head`` on ``hidden`` (bs, nq, C) at ``reference``.

    As ``DeformableDETRHead.forward`` for one layer: logits, and sigmoid(reg + inverse_sigmoid(ref))
    (2-d reference points: only the centre gets the offset) as normalised (cx, cy, w, h).
    """
    cls = head.cls_branches[layer](hidden)
    reg = head.reg_branches[layer](hidden)
    ref = inverse_sigmoid(reference)
    if ref.shape[-1] == 4:
        reg = reg + ref
    else:
        reg = torch.cat([reg[..., :2] + ref, reg[..., 2:]], dim=-1)
    return cls, reg.sigmoid()


class ELDETDETRMixin(ELDETMixin):
    """The DETR distillation (see the module docstring) on top of the shared ELDET state."""

    def forward_decoder(self, **kwargs) -> dict:
        out = super().forward_decoder(**kwargs)
        if getattr(self, "_eldet_capture", False):
            self._eldet_last = {"inputs": kwargs, "outputs": out}
        return out

    def _kd_layers(self, num_layers: int) -> list[int]:
        return list(range(num_layers)) if self.eldet_cfg.get("kd_all_layers") else [num_layers - 1]

    @torch.no_grad()
    def _teacher_pass(self, teacher, batch_inputs: Tensor, samples, queries: dict) -> dict:
        """The teacher's decoder on its own encoder memory, started from the student's ``queries``."""
        enc_in, dec_in = teacher.pre_transformer(teacher.extract_feat(batch_inputs), samples)
        enc_out = teacher.forward_encoder(**enc_in)
        dec_in.update(memory=enc_out["memory"], **queries)
        if isinstance(teacher, DINO):
            dec_in["dn_mask"] = None
        return teacher.forward_decoder(**dec_in)

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        on = {t: self.eldet_part_on(t) for t in TASKS}
        if not any(on.values()) or not self._kd_due():
            return super().loss(batch_inputs, batch_data_samples)
        self._eldet_capture = True
        try:
            losses = super().loss(batch_inputs, batch_data_samples)
        finally:
            self._eldet_capture = False
        last, self._eldet_last = self._eldet_last, None
        s_in, s_out = last["inputs"], last["outputs"]
        n_dn = s_in["query"].shape[1] - self.num_queries  # DINO's denoising queries come first
        queries = {k: s_in[k][:, n_dn:].detach() for k in QUERY_KEYS if s_in.get(k) is not None}
        layers = self._kd_layers(len(s_out["hidden_states"]))
        scale = self._kd_scale()
        for index in sorted({self.eldet_teacher_index(t) for t in TASKS if on[t]}):
            teacher = self.eldet_teachers[index]
            tasks = [t for t in TASKS if on[t] and self.eldet_teacher_index(t) == index]
            t_out = self._teacher_pass(teacher, batch_inputs, batch_data_samples, queries)
            head = teacher.bbox_head
            for layer in layers:
                prefix = "" if layer == len(s_out["hidden_states"]) - 1 else f"d{layer}."
                with torch.no_grad():
                    t_cls, t_box = detr_predict(head, t_out["hidden_states"][layer], t_out["references"][layer], layer)
                s_hidden = s_out["hidden_states"][layer][:, n_dn:]
                s_ref = s_out["references"][layer][:, n_dn:]
                c_cls, c_box = detr_predict(head, s_hidden, s_ref, layer)
                k = c_cls.shape[-1]
                t_logits = t_cls.reshape(-1, k)
                if "cls" in tasks:
                    w = self._kd_weight("cls", K.DETR_CLS_WEIGHT) * scale
                    losses[f"{prefix}loss_cls_kd"] = w * K.crosskd_dense_cls_loss(c_cls.reshape(-1, k), t_logits)
                if "loc" in tasks:
                    w = self._kd_weight("loc", K.DETR_LOC_WEIGHT) * scale
                    losses[f"{prefix}loss_loc_kd"] = w * K.crosskd_detr_loc_loss(
                        c_box.reshape(-1, 4), t_box.reshape(-1, 4), t_logits
                    )
        return losses


@MODELS.register_module()
class ELDETDeformableDETR(ELDETDETRMixin, DeformableDETR):
    """Deformable DETR + ELDET (see the module docstring)."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)


@MODELS.register_module()
class ELDETDINOHead(DINOHead):
    """DINOHead whose loss also works without denoising queries (``dn_meta`` None: ``dn: remove``).

    mmdet's ``DINOHead.split_outputs`` reads ``dn_meta`` before its own None check.
    """

    @staticmethod
    def split_outputs(all_layers_cls_scores, all_layers_bbox_preds, dn_meta):
        if dn_meta is None:
            return all_layers_cls_scores, all_layers_bbox_preds, None, None
        return DINOHead.split_outputs(all_layers_cls_scores, all_layers_bbox_preds, dn_meta)


@MODELS.register_module()
class ELDETDINO(ELDETDETRMixin, DINO):
    """DINO + ELDET; ``eldet.dn``: ``remove`` (default, the rebuttal) or ``keep`` the query denoising."""

    def __init__(self, *args, eldet: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._eldet_init(eldet)

    def _dn_removed(self) -> bool:
        return (self.eldet_cfg.get("dn") or "remove") == "remove"

    def pre_decoder(self, memory, memory_mask, spatial_shapes, batch_data_samples=None):
        dec_in, head_in = super().pre_decoder(memory, memory_mask, spatial_shapes, batch_data_samples)
        if self.training and self._dn_removed() and head_in.get("dn_meta") is not None:
            n_dn = dec_in["query"].shape[1] - self.num_queries
            dec_in["query"] = dec_in["query"][:, n_dn:]
            dec_in["reference_points"] = dec_in["reference_points"][:, n_dn:]
            dec_in["dn_mask"] = None
            head_in["dn_meta"] = None
        return dec_in, head_in


MODEL_TYPES = {"DeformableDETR": "ELDETDeformableDETR", "DINO": "ELDETDINO"}
"""mmdet DETR detector type -> its ELDET subclass."""

__all__ = ["MODEL_TYPES", "detr_predict"]
