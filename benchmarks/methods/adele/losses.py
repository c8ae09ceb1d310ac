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
* Confidence mask, one per image as in ADELE's code. ``calc_jsd_multiscale`` takes
  ``torch.amax`` of the mixture over the class *and* spatial axes, i.e. one mask per image: the
  consistency term of an image is on when its most confident pixel is confident (max probability
  >= tau). With K binary decisions a row's confidence is that of its least certain decision,
  ``c_n = min_k max(q_nk, 1 - q_nk)`` (a confidently detected class and confident background for
  the others, or confident background everywhere), and the image's mask is
  ``m_b = 1[max_{n in image b} c_n >= tau]``, applied to every row of image b. (Before issue 17 the
  mask was per row, following the paper's per-pixel description; ADELE's code is the reference.)
* Gradients flow through every view and through the mixture, as in ADELE (nothing is detached).

Which views, and how they are aligned, is the model mixin's business (``model.py``).
"""

from __future__ import annotations

import torch

Q_CLAMP = 1e-3  # ADELE clamps the mixture to [1e-3, 1 - 1e-3]


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(p) || Bernoulli(q)); 0 log 0 = 0."""
    return torch.xlogy(p, p) - p * torch.log(q) + torch.xlogy(1 - p, 1 - p) - (1 - p) * torch.log1p(-q)


def bernoulli_consistency(
    logits: list[torch.Tensor], tau: float = 0.8, images: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """ADELE's consistency over V aligned views of sigmoid logits, each [N, K]; returns (loss, mask [N]).

    loss = (1/N) * sum_n mask_n * sum_v sum_k KL_bern(p_vnk || q_nk), q = clamp(mean_v p_v, 1e-3, 1 - 1e-3),
    mask_n = m_{b(n)}, m_b = 1[max_{n in b} min_k max(q_nk, 1 - q_nk) >= tau] (one mask per image).
    ``images`` [N] gives each row's image index b(n) (None: all rows are one image).
    """
    if len(logits) < 2:
        raise ValueError("consistency needs at least two views")
    shapes = {tuple(x.shape) for x in logits}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"views must be [N, K] tensors of one shape, got {sorted(shapes)}")
    probs = [torch.sigmoid(x.float()) for x in logits]
    q = torch.stack(probs).mean(0).clamp(Q_CLAMP, 1 - Q_CLAMP)
    if q.shape[0] == 0:
        return q.sum() * 0.0, q.new_zeros(0)
    row_conf = torch.maximum(q, 1 - q).amin(dim=1).detach()
    if images is None:
        images = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    images = images.to(device=q.device, dtype=torch.long).reshape(-1)
    if images.numel() != q.shape[0]:
        raise ValueError(f"images: {images.numel()} image indices for {q.shape[0]} rows")
    n_img = int(images.max()) + 1
    image_conf = row_conf.new_zeros(n_img).scatter_reduce(0, images, row_conf, reduce="amax", include_self=False)
    mask = (image_conf[images] >= tau).to(q.dtype)
    kl = sum(bernoulli_kl(p, q).sum(dim=1) for p in probs)
    return (kl * mask).mean(), mask


def image_index_of_level(cls_score: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The image index of every row of :func:`rows_of_level` for one level ``[B, A*K, H, W]``."""
    b, ak, h, w = cls_score.shape
    per_image = h * w * (ak // num_classes)
    return torch.arange(b, device=cls_score.device).repeat_interleave(per_image)


def rows_of_level(cls_score: torch.Tensor, num_classes: int) -> torch.Tensor:
    """An mmdet dense-head level [B, A*K, H, W] as [B*H*W*A, K] rows (mmdet's own loss layout)."""
    return cls_score.permute(0, 2, 3, 1).reshape(-1, num_classes)
