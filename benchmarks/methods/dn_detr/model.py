"""DN-DETR's denoising training on mmdet's Deformable DETR: ``DNDeformableDETR``.

What is added to the detector (DN-DETR, ``shared/papers/dn_detr.txt`` Sec. 4):

* **Denoising part.** In training, every image's ground truth is noised P times (``num_groups``
  groups; box noise lambda1/lambda2 and label flipping gamma, ``benchmarks.methods.dn_detr.queries``)
  and the P x M noised objects are decoded together with the N matching queries (M = the largest
  number of objects of an image in the batch; slots beyond an image's own objects are padding and
  carry no loss). No negative queries (those are DINO's contrastive denoising).
* **Label embedding with the indicator** (Sec. 4.5): the content part of a denoising query is a
  learned embedding of its (noised) class in ``embed_dims - 1`` dimensions followed by the
  indicator 1. The matching part keeps Deformable DETR's own learned content queries (instead of
  the paper's "unknown class" embedding + indicator 0): the matching part is then the baseline's
  exactly, so baseline-vs-DN comparisons isolate the denoising training.
* **Anchors.** mmdet's single-stage Deformable DETR without box refinement uses 2-d reference
  points (cx, cy) for all queries, and the head adds only those to its regression. A denoising
  query therefore takes the noised box center as its reference point and carries the noised box
  (cx, cy, w, h) in its positional query: the sine embedding of the 4-d box through a 2-layer
  MLP, as DAB-DETR builds its positional queries from 4-d anchors. (The paper's
  DN-Deformable-DETR makes all queries 4-d anchors; with 2-d references that would change the
  matching part too.) Configs with box refinement or two-stage queries are rejected by the plug-in.
* **Attention mask** (Eq. 7): the denoising groups do not see each other and the matching part
  does not see the denoising part; passed as the decoder self-attention mask.
* **Reconstruction losses**: the head's own focal, L1 and GIoU losses on every decoder layer,
  against the *original* labels and boxes of the noised objects (no matching), logged as
  ``dn_loss_cls`` / ``dn_loss_bbox`` / ``dn_loss_iou`` (``d<i>.`` for earlier layers).

At inference nothing changes: the denoising part is built only in training.
"""

from __future__ import annotations

import torch
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from torch import nn

from benchmarks.methods.common.extra_queries import ExtraQueriesDeformableDETR
from benchmarks.methods.dn_detr.queries import dn_attention_mask, flip_labels, noise_boxes


def gt_cxcywh(sample) -> torch.Tensor:
    """Ground-truth boxes of a data sample, normalised (cx, cy, w, h)."""
    h, w = sample.metainfo["img_shape"][:2]
    boxes = sample.gt_instances.bboxes
    factor = boxes.new_tensor([w, h, w, h])
    return bbox_xyxy_to_cxcywh(boxes / factor)


@MODELS.register_module()
class DNDeformableDETR(ExtraQueriesDeformableDETR):
    """Deformable DETR with DN-DETR's denoising part (see the module docstring)."""

    def __init__(self, *args, dn_cfg: dict | None = None, **kwargs) -> None:
        dn = dict(num_groups=5, lambda1=0.4, lambda2=0.4, gamma=0.2)
        dn.update(dn_cfg or {})
        self.dn_cfg = dn
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        c = self.embed_dims
        self.num_classes = self.bbox_head.num_classes
        self.label_embedding = nn.Embedding(self.num_classes, c - 1)
        self.dn_pos_mlp = nn.Sequential(nn.Linear(2 * c, c), nn.ReLU(inplace=True), nn.Linear(c, c))

    # -- denoising queries ------------------------------------------------------------------
    def build_dn_queries(self, samples) -> dict | None:
        """Noised queries, reference points, targets and the attention mask of one batch."""
        cfg = self.dn_cfg
        p = int(cfg["num_groups"])
        counts = [len(s.gt_instances) for s in samples]
        m = max(counts) if counts else 0
        if p <= 0 or m == 0:
            return None
        device = self.query_embedding.weight.device
        bs, c = len(samples), self.embed_dims
        boxes = torch.zeros(bs, m, 4, device=device)
        labels = torch.zeros(bs, m, dtype=torch.long, device=device)
        valid = torch.zeros(bs, m, dtype=torch.bool, device=device)
        for b, s in enumerate(samples):
            k = counts[b]
            if k:
                boxes[b, :k] = gt_cxcywh(s).to(device)
                labels[b, :k] = s.gt_instances.labels.to(device)
                valid[b, :k] = True
        # P groups, each a noised version of all objects: (bs, P*M, .)
        boxes_p = boxes.repeat(1, p, 1)
        labels_p = labels.repeat(1, p)
        noised_boxes = noise_boxes(boxes_p, cfg["lambda1"], cfg["lambda2"])
        noised_labels = flip_labels(labels_p, cfg["gamma"], self.num_classes)
        content = torch.cat(
            [self.label_embedding(noised_labels), noised_boxes.new_ones(bs, p * m, 1)], dim=-1
        )  # indicator 1
        pos = self.dn_pos_mlp(self.get_proposal_pos_embed(inverse_sigmoid(noised_boxes), num_pos_feats=c // 2))
        return dict(
            query=content,
            query_pos=pos,
            reference_points=noised_boxes[..., :2],
            target_boxes=boxes_p,
            target_labels=labels_p,
            valid=valid.repeat(1, p),
            num_dn=p * m,
            attn_mask=dn_attention_mask(p, m, self.num_queries, device=device),
        )

    # -- training -------------------------------------------------------------------------
    def loss(self, batch_inputs, batch_data_samples) -> dict:
        img_feats = self.extract_feat(batch_inputs)
        dn = self.build_dn_queries(batch_data_samples)
        head_in = self.forward_transformer(img_feats, batch_data_samples, extra_queries=dn)
        if dn is None:
            return self.bbox_head.loss(**head_in, batch_data_samples=batch_data_samples)
        k = dn["num_dn"]
        hidden, refs = head_in["hidden_states"], head_in["references"]
        head_in["hidden_states"] = hidden[:, :, k:]
        head_in["references"] = [r[:, k:] for r in refs]
        losses = self.bbox_head.loss(**head_in, batch_data_samples=batch_data_samples)
        cls, boxes = self.bbox_head(hidden[:, :, :k], [r[:, :k] for r in refs])
        losses.update(self.dn_losses(cls, boxes, dn, batch_data_samples))
        return losses

    def dn_losses(self, all_cls, all_boxes, dn: dict, samples) -> dict:
        """Reconstruction losses of the denoising part, per decoder layer (the head's loss modules)."""
        head = self.bbox_head
        valid = dn["valid"].reshape(-1).float()
        n = valid.sum().clamp(min=1.0)
        labels = dn["target_labels"].reshape(-1)
        targets = dn["target_boxes"].reshape(-1, 4)
        factors = torch.cat(
            [
                all_boxes.new_tensor([s.metainfo["img_shape"][1], s.metainfo["img_shape"][0]] * 2)
                .unsqueeze(0)
                .expand(dn["num_dn"], 4)
                for s in samples
            ]
        )
        out = {}
        num_layers = all_cls.shape[0]
        for layer in range(num_layers):
            cls = all_cls[layer].reshape(-1, all_cls.shape[-1])
            boxes = all_boxes[layer].reshape(-1, 4)
            w4 = valid.unsqueeze(1).expand(-1, 4)
            l_cls = head.loss_cls(cls, labels, valid, avg_factor=n)
            l_bbox = head.loss_bbox(boxes, targets, w4, avg_factor=n)
            l_iou = head.loss_iou(
                bbox_cxcywh_to_xyxy(boxes) * factors, bbox_cxcywh_to_xyxy(targets) * factors, w4, avg_factor=n
            )
            prefix = "" if layer == num_layers - 1 else f"d{layer}."
            out.update({f"{prefix}dn_loss_cls": l_cls, f"{prefix}dn_loss_bbox": l_bbox, f"{prefix}dn_loss_iou": l_iou})
        return out


#: mmdet model type -> the registered subclass (what ``plugin.use_variant`` swaps in)
MODEL_TYPES = {"DeformableDETR": "DNDeformableDETR"}
