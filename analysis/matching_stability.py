"""Matching-stability metrics of DETR-family detectors (plain functions on assignment vectors).

An *assignment vector* ``V`` of one image lists, for each of the N decoder queries, the index of
the ground-truth object the Hungarian matcher assigns to it, or ``-1`` for no object (DN-DETR,
Eq. 1). Two measures are built on it:

* **IS**, the instability of DN-DETR (Li et al. 2022, Sec. 3.1, Eq. 2): for one image,
  ``IS^i = sum_n 1(V^i_n != V^{i-1}_n)``, the number of queries whose assignment changed between
  epoch i-1 and epoch i; averaged over the images of a fixed set. A changed pair counts twice (the
  query that lost the object and the one that gained it), so the largest IS of an image is 2·M
  (M objects), as the paper notes (7.36 objects/image on COCO val -> at most 14.72).
* **Matching consistency** of OD-DETR (Wu et al. 2024, Fig. 5): "the percentage of queries matched
  with the same GT" in the online model and its EMA teacher at the same epoch. Definition chosen
  here: over all images of the set, the number of queries n with ``V_n = V'_n != -1`` divided by
  the number of matched queries of the online model (one per ground truth), i.e. a micro average
  over ground-truth objects. Query n of the teacher is the EMA of query n of the student, so the
  index is comparable.

Both are computed by ``benchmarks.training.matching_hooks.MatchingStabilityHook`` on a fixed subset
of training images (the probe subset's seed), once per epoch, and land as columns ``IS``,
``IS_ema`` and ``match_consistency`` of the cell's ``probe.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def instability(prev: Sequence[int], cur: Sequence[int]) -> int:
    """IS of one image: how many query assignments differ between two epochs (DN-DETR Eq. 2)."""
    a, b = np.asarray(prev), np.asarray(cur)
    if a.shape != b.shape:
        raise ValueError(f"assignment vectors differ in length ({a.shape} vs {b.shape})")
    return int(np.count_nonzero(a != b))


def mean_instability(prev: Mapping, cur: Mapping) -> float:
    """IS of a set: mean per-image IS over the images present in both epochs (NaN if none)."""
    common = sorted(set(prev) & set(cur))
    if not common:
        return math.nan
    return float(np.mean([instability(prev[k], cur[k]) for k in common]))


def consistency(online: Mapping, teacher: Mapping) -> float:
    """OD-DETR matching consistency: share of online-matched queries whose teacher copy has the same GT.

    Micro average over the ground-truth objects of the images present in both mappings; NaN when
    no query is matched (no objects).
    """
    same = total = 0
    for k in sorted(set(online) & set(teacher)):
        a, b = np.asarray(online[k]), np.asarray(teacher[k])
        if a.shape != b.shape:
            raise ValueError(f"assignment vectors of image {k} differ in length ({a.shape} vs {b.shape})")
        matched = a >= 0
        total += int(matched.sum())
        same += int(np.count_nonzero(matched & (a == b)))
    return same / total if total else math.nan


def assignment_vector(gt_inds: Sequence[int]) -> list[int]:
    """mmdet's ``AssignResult.gt_inds`` (0 = background, i+1 = object i) as a DN-DETR V (-1 / i)."""
    return [int(g) - 1 if int(g) > 0 else -1 for g in gt_inds]
