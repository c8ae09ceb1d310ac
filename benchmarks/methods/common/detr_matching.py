"""Hungarian matching of a DETR-family model's query predictions, outside its loss.

Used by the matching-stability hook (IS, consistency) and by OD-DETR (teacher matching, matching
costs for the regression down-weight). The matcher is the detector's own ``bbox_head.assigner``
(the train config's HungarianAssigner with its focal/L1/GIoU costs), so the assignment measured is
exactly the one the loss uses.
"""

from __future__ import annotations

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData


def scale_factor(img_meta: dict, like: torch.Tensor) -> torch.Tensor:
    """(1, 4) factor from normalised (x, y, x, y) to pixels of the network input."""
    h, w = img_meta["img_shape"][:2]
    return like.new_tensor([w, h, w, h]).unsqueeze(0)


def cost_matrix(assigner, cls_score: torch.Tensor, bbox_pred: torch.Tensor, gt: InstanceData, img_meta: dict):
    """(num_queries, num_gts) matching cost of one image, as the assigner sums it.

    ``bbox_pred`` is normalised (cx, cy, w, h), as the head predicts.
    """
    pred = InstanceData(scores=cls_score, bboxes=bbox_cxcywh_to_xyxy(bbox_pred) * scale_factor(img_meta, bbox_pred))
    costs = [mc(pred_instances=pred, gt_instances=gt, img_meta=img_meta) for mc in assigner.match_costs]
    return torch.stack(costs).sum(0)


def hungarian(cost: torch.Tensor) -> torch.Tensor:
    """Assignment vector (num_queries,) of a cost matrix: GT index per query, -1 for none."""
    from scipy.optimize import linear_sum_assignment

    out = torch.full((cost.shape[0],), -1, dtype=torch.long)
    if cost.numel():
        rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
        out[torch.as_tensor(rows, dtype=torch.long)] = torch.as_tensor(cols, dtype=torch.long)
    return out


@torch.no_grad()
def last_layer_predictions(model, data_batch: dict):
    """(cls [B,N,C], boxes [B,N,4] normalised cxcywh, data_samples) of the last decoder layer.

    Runs the model in whatever mode it is in; callers put it in eval mode so that training-only
    queries (denoising, distillation groups) are not built.
    """
    data = model.data_preprocessor(data_batch, False)
    inputs, samples = data["inputs"], data["data_samples"]
    feats = model.extract_feat(inputs)
    head_in = model.forward_transformer(feats, samples)
    cls, boxes = model.bbox_head(head_in["hidden_states"], head_in["references"])
    return cls[-1], boxes[-1], samples
