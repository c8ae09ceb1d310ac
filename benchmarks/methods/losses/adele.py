"""ADELE's multi-view consistency regularisation, adapted from segmentation maps to dense detection heads.

ADELE (Liu et al., CVPR 2022; ``lib/utils/JSD_loss.py::calc_jsd_multiscale`` in Kangningthu/ADELE)
predicts each training image at several views (scales 0.7, 1.0, 1.5), brings the per-pixel class
distributions ``p_v`` back to one grid, forms their mixture ``q = sum_v w_v p_v`` (``w = softmax(weight)``,
a 3-vector initialised to ones: uniform at the start), clamps ``q`` to ``[1e-3, 1 - 1e-3]`` and adds

    L_cons = mean_pixels( 1[max_k q_k >= tau] * sum_v sum_k p_vk (log p_vk - log q_k) )      (tau = 0.8)
           = mean_pixels( mask * sum_v KL(p_v || q) ),     total loss = L_CE + lambda * L_cons (lambda = 1)

Adaptation to detection (:func:`bernoulli_consistency`):

* Locations. A dense head's classification map (RetinaNet, FCOS, GFL; the RPN of Faster R-CNN) has one
  prediction per (image, level, position, anchor); these are the "pixels", all levels and images
  pooled into N rows, and the mean is over the N rows as ADELE's is over all pixels.
* Distributions. These heads score each of the K classes with an independent sigmoid (focal loss,
  QFL, RPN objectness), not a softmax over K+1 classes. So each (row, class) is a Bernoulli variable:
  ``p = sigmoid(logit)``, the mixture is the mean of the views' Bernoulli means (uniform weights:
  ADELE's initial value; we do not learn them), and KL is the Bernoulli KL
  ``p log(p/q) + (1-p) log((1-p)/(1-q))`` summed over the K classes.
* Confidence mask. ADELE keeps pixels whose mixture is confident (max probability >= tau). With K
  binary decisions a row is confident when *every* one of them is: ``min_k max(q_k, 1 - q_k) >= tau``
  (a confidently detected class and confident background for the others, or confident background
  everywhere). ADELE's code takes the max over the whole image (``torch.amax`` over class *and*
  spatial axes), i.e. one mask per image; we follow the paper's per-pixel description instead.
* Gradients flow through every view and through the mixture, as in ADELE (nothing is detached).

Which views, and how they are aligned, is the model mixin's business (``adele_model.py``).
"""

from __future__ import annotations

import torch

Q_CLAMP = 1e-3  # ADELE clamps the mixture to [1e-3, 1 - 1e-3]


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(p) || Bernoulli(q)); 0 log 0 = 0."""
    return torch.xlogy(p, p) - p * torch.log(q) + torch.xlogy(1 - p, 1 - p) - (1 - p) * torch.log1p(-q)


def bernoulli_consistency(logits: list[torch.Tensor], tau: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """ADELE's consistency over V aligned views of sigmoid logits, each [N, K]; returns (loss, mask [N]).

    loss = (1/N) * sum_n mask_n * sum_v sum_k KL_bern(p_vnk || q_nk), q = clamp(mean_v p_v, 1e-3, 1 - 1e-3),
    mask_n = 1[min_k max(q_nk, 1 - q_nk) >= tau].
    """
    if len(logits) < 2:
        raise ValueError("consistency needs at least two views")
    shapes = {tuple(x.shape) for x in logits}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"views must be [N, K] tensors of one shape, got {sorted(shapes)}")
    probs = [torch.sigmoid(x.float()) for x in logits]
    q = torch.stack(probs).mean(0).clamp(Q_CLAMP, 1 - Q_CLAMP)
    mask = (torch.maximum(q, 1 - q).amin(dim=1) >= tau).to(q.dtype)
    if q.shape[0] == 0:
        return q.sum() * 0.0, mask
    kl = sum(bernoulli_kl(p, q).sum(dim=1) for p in probs)
    return (kl * mask).mean(), mask


def rows_of_level(cls_score: torch.Tensor, num_classes: int) -> torch.Tensor:
    """An mmdet dense-head level [B, A*K, H, W] as [B*H*W*A, K] rows (mmdet's own loss layout)."""
    return cls_score.permute(0, 2, 3, 1).reshape(-1, num_classes)
