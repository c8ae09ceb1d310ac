"""OD-DETR's targets and losses (Wu et al., IJCAI 2024; ``shared/papers/od_detr_ijcai2024.txt``).

Plain tensor functions, one image (or a flat batch of queries) at a time:

* :func:`qfl` - quality focal loss with soft targets (Eq. 2), summed over classes and queries:
  ``L_QFL(s, t) = -|t - s|^gamma ((1 - t) log(1 - s) + t log s)`` per class entry; background
  entries have t = 0.
* :func:`matching_distillation_targets` - the multi-target labels of L_MQF (Eq. 3, Fig. 4) and the
  regression targets/weights of L_r (Eq. 4, Fig. 3) from the online and the teacher matchings.
* :func:`prediction_distillation_targets` - the TOOD-weighted teacher scores (Eq. 5) and the
  Listen2stu indicator (Eq. 6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def qfl(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Sum over all entries of the quality focal loss (Eq. 2) with soft targets ``target`` in [0, 1]."""
    s = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ((target - s).abs().pow(gamma) * bce).sum()


def matching_distillation_targets(
    online: torch.Tensor,
    teacher: torch.Tensor,
    gt_labels: torch.Tensor,
    ious: torch.Tensor,
    costs: torch.Tensor,
    num_classes: int,
    w_d: float = 0.51,
    use_md: bool = True,
):
    """Targets of OD-DETR's matching distillation for the N queries of one image.

    Args:
        online: (N,) GT index matched to each query by the student's own Hungarian matching, -1 none.
        teacher: (N,) GT index matched to the teacher copy of each query (EMA model), -1 none.
        gt_labels: (M,) class of each GT.
        ious: (N, M) IoU between the student's predicted boxes and the GTs.
        costs: (N, M) the student's matching costs.
        w_d: regression down-weight of Eq. 4 (0.51 in the paper).
        use_md: False gives plain QFL targets of the online matching (the ablation "w/o MD").

    Returns ``(cls_target (N, C), reg_gt (N,), reg_weight (N,))``:

    * classification (Eq. 3, Fig. 4): entry ``label[g]`` of query n is ``t = IoU(b_n, g)`` for its
      online GT g; if its teacher GT g' has another class, entry ``label[g']`` is
      ``t' = IoU(b_n, g')`` (the student's box against the teacher-matched GT: "t' is its IoU target
      computed based on the teacher's matching result"); the same class keeps the online t only.
      A query matched by the teacher only gets ``t'`` alone.
    * regression (Eq. 4, Fig. 3): each query has one GT, the online one if it has it, else the
      teacher's; a GT that thus has two queries (its online query and a teacher-only one) gives
      the query with the higher matching cost the weight ``w_d``, the other 1.
    """
    n = online.shape[0]
    cls_target = ious.new_zeros(n, num_classes)
    reg_gt = online.clone()
    reg_weight = ious.new_zeros(n)
    q_on = torch.nonzero(online >= 0).flatten()
    g_on = online[q_on]
    cls_target[q_on, gt_labels[g_on]] = ious[q_on, g_on]
    reg_weight[q_on] = 1.0
    if not use_md:
        return cls_target, reg_gt, reg_weight
    q_t = torch.nonzero(teacher >= 0).flatten()
    g_t = teacher[q_t]
    other = (online[q_t] < 0) | (gt_labels[g_t] != gt_labels[online[q_t].clamp(min=0)])
    q2, g2 = q_t[other], g_t[other]
    cls_target[q2, gt_labels[g2]] = ious[q2, g2]
    only_t = online[q_t] < 0
    q3, g3 = q_t[only_t], g_t[only_t]
    reg_gt[q3] = g3
    reg_weight[q3] = 1.0
    # a GT with two regression queries: the costlier one is down-weighted
    for q, g in zip(q3.tolist(), g3.tolist()):
        rivals = torch.nonzero(online == g).flatten().tolist()
        if not rivals:
            continue
        r = rivals[0]
        if costs[q, g] > costs[r, g]:
            reg_weight[q] = w_d
        else:
            reg_weight[r] = w_d
    return cls_target, reg_gt, reg_weight


def prediction_distillation_targets(
    teacher_scores: torch.Tensor,
    teacher_match: torch.Tensor,
    gt_labels: torch.Tensor,
    teacher_ious: torch.Tensor,
    student_ious: torch.Tensor,
    alpha: float = 0.25,
    beta: float = 0.75,
):
    """TOOD-weighted teacher targets (Eq. 5) and the Listen2stu regression weights (Eq. 6).

    Args:
        teacher_scores: (N, C) sigmoid class scores c' of the teacher's predictions B'.
        teacher_match: (N,) GT index of the teacher's Hungarian matching, -1 none.
        teacher_ious: (N,) IoU' between each teacher box and its matched GT (ignored where none).
        student_ious: (N,) IoU between the student's box b^ (same teacher query) and that GT.

    Returns ``(cls_target (N, C), reg_weight (N,))``: ``cls_target`` is c' with
    ``c'[c_g] <- c'[c_g]^alpha * IoU'^beta`` for matched queries; ``reg_weight`` is that updated
    ``c'[c_g]`` where ``IoU' > IoU`` (Listen2stu) and 0 elsewhere (unmatched queries included: they
    have no GT to compare with).
    """
    target = teacher_scores.clone()
    reg_weight = teacher_scores.new_zeros(teacher_scores.shape[0])
    q = torch.nonzero(teacher_match >= 0).flatten()
    if q.numel():
        c = gt_labels[teacher_match[q]]
        tood = teacher_scores[q, c].clamp(min=0).pow(alpha) * teacher_ious[q].clamp(min=0).pow(beta)
        target[q, c] = tood
        listen = (teacher_ious[q] > student_ious[q]).to(target.dtype)
        reg_weight[q] = tood * listen
    return target, reg_weight
