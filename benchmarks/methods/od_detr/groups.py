"""OD-DETR's auxiliary query groups (AG, Sec. 3.4): which teacher queries form a group, and the mask.

Plain tensor functions (the model ``benchmarks.methods.od_detr.model`` builds the groups with them):

* :func:`select_group_queries` - for one image and one teacher decoder stage t, the queries of
  the group: "the top two queries with the lowest matching cost to each GT" of the stage-t
  predictions (Sec. 3.4), from the same cost matrix the Hungarian matcher uses.
* :func:`padded_group_mask` - the decoder self-attention mask of independent query groups whose
  per-image size varies (the groups are padded to the batch's largest), so that no query sees
  another group, and no real query sees a padding slot.

Choices where the paper leaves room:

* **Ties and duplicates.** The queries of one GT are ranked by a stable sort of its cost column,
  so equal costs go to the lower query index. One query can be among the two cheapest of two GTs;
  it enters the group once (first occurrence, in GT order then rank): two identical queries in one
  group would give identical predictions of which the one-to-one matching could make only one
  positive, i.e. a contradictory target. A group therefore has ``<= per_gt * M`` queries, and
  exactly ``min(per_gt, N) * M`` when no query is shared.
* **Padding.** Images of a batch have different numbers of GTs; each group is padded to the
  batch's largest. A padding slot is seen by no other query (it sees only itself, so its softmax
  row is never empty) and carries no loss.
"""

from __future__ import annotations

import torch


def select_group_queries(cost: torch.Tensor, per_gt: int = 2) -> torch.Tensor:
    """Indices of the queries of one auxiliary group: the ``per_gt`` cheapest queries of each GT.

    Args:
        cost: (N, M) matching cost of the N teacher predictions of one stage against the M GTs.
        per_gt: queries taken per GT (2 in the paper).

    Returns a (K,) long tensor of distinct query indices, GT by GT (GT 0's cheapest, its second
    cheapest, GT 1's cheapest, ...), a query already taken for an earlier GT skipped; empty when
    there is no GT or no query.
    """
    n, m = cost.shape
    if n == 0 or m == 0 or per_gt <= 0:
        return torch.zeros(0, dtype=torch.long, device=cost.device)
    k = min(per_gt, n)
    ranked = torch.sort(cost, dim=0, stable=True).indices[:k]  # (k, M): column g = GT g's cheapest
    picks = ranked.t().reshape(-1).tolist()
    out = list(dict.fromkeys(picks))  # distinct, first occurrence kept
    return torch.as_tensor(out, dtype=torch.long, device=cost.device)


def padded_group_mask(sizes: list[int], valid: torch.Tensor) -> torch.Tensor:
    """(bs, W, W) self-attention mask of independent groups; True = query i may not see query j.

    Args:
        sizes: the sizes of the consecutive groups, W = sum(sizes).
        valid: (bs, W) bool, False at padding slots.

    ``mask[b, i, j]`` is True if i and j are in different groups, or if j is a padding slot of
    image b other than i itself (``torch.nn.MultiheadAttention``'s boolean ``attn_mask``
    convention; repeat each image's mask per head for a 3-d mask).
    """
    device = valid.device
    gid = torch.cat([torch.full((s,), g, dtype=torch.long, device=device) for g, s in enumerate(sizes)])
    w = gid.numel()
    other_group = gid.unsqueeze(1) != gid.unsqueeze(0)
    eye = torch.eye(w, dtype=torch.bool, device=device)
    pad_col = (~valid).unsqueeze(1) & ~eye  # (bs, W, W): nobody sees a padding slot but itself
    return other_group.unsqueeze(0) | pad_col
