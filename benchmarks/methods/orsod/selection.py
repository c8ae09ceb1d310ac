"""ORSOD's per-annotation loss and small-loss selection (pure functions; see the package's ``__init__.py`` for the method).

* :func:`annotation_losses`: a detector-agnostic per-annotation loss computed from the model's
  test-time detections on the training image (the same predictions a train-set validation pass
  produces, so no per-head loss decomposition is needed and it works for every detector family):

      l(g) = l_cls(g) + l_loc(g)
      l_cls(g) = -log max(eps, s*(g)),   s*(g) = max { s_d : c_d = c_g, IoU(b_d, b_g) >= iou_thr }   (0 if none)
      l_loc(g) = 1 - max { IoU(b_d, b_g) : c_d = c_g }                                            (1 if none)

  ``eps`` = 0.01. An annotation the model agrees with (a confident detection of its class on its
  box) has a small loss; a flipped class (no detection of the annotated class there) or a shifted
  box (low IoU with the model's box) has a large one: the two noise types of the benchmark.
* :func:`forget_rate`: Co-teaching's schedule (Han et al., NeurIPS 2018), R(t) = tau * min(t / T_k, 1),
  counted in epochs since the transition (t = 1 at the first epoch after it).
* :func:`select_large_loss`: per class, the ``ceil(R * n_c)`` annotations with the largest loss (ties:
  lower index first) are suspected noisy. Per class rather than globally so that a class that is
  merely hard is not dropped wholesale.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.methods.common.train_labels import iou_matrix

EPS = 0.01


def annotation_losses(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_labels: np.ndarray,
    *,
    iou_thr: float = 0.5,
    eps: float = EPS,
) -> np.ndarray:
    """l(g) of every annotation of one image (see the module docstring), shape [n_gt]."""
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).ravel()
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).ravel()
    pred_labels = np.asarray(pred_labels, dtype=np.int64).ravel()
    n = len(gt_boxes)
    if n == 0:
        return np.zeros(0)
    iou = iou_matrix(gt_boxes, pred_boxes)  # [n_gt, n_pred]
    same = gt_labels[:, None] == pred_labels[None, :]
    iou_same = np.where(same, iou, 0.0)
    best_iou = iou_same.max(axis=1) if pred_boxes.size else np.zeros(n)
    s = np.where(same & (iou >= iou_thr), pred_scores[None, :], 0.0)
    best_s = s.max(axis=1) if pred_boxes.size else np.zeros(n)
    return -np.log(np.maximum(eps, best_s)) + (1.0 - best_iou)


def forget_rate(epochs_since_transition: int, tau: float, t_k: int) -> float:
    """Co-teaching's R(t) = tau * min(t / T_k, 1) for t >= 1 epochs after the transition, 0 before."""
    t = int(epochs_since_transition)
    if t <= 0:
        return 0.0
    return float(tau) * min(t / max(int(t_k), 1), 1.0)


def select_large_loss(losses: np.ndarray, labels: np.ndarray, rate: float) -> np.ndarray:
    """Boolean mask of suspected-noisy annotations: per class, the ceil(rate * n_c) largest losses."""
    losses = np.asarray(losses, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=np.int64).ravel()
    out = np.zeros(len(losses), dtype=bool)
    if rate <= 0 or len(losses) == 0:
        return out
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = min(len(idx), math.ceil(rate * len(idx) - 1e-9))
        if k <= 0:
            continue
        order = idx[np.lexsort((idx, -losses[idx]))]  # largest loss first, lower index on ties
        out[order[:k]] = True
    return out
