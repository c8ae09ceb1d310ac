"""CrossKD prediction-mimicking losses, as ELDET uses them (plain tensor functions).

CrossKD (Wang et al., "CrossKD: Cross-Head Knowledge Distillation for Object Detection", CVPR 2024;
code github.com/jbwang1997/CrossKD, read, not copied) feeds the *student's* intermediate head features
through the *teacher's* remaining head layers and asks those "cross-head" predictions to mimic the
teacher's own predictions. ELDET (``papers/eldet_openreview_discussion.txt``) names CrossKD as its
distillation loss; the discussion gives no equation, so the definitions below follow CrossKD's
released code and configs (``mmdet/models/detectors/crosskd_{retinanet,gfl,faster_rcnn}.py``,
``configs/crosskd/*``). Notation: ``s`` = cross-head logits (student features, teacher head), ``t`` =
teacher logits at the same n locations / RoIs, K foreground classes, ``sigma`` = sigmoid.

Dense detectors (RetinaNet, FCOS, GFL)::

    w_i     = max_j sigma(t_ij) * 1[l_i > 0]                                 (teacher confidence)
    L_cls   = (1/A) sum_i l_i sum_j |sigma(s_ij) - sigma(t_ij)|^beta BCE(sigma(s_ij), sigma(t_ij))
    L_loc   = (1/A_loc) sum_i w_i (1 - GIoU(b_s,i, b_t,i))

``L_cls`` is CrossKD's ``KDQualityFocalLoss`` (beta = 1), which is the same elementwise function as
BCKD's Eq. 8, so it reuses :func:`benchmarks.methods.common.losses.bckd_cls_loss` (BCKD's term,
kept in ``common`` because both methods use it). ``L_loc`` is CrossKD's
regression KD (``GIoULoss`` on decoded boxes weighted by the teacher's max class score). The
normalisers and label weights ``l_i`` are CrossKD's, per head, from the student's own assigner
(the targets its detection loss used in the same iteration):

* RetinaNet (``crosskd_retinanet.py``): ``l_i`` = the assigner's ``label_weights`` (0 for ignored
  anchors), ``A = A_loc = avg_factor`` (the assigner's positive count);
* GFL (``crosskd_gfl.py``): ``l_i`` = ``label_weights``, ``A = avg_factor``, ``A_loc = sum_i w_i``
  (CrossKD divides its box KD by the sum of the masked teacher weights);
* FCOS (``crosskd_fcos.py``): no label weights (``l_i = 1``), ``A = A_loc`` = the sum of the
  centerness targets of the positive points (FCOS's own box-loss normaliser), at least 1e-6.

Without ``avg_factor`` (the DETR variant, ours) both are divided by ``max(1, sum_i w_i)``, the
teacher's soft positive count. GFL: CrossKD adds a KL term on the box distributions to the GIoU
term; we use the GIoU term alone for every dense head (one definition for the family; recorded in
the README's method table).

Two-stage detectors (Faster R-CNN, the RoI head on the student's sampled RoIs)::

    L_cls   = (1/R) sum_r T^2 KL( softmax(t_r / T) || softmax(s_r / T) )    (over K + 1 classes)
    k_r     = argmax_{j<K} softmax(t_r)_j,   w_r = softmax(t_r)_{k_r}
    L_loc   = sum_r w_r |d_s,r,k_r - d_t,r,k_r|_1 / (4 sum_r w_r)            (box deltas of class k_r)

as CrossKD's ``CrossKDFasterRCNN`` (``KnowledgeDistillationKLDivLoss`` T = 3, loss weight 0.5; L1 on
the deltas of the teacher's top foreground class, weight 1.0). Teacher inputs are detached inside.

DETR detectors (Deformable DETR, DINO; our adaptation, CrossKD has no DETR variant): per query i
of the same query set (see :mod:`benchmarks.methods.eldet.detr_model`), ``L_cls`` is the dense one on
the sigmoid logits, and the box part is L1 + GIoU on the normalised ``(cx, cy, w, h)`` boxes::

    L_loc   = (1/N) sum_i w_i (|b_s,i - b_t,i|_1 + 1 - GIoU(b_s,i, b_t,i))

with ``w_i``, ``N`` as for dense heads. GIoU is computed on normalised corners: it is invariant to
scaling each axis, so it equals the GIoU in pixels without the image sizes. L1 and GIoU are summed
1:1 (the DETR head's own 5:2 is a tuned ratio for GT regression; the discussion gives no ratio).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from torch import Tensor

from benchmarks.methods.common.losses import bckd_cls_loss

DENSE_CLS_WEIGHT = 1.0
"""CrossKD RetinaNet/GFL configs: ``loss_cls_kd=dict(type='KDQualityFocalLoss', beta=1, loss_weight=1.0)``."""
DENSE_LOC_WEIGHT = 1.0
"""CrossKD RetinaNet config: ``loss_reg_kd=dict(type='GIoULoss', loss_weight=1.0)``."""
ROI_CLS_WEIGHT = 0.5
"""CrossKD Faster R-CNN config: ``KnowledgeDistillationKLDivLoss``, ``loss_weight=0.5``."""
ROI_LOC_WEIGHT = 1.0
"""CrossKD Faster R-CNN config: ``loss_reg_kd=dict(type='L1Loss', loss_weight=1.0)``."""
DETR_CLS_WEIGHT = 1.0
"""ELDET's DETR variant: the dense CrossKD weight (the discussion's tuned DINO weight is not given)."""
DETR_LOC_WEIGHT = 1.0
"""ELDET's DETR variant: the dense CrossKD weight (see ``DETR_CLS_WEIGHT``)."""
ROI_TEMPERATURE = 3.0
"""CrossKD Faster R-CNN config: ``T=3``."""
BETA = 1.0
"""CrossKD ``KDQualityFocalLoss(beta=1)``."""


def dense_teacher_weight(teacher_logits: Tensor, label_weights: Tensor | None = None) -> Tensor:
    """``w_i = max_j sigma(t_ij)`` per location (0 where ``label_weights`` is 0), detached, shape ``(n,)``."""
    w = teacher_logits.detach().sigmoid().max(dim=-1).values
    if label_weights is not None:
        w = torch.where(label_weights.reshape(-1) > 0, w, torch.zeros_like(w))
    return w


def _check_rows(name: str, n: int, label_weights: Tensor | None) -> None:
    if label_weights is not None and label_weights.numel() != n:
        raise ValueError(f"{name}: {label_weights.numel()} label weights for {n} locations")


def crosskd_dense_cls_loss(
    cross_logits: Tensor,
    teacher_logits: Tensor,
    beta: float = BETA,
    *,
    label_weights: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
) -> Tensor:
    """Dense ``L_cls`` above: ``(n, K)`` cross-head and teacher logits -> scalar.

    ``label_weights`` ``(n,)`` and ``avg_factor`` are the student assigner's (CrossKD); without
    ``avg_factor`` the loss is divided by the teacher's soft positive count ``max(1, sum_i w_i)``.
    """
    if cross_logits.numel() == 0:
        return cross_logits.sum() * 0.0
    _check_rows("crosskd_dense_cls_loss", cross_logits.shape[0], label_weights)
    elem = bckd_cls_loss(cross_logits, teacher_logits, beta=beta, reduction="none")  # (n,): sum over K
    if label_weights is not None:
        elem = elem * label_weights.reshape(-1).to(elem.dtype)
    if avg_factor is None:
        avg_factor = dense_teacher_weight(teacher_logits).sum().clamp(min=1.0)
    return elem.sum() / avg_factor


def crosskd_dense_loc_loss(
    cross_boxes: Tensor,
    teacher_boxes: Tensor,
    teacher_logits: Tensor,
    *,
    label_weights: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
) -> Tensor:
    """Dense ``L_loc`` above: ``(n, 4)`` decoded boxes (x1, y1, x2, y2) and ``(n, K)`` teacher logits.

    ``label_weights`` zero the weight of ignored locations (CrossKD); without ``avg_factor`` the loss is
    divided by ``max(1, sum_i w_i)``.
    """
    if cross_boxes.numel() == 0:
        return cross_boxes.sum() * 0.0
    _check_rows("crosskd_dense_loc_loss", cross_boxes.shape[0], label_weights)
    w = dense_teacher_weight(teacher_logits, label_weights)
    giou = bbox_overlaps(cross_boxes, teacher_boxes.detach(), mode="giou", is_aligned=True)
    if avg_factor is None:
        avg_factor = w.sum().clamp(min=1.0)
    return (w * (1.0 - giou)).sum() / avg_factor


def crosskd_detr_loc_loss(cross_boxes: Tensor, teacher_boxes: Tensor, teacher_logits: Tensor) -> Tensor:
    """DETR ``L_loc`` above: ``(n, 4)`` normalised (cx, cy, w, h) boxes and ``(n, K)`` teacher logits."""
    if cross_boxes.numel() == 0:
        return cross_boxes.sum() * 0.0
    w = dense_teacher_weight(teacher_logits)
    t = teacher_boxes.detach()
    l1 = (cross_boxes - t).abs().sum(dim=-1)
    giou = bbox_overlaps(bbox_cxcywh_to_xyxy(cross_boxes), bbox_cxcywh_to_xyxy(t), mode="giou", is_aligned=True)
    return (w * (l1 + 1.0 - giou)).sum() / w.sum().clamp(min=1.0)


def crosskd_roi_cls_loss(cross_logits: Tensor, teacher_logits: Tensor, temperature: float = ROI_TEMPERATURE) -> Tensor:
    """Two-stage ``L_cls`` above: ``(R, K + 1)`` softmax logits -> mean over RoIs of T^2 KL(p_t || p_s)."""
    if cross_logits.numel() == 0:
        return cross_logits.sum() * 0.0
    t = float(temperature)
    p_t = F.softmax(teacher_logits.detach() / t, dim=-1)
    log_p_s = F.log_softmax(cross_logits / t, dim=-1)
    kl = (p_t * (torch.log(p_t.clamp(min=1e-12)) - log_p_s)).sum(dim=-1)
    return (t * t) * kl.mean()


def crosskd_roi_loc_loss(cross_deltas: Tensor, teacher_deltas: Tensor, teacher_logits: Tensor) -> Tensor:
    """Two-stage ``L_loc`` above.

    ``cross_deltas``/``teacher_deltas``: ``(R, 4)`` (class-agnostic regression) or ``(R, 4K)``
    (class-specific; the teacher's top foreground class k_r is picked); ``teacher_logits``: ``(R, K + 1)``
    with background last (mmdet's convention).
    """
    if cross_deltas.numel() == 0:
        return cross_deltas.sum() * 0.0
    probs = F.softmax(teacher_logits.detach(), dim=-1)[:, :-1]
    w, k = probs.max(dim=-1)
    if cross_deltas.shape[-1] != 4:
        num_classes = cross_deltas.shape[-1] // 4
        idx = k[:, None, None].expand(-1, 1, 4)
        cross_deltas = cross_deltas.reshape(-1, num_classes, 4).gather(1, idx).squeeze(1)
        teacher_deltas = teacher_deltas.reshape(-1, num_classes, 4).gather(1, idx).squeeze(1)
    l1 = (cross_deltas - teacher_deltas.detach()).abs().sum(dim=-1)
    return (w * l1).sum() / (4.0 * w.sum()).clamp(min=1e-6)
