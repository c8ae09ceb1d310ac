"""Deformable DETR with training-only queries in front of the matching ones: the base of DN-DETR
(denoising groups) and OD-DETR (the teacher's queries for prediction distillation)."""

from __future__ import annotations

import torch
from mmdet.models.detectors.deformable_detr import DeformableDETR


class ExtraQueriesDeformableDETR(DeformableDETR):
    """Deformable DETR whose decoder can take training-only queries in front of the matching ones.

    ``extra_queries`` holds ``query``, ``query_pos``, ``reference_points`` (bs, K, .) and the
    decoder self-attention ``attn_mask`` (K + N, K + N); used by DN-DETR (denoising groups) and
    OD-DETR (the teacher's queries for prediction distillation).
    """

    def forward_decoder(self, query, query_pos, memory, memory_mask, reference_points, spatial_shapes,
                        level_start_index, valid_ratios, self_attn_mask=None) -> dict:  # fmt: skip
        """Deformable DETR's decoder pass, with an optional self-attention mask."""
        inter_states, inter_references = self.decoder(
            query=query,
            value=memory,
            query_pos=query_pos,
            key_padding_mask=memory_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.reg_branches if self.with_box_refine else None,
            self_attn_mask=self_attn_mask,
        )
        return dict(hidden_states=inter_states, references=[reference_points, *inter_references])

    def forward_transformer(self, img_feats, batch_data_samples=None, extra_queries: dict | None = None) -> dict:
        """The base flow; ``extra_queries`` (training only) are put in front of the matching queries."""
        enc_in, dec_in = self.pre_transformer(img_feats, batch_data_samples)
        enc_out = self.forward_encoder(**enc_in)
        tmp_dec_in, head_in = self.pre_decoder(**enc_out)
        dec_in.update(tmp_dec_in)
        if extra_queries is not None:
            for key in ("query", "query_pos", "reference_points"):
                dec_in[key] = torch.cat([extra_queries[key], dec_in[key]], dim=1)
            dec_in["self_attn_mask"] = extra_queries["attn_mask"]
        head_in.update(self.forward_decoder(**dec_in))
        return head_in
