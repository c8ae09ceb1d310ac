"""DN-DETR's denoising queries: box and label noise, and the attention mask (plain tensor functions).

Definitions follow the DN-DETR paper (Li et al., ``shared/papers/dn_detr.txt``, Sec. 4.3-4.4); the
choices where the paper leaves room are stated per function. Boxes are normalised
(cx, cy, w, h) in [0, 1], as DETR heads predict them.
"""

from __future__ import annotations

import torch


def noise_boxes(boxes: torch.Tensor, lambda1: float, lambda2: float, generator=None) -> torch.Tensor:
    """Center shifting and box scaling of DN-DETR Sec. 4.3.

    * center shift: ``|dx| < lambda1 * w / 2``, ``|dy| < lambda1 * h / 2``, drawn uniformly, so the
      noised center stays inside the original box for lambda1 in (0, 1);
    * box scaling: w' uniform in ``[(1 - lambda2) w, (1 + lambda2) w]``, h' likewise, independently.

    The result is clamped to the image (centers to [0, 1], sizes to [1e-4, 1]); the paper does not
    say what happens at the border, and a box outside the image has no features to denoise from.
    """
    u = torch.rand(boxes.shape, generator=generator, device=boxes.device, dtype=boxes.dtype) * 2 - 1  # U(-1, 1)
    cxcy = boxes[..., :2] + u[..., :2] * lambda1 * boxes[..., 2:] / 2
    wh = boxes[..., 2:] * (1 + u[..., 2:] * lambda2)
    return torch.cat([cxcy.clamp(0.0, 1.0), wh.clamp(1e-4, 1.0)], dim=-1)


def flip_labels(labels: torch.Tensor, gamma: float, num_classes: int, generator=None) -> torch.Tensor:
    """Label flipping of DN-DETR Sec. 4.3 with ratio gamma.

    Each label is chosen independently with probability gamma and replaced by a class drawn
    uniformly among the *other* ``num_classes - 1`` classes, so gamma is the expected fraction of
    labels that actually change. (The reference implementation redraws from all classes, which
    leaves 1/num_classes of the chosen labels unchanged; with the 5 classes of the embedded default
    that would flip 16 % instead of 20 %.)
    """
    if num_classes < 2 or gamma <= 0:
        return labels.clone()
    chosen = torch.rand(labels.shape, generator=generator, device=labels.device) < gamma
    shift = torch.randint(1, num_classes, labels.shape, generator=generator, device=labels.device)
    return torch.where(chosen, (labels + shift) % num_classes, labels)


def dn_attention_mask(num_groups: int, group_size: int, num_matching: int, device=None) -> torch.Tensor:
    """Attention mask A of DN-DETR Eq. 7; True (a_ij = 1) = query i may not see query j.

    The first ``P * M`` rows/columns are the P denoising groups of M queries each, the last N the
    matching queries (W = P * M + N):

        a_ij = 1  if j < P*M and floor(i / M) != floor(j / M)   (groups do not see each other)
        a_ij = 1  if j < P*M and i >= P*M                        (matching part does not see DN)
        a_ij = 0  otherwise                                      (everyone sees the matching part)

    This is the boolean ``attn_mask`` convention of ``torch.nn.MultiheadAttention``.
    """
    pm = num_groups * group_size
    w = pm + num_matching
    i = torch.arange(w, device=device).unsqueeze(1)
    j = torch.arange(w, device=device).unsqueeze(0)
    dn_col = j < pm
    if group_size > 0:
        other_group = (i // group_size) != (j // group_size)
    else:
        other_group = torch.zeros(w, w, dtype=torch.bool, device=device)
    return (dn_col & other_group) | (dn_col & (i >= pm))
