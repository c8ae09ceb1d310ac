"""TIDE error decomposition of COCO box detections (Bolya et al., ECCV 2020), vectorised numpy.

TIDE explains the AP50 a detector loses by fixing one error type at a time with an *oracle* and
reporting the AP gained, dAP. Our code follows the definitions of the paper and the behaviour of
the ``tidecv`` 1.0.1 package (the tests hold every number to tidecv within 0.05 AP points) but is
written from scratch and vectorised: the greedy matching runs in parallel rounds over all images
at once, and per-detection quantities are segment reductions over (detection, ground truth) pairs.

Matching (base metric AP50, t_f = 0.5, t_b = 0.1, at most 100 detections per image by score).
Per image, detections in descending score (ties: file order) each take the unmatched ground truth
of their class with the highest IoU (ties: first in file order) if that IoU >= t_f. Unmatched
detections whose crowd-IoU (intersection / detection area) with a crowd region of their class
exceeds t_f are *ignored*: they leave the AP data but still get an error below (as in tidecv).

Errors of an unmatched detection, first rule that applies (IoU_s: max IoU with ground truth of the
same class, IoU_o: other classes, IoU_u: same class but already matched, IoU_a: any):

    Bkg   image has no ground truth;   Loc  t_b <= IoU_s <= t_f;   Cls  IoU_o >= t_f;
    Dupe  IoU_u >= t_f;                Bkg  IoU_a <= t_b;          Both otherwise.

    Miss  a ground truth that is unmatched and is not the target of a Cls or Loc error.

Oracles (AP of the fixed data minus the base AP; main errors are clipped at 0 like tidecv):

* Cls / Loc: the target ground truth of each error (the argmax of IoU_o / IoU_s) is, if still
  unmatched, claimed by the highest-scoring Cls-or-Loc error that targets it; fixing a type turns
  its claiming errors into true positives (in the ground truth's class) and removes the others.
* Dupe, Bkg, Both: the detections are removed.  Miss: the missed ground truths are removed from
  the positives (recall denominator).
* FP oracle (dAP_FP): every false positive scored 0, every true positive 1 (not clipped).
* FN oracle (dAP_FN): every unmatched ground truth removed from the positives (not clipped).

AP per class is COCO's 101-point interpolated AP; a class with detections but no ground truth
counts as AP 0, a class with neither is left out of the mean, and results are in AP points
(0-100) like TIDE's tables. Score ties inside a class are broken as tidecv does (it sorts stably):
by image order, then detection order; in oracle runs, false positives and fixed detections before
the true positives. Where tidecv divides by zero (no class left at all) the AP is 0.

CLI::

    python -m analysis.tide --gt GT.json --dets DT.json [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.coco_eval import (
    Detections,
    GroundTruth,
    image_pairs,
    load_inputs,
    pair_iou,
    segment_max_first,
)
from benchmarks.errors import InputError, run_cli

ERROR_TYPES = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")  # TIDE's table order
POS_THR = 0.5  # t_f, foreground IoU
BG_THR = 0.1  # t_b, background IoU
MAX_DETS = 100
_NONE, _CLS, _LOC, _BOTH, _DUPE, _BKG = range(6)
_CODE = {"Cls": _CLS, "Loc": _LOC, "Both": _BOTH, "Dupe": _DUPE, "Bkg": _BKG}
_RECALL_STEPS = np.arange(101) / 100  # 0.00, 0.01, ..., 1.00 (exact divisions, as tidecv)


@dataclass
class TideResult:
    """AP50 and dAP per error type, in AP points (0-100)."""

    ap50: float
    dap: dict[str, float]
    dap_fp: float
    dap_fn: float
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"AP50": self.ap50, "dAP": dict(self.dap), "dAP_FP": self.dap_fp, "dAP_FN": self.dap_fn}


# ------------------------------------------------------------------------------- AP
def mean_ap(cls: np.ndarray, tp: np.ndarray, rank: np.ndarray, n_gt: np.ndarray) -> float:
    """Mean over non-empty classes of the 101-point AP, in points.

    ``cls`` indexes the classes of ``n_gt`` (ground-truth count per class); within a class, points
    are ranked by ``rank`` (unique integers, lower = higher score). A class is empty when it has
    no point and no ground truth; one with points but no ground truth scores 0.
    """
    n_cls = len(n_gt)
    counts = np.bincount(cls, minlength=n_cls)
    nonempty = (counts > 0) | (n_gt > 0)
    if not nonempty.any():
        return 0.0
    order = np.argsort(cls * (int(rank.max(initial=0)) + 1) + rank)  # keys are unique: any sort
    tp = tp[order]
    ends = np.cumsum(counts)
    aps = np.zeros(n_cls)
    for k in np.flatnonzero((counts > 0) & (n_gt > 0)):
        t = tp[ends[k] - counts[k] : ends[k]]
        n_true = np.cumsum(t)
        precision = n_true / np.arange(1, len(t) + 1)
        recall = n_true / n_gt[k]
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # remove the dips, as COCO
        idx = np.searchsorted(recall, _RECALL_STEPS, side="left")
        y = np.where(idx < len(t), precision[np.minimum(idx, len(t) - 1)], 0.0)
        aps[k] = y.sum() / len(y) * 100
    return float(aps[nonempty].mean())


def _ranks(*keys: np.ndarray) -> np.ndarray:
    """Rank of each element when sorted by ``keys`` (primary first)."""
    order = np.lexsort(tuple(reversed(keys)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


# ------------------------------------------------------------------------------- matching
def greedy_match(cand_det: np.ndarray, cand_gt: np.ndarray, cand_iou: np.ndarray, n_det: int, n_gt: int) -> np.ndarray:
    """TIDE's greedy matching over candidate pairs, in parallel rounds; returns det -> gt (or -1).

    Detection indices are their priority (lower = higher score, earlier). Serially, each detection
    in turn takes its best (highest IoU, then lowest gt index) candidate not yet taken. In a round,
    every unresolved detection proposes its best untaken candidate g; the proposal is accepted when
    no unresolved detection of higher priority still has g among its untaken candidates -- then no
    earlier detection can take g, so the serial algorithm gives it g too. Each round accepts at
    least the highest-priority unresolved detection, so the loop ends; in practice in a few rounds.
    """
    match = np.full(n_det, -1, dtype=np.int64)
    if len(cand_det) == 0:
        return match
    order = np.lexsort((cand_gt, -cand_iou, cand_det))
    cd, cg = cand_det[order], cand_gt[order]
    taken = np.zeros(n_gt, dtype=bool)
    alive = np.ones(len(cd), dtype=bool)
    big = np.iinfo(np.int64).max
    while True:
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        d, g = cd[idx], cg[idx]
        first = np.r_[True, d[1:] != d[:-1]]  # each detection's best live candidate
        lowest = np.full(n_gt, big, dtype=np.int64)
        np.minimum.at(lowest, g, d)  # highest-priority detection still wanting each gt
        pd, pg = d[first], g[first]
        ok = lowest[pg] == pd
        match[pd[ok]] = pg[ok]
        taken[pg[ok]] = True
        alive[idx] = ~taken[g] & (match[d] < 0)
    return match


# ------------------------------------------------------------------------------- TIDE
def _kept_order(g: GroundTruth, d: Detections, max_dets: int) -> np.ndarray:
    """Detections TIDE looks at, in its processing order: image order of the ground truth file,
    then descending score (ties: file order), at most ``max_dets`` per image."""
    img_sort = np.argsort(g.image_ids, kind="stable")
    img_rank = img_sort[np.searchsorted(g.image_ids[img_sort], d.image_ids)]
    order = np.lexsort((-d.scores, img_rank))  # lexsort is stable: score ties stay in file order
    r = img_rank[order]
    new = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(new, np.arange(len(r)), 0)) if len(r) else np.zeros(0, np.int64)
    return order[np.arange(len(r)) - start < max_dets]


def check_thresholds(pos_thr: float, bg_thr: float, max_dets: int) -> None:
    """TIDE needs 0 <= t_b < t_f <= 1 (background below foreground IoU) and at least one detection
    per image; anything else gives numbers without meaning."""
    if not (math.isfinite(pos_thr) and 0.0 < pos_thr <= 1.0):
        raise InputError(f"--pos-thr must be in (0, 1], got {pos_thr}")
    if not (math.isfinite(bg_thr) and 0.0 <= bg_thr < pos_thr):
        raise InputError(f"--bg-thr must be in [0, --pos-thr) = [0, {pos_thr:g}), got {bg_thr}")
    if max_dets < 1:
        raise InputError(f"--max-dets must be >= 1, got {max_dets}")


def tide(
    gt: dict | str | os.PathLike | GroundTruth,
    dets: list | str | os.PathLike | Detections,
    *,
    pos_thr: float = POS_THR,
    bg_thr: float = BG_THR,
    max_dets: int = MAX_DETS,
) -> TideResult:
    """TIDE's AP50, dAP per error type, dAP_FP and dAP_FN (AP points) of ``dets`` against ``gt``."""
    check_thresholds(pos_thr, bg_thr, max_dets)
    g, d = load_inputs(gt, dets)
    if not (~g.iscrowd).any():
        raise InputError("the ground truth has no (non-crowd) annotation: AP and its errors are undefined", path=g.path)
    keep = _kept_order(g, d, max_dets)
    k_n = len(keep)
    k_img, k_cls, k_box, k_score = d.image_ids[keep], d.category_ids[keep], d.boxes[keep], d.scores[keep]
    pos = np.arange(k_n)  # processing order = tie-break order of the AP data

    nc = np.flatnonzero(~g.iscrowd)  # ground truth proper; crowd regions only ignore detections
    g_img, g_cls, g_box = g.ann_image_ids[nc], g.ann_category_ids[nc], g.boxes[nc]
    g_n = len(nc)

    # ---- all (detection, ground truth) pairs of an image, IoU, greedy same-class matching
    pd, pg = image_pairs(k_img, g_img)
    iou = pair_iou(k_box, g_box, pd, pg)
    same = k_cls[pd] == g_cls[pg]
    cand = same & (iou >= pos_thr)
    match = greedy_match(pd[cand], pg[cand], iou[cand], k_n, g_n)
    matched = match >= 0
    gt_used = np.zeros(g_n, dtype=bool)
    gt_used[match[matched]] = True

    # ---- crowd regions: unmatched detections inside one of their class are ignored
    ignored = np.zeros(k_n, dtype=bool)
    crowd = np.flatnonzero(g.iscrowd)
    if len(crowd):
        cd, cg = image_pairs(k_img, g.ann_image_ids[crowd])
        ciou = pair_iou(k_box, g.boxes[crowd], cd, cg, crowd=True)
        hit = (k_cls[cd] == g.ann_category_ids[crowd][cg]) & (ciou > pos_thr)
        ignored[cd[hit]] = True
        ignored &= ~matched

    # ---- error type of every unmatched detection
    has_gt = np.zeros(k_n, dtype=bool)
    has_gt[pd] = True
    max_s, arg_s = segment_max_first(np.where(same, iou, 0.0), pd, k_n)
    max_o, arg_o = segment_max_first(np.where(same, 0.0, iou), pd, k_n)
    max_u, _ = segment_max_first(np.where(same & gt_used[pg], iou, 0.0), pd, k_n)
    max_a, _ = segment_max_first(iou, pd, k_n)
    etype = np.full(k_n, _NONE)
    todo = ~matched
    for code, rule in (
        (_BKG, ~has_gt),
        (_LOC, (bg_thr <= max_s) & (max_s <= pos_thr)),
        (_CLS, max_o >= pos_thr),
        (_DUPE, max_u >= pos_thr),
        (_BKG, max_a <= bg_thr),
        (_BOTH, np.ones(k_n, dtype=bool)),
    ):
        hit = todo & rule
        etype[hit] = code
        todo &= ~hit
    target = np.full(k_n, -1, dtype=np.int64)
    is_loc, is_cls = etype == _LOC, etype == _CLS
    target[is_loc] = pg[arg_s[is_loc]]
    target[is_cls] = pg[arg_o[is_cls]]

    # ---- which Cls/Loc error would claim its target ground truth (highest score = lowest pos)
    claims = (target >= 0) & ~gt_used[np.maximum(target, 0)]
    best = np.full(g_n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, target[claims], pos[claims])
    fixes_to_tp = claims & (best[np.maximum(target, 0)] == pos)
    usable = np.zeros(g_n, dtype=bool)
    usable[target[claims]] = True
    missed = ~gt_used & ~usable

    # ---- AP data: classes as indices into the universe of classes TIDE keeps
    base_pts = ~ignored  # matched or unignored false positive
    classes = np.unique(np.r_[g_cls, k_cls[base_pts]])
    ci = np.searchsorted(classes, k_cls)
    gi = np.searchsorted(classes, g_cls)
    n_gt = np.bincount(gi, minlength=len(classes)).astype(np.float64)
    n_missed = np.bincount(gi[missed], minlength=len(classes))
    n_fn = np.bincount(gi[~gt_used], minlength=len(classes))
    # tidecv sorts each class stably by score; its insertion order is the processing order (base
    # run) or, in oracle runs, first the errors (fixed or not), then the true positives
    rank_base = _ranks(-k_score, pos)
    rank_oracle = _ranks(-k_score, matched, pos)

    def ap(select: np.ndarray, cls_idx: np.ndarray, tp: np.ndarray, gt_count: np.ndarray, rank: np.ndarray) -> float:
        return mean_ap(cls_idx[select], tp[select], rank[select], gt_count)

    ap50 = ap(base_pts, ci, matched, n_gt, rank_base)
    dap: dict[str, float] = {}
    for name in ERROR_TYPES:
        if name == "Miss":
            fixed = ap(base_pts, ci, matched, n_gt - n_missed, rank_oracle)
        else:
            of_type = etype == _CODE[name]
            promoted = of_type & fixes_to_tp if name in ("Cls", "Loc") else np.zeros(k_n, dtype=bool)
            select = (base_pts & ~of_type) | promoted
            cls_idx = ci.copy()
            cls_idx[promoted] = gi[target[promoted]]
            fixed = ap(select, cls_idx, matched | promoted, n_gt, rank_oracle)
        dap[name] = max(fixed - ap50, 0.0)
    fp_fixed = ap(base_pts, ci, matched, n_gt, _ranks(~matched, pos))  # TPs scored 1, FPs 0
    fn_fixed = ap(base_pts, ci, matched, n_gt - n_fn, rank_oracle)
    counts = {name: int((etype == _CODE[name]).sum()) for name in ERROR_TYPES if name != "Miss"}
    counts["Miss"] = int(missed.sum())
    return TideResult(ap50, dap, fp_fixed - ap50, fn_fixed - ap50, counts)


# ------------------------------------------------------------------------------- CLI
def format_table(res: TideResult) -> str:
    head = "".join(f"{k:>7}" for k in ERROR_TYPES)
    vals = "".join(f"{res.dap[k]:7.2f}" for k in ERROR_TYPES)
    cnts = "".join(f"{res.counts.get(k, 0):7d}" for k in ERROR_TYPES)
    return "\n".join(
        [
            f"AP50: {res.ap50:.2f}",
            f"type  {head}",
            f"dAP   {vals}",
            f"count {cnts}",
            f"dAP_FP (perfect precision): {res.dap_fp:.2f}   dAP_FN (perfect recall): {res.dap_fn:.2f}",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.tide",
        description="TIDE error decomposition (AP50 and dAP per error type, in AP points 0-100) of a detections file.",
    )
    p.add_argument("--gt", required=True, type=Path, help="ground-truth COCO JSON (images, annotations, categories)")
    p.add_argument(
        "--dets",
        required=True,
        type=Path,
        help="detections: COCO results JSON list of {image_id, category_id, bbox, score}",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"AP50":..,"dAP":{"Cls":..,"Loc":..,"Both":..,"Dupe":..,"Bkg":..,"Miss":..},"dAP_FP":..,"dAP_FN":..}',
    )
    p.add_argument("--pos-thr", type=float, default=POS_THR, help="foreground IoU t_f (TIDE: 0.5)")
    p.add_argument("--bg-thr", type=float, default=BG_THR, help="background IoU t_b (TIDE: 0.1)")
    p.add_argument("--max-dets", type=int, default=MAX_DETS, help="detections per image kept by score (TIDE: 100)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    res = tide(args.gt, args.dets, pos_thr=args.pos_thr, bg_thr=args.bg_thr, max_dets=args.max_dets)
    if args.json:
        print(json.dumps(res.to_json()))
    else:
        print(f"{args.dets} vs {args.gt}")
        print(format_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
