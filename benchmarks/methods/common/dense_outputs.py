"""Dense-head outputs as per-location tensors: classification logits and decoded boxes.

Logit distillation (BCKD) compares a student's and a teacher's predictions location by location.
mmdet's dense heads return per-level maps in head-specific encodings; :func:`flatten_dense` turns
them into ``logits (B, N, K)`` and ``boxes (B, N, 4)`` (``x1, y1, x2, y2`` in input pixels) over the
``N`` locations of all levels, in mmdet's own prior order (level, then row, column, anchor), using
the head's own prior generator and box decoding:

* anchor heads (RetinaNet, RPN, ATSS): ``bbox_coder.decode(anchors, deltas)``;
* GFL: the expected value of the discrete side distributions (``head.integral``) times the level
  stride, from the anchor centres (as ``GFLHead.predict_by_feat``);
* FCOS-style point heads: ``bbox_coder.decode(points, distances)``; with ``norm_on_bbox`` the head
  returns distances in stride units while training and in pixels at eval (its ``forward_single``),
  so training-mode outputs are multiplied by the stride here.

:func:`capture` records what a head method returns during a normal loss computation, so the
student's outputs and label assignment are reused instead of recomputed.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor


@contextlib.contextmanager
def capture(obj, name: str):
    """Within the block, every call of ``obj.<name>`` appends ``(args, kwargs, result)`` to the yielded list."""
    original = getattr(obj, name)
    records: list = []

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        records.append((args, kwargs, out))
        return out

    shadowed = obj.__dict__.get(name)
    setattr(obj, name, wrapper)  # an instance attribute shadows the method for this block only
    try:
        yield records
    finally:
        if shadowed is None:
            del obj.__dict__[name]
        else:
            obj.__dict__[name] = shadowed


def head_kind(head) -> str:
    """``gfl``, ``anchor`` or ``point``: how ``head``'s regression output is decoded."""
    from mmdet.models.dense_heads import AnchorFreeHead, AnchorHead, GFLHead

    if isinstance(head, GFLHead):
        return "gfl"
    if isinstance(head, AnchorHead):
        return "anchor"
    if isinstance(head, AnchorFreeHead):
        return "point"
    raise TypeError(f"BCKD: no dense decoding for head type {type(head).__name__}")


def labels_from_targets(head, targets: tuple) -> list[Tensor]:
    """The per-level label tensors of ``head.get_targets(...)``'s return value.

    AnchorHead/RPN and FCOS return the labels first; GFL and ATSS return the anchors first.
    """
    from mmdet.models.dense_heads import ATSSHead, GFLHead

    return list(targets[1] if isinstance(head, (GFLHead, ATSSHead)) else targets[0])


def count_positives(head, targets: tuple) -> Tensor:
    """Number of locations assigned a foreground class (labels in ``[0, num_classes)``)."""
    labels = labels_from_targets(head, targets)
    return sum(((lab >= 0) & (lab < head.num_classes)).sum() for lab in labels).float()


def _flat(t: Tensor, width: int) -> Tensor:
    """(B, A*width, H, W) -> (B, H*W*A, width), the order of mmdet's priors."""
    b = t.shape[0]
    return t.permute(0, 2, 3, 1).reshape(b, -1, width)


def flatten_dense(head, cls_scores: list[Tensor], bbox_preds: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-location ``logits (B, N, K)`` and decoded ``boxes (B, N, 4)`` of one dense head's outputs."""
    kind = head_kind(head)
    k = head.cls_out_channels
    sizes = [c.shape[-2:] for c in cls_scores]
    device = cls_scores[0].device
    logits = torch.cat([_flat(c, k) for c in cls_scores], dim=1)
    boxes = []
    if kind == "point":
        priors = head.prior_generator.grid_priors(sizes, dtype=bbox_preds[0].dtype, device=device)
    else:
        priors = head.prior_generator.grid_priors(sizes, device=device)
    for level, (pred, pri) in enumerate(zip(bbox_preds, priors)):
        stride = float(head.prior_generator.strides[level][0])
        b = pred.shape[0]
        if kind == "anchor":
            deltas = _flat(pred, 4)
            dec = head.bbox_coder.decode(pri.unsqueeze(0).expand(b, -1, -1).reshape(-1, 4), deltas.reshape(-1, 4))
        elif kind == "gfl":
            dist = head.integral(_flat(pred, 4 * (head.reg_max + 1)).reshape(-1, 4 * (head.reg_max + 1))) * stride
            centers = head.anchor_center(pri).unsqueeze(0).expand(b, -1, -1).reshape(-1, 2)
            dec = head.bbox_coder.decode(centers, dist)
        else:
            dist = _flat(pred, 4)
            if getattr(head, "norm_on_bbox", False) and head.training:
                dist = dist * stride
            points = pri[:, :2].unsqueeze(0).expand(b, -1, -1).reshape(-1, 2)
            dec = head.bbox_coder.decode(points, dist.reshape(-1, 4))
        dec = dec.tensor if hasattr(dec, "tensor") else dec
        boxes.append(dec.reshape(b, -1, 4))
    return logits, torch.cat(boxes, dim=1)
