"""COCO box metrics (AP, AP50, AP75, APs, APm, APl) with a fast backend and the reference one.

The suite evaluates every cell on clean val labels and probes training images every epoch, so the
default backend is faster-coco-eval (C++ matching and accumulation); ``backend="pycocotools"`` runs
the reference implementation on the very same inputs, and the tests hold the two to 1e-6.

Conventions:

* Metrics are fractions in [0, 1], computed from the accumulated precision array exactly as COCO's
  ``summarize()`` does (mean over the entries > -1 of precision[T, R, K, A, maxDets=100]); a metric
  with no ground truth in its range (COCO's -1, e.g. APs on a set without small objects) is NaN.
* Ground truth is validated with :func:`benchmarks.data.coco.validate_coco`. Missing ``iscrowd``
  means 0; missing ``area`` means the box area ``w * h`` (COCO's own files carry the mask area,
  which is then used as given, like pycocotools does).
* Ground-truth annotation ids are renumbered 1..N for the evaluators: both libraries store the
  matched ground-truth *id* as the match flag, so an annotation with id 0 would count as unmatched.
* Detections (COCO results: ``image_id, category_id, bbox [x, y, w, h], score``) are validated
  vectorised: unknown image or category ids, a bbox that is not 4 finite numbers with w, h >= 0, or a
  non-finite score raise :class:`InputError` naming the file and the record. An empty list is valid
  (AP 0 wherever there is ground truth). The caller's dicts are never modified.
* Evaluators are quiet unless ``verbose=True``, which sends their messages to stderr (stdout stays
  clean for ``--json``).

CLI::

    python -m analysis.coco_eval --gt GT.json --dets DT.json [--json] [--backend fast|pycocotools]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data.coco import all_typed, is_number, read_json, validate_coco
from benchmarks.errors import InputError, run_cli

BACKENDS = ("fast", "pycocotools")
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
MAX_DETS = 100
_ID = itemgetter("id")
_WH = itemgetter("width", "height")


# ------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class GroundTruth:
    """A validated COCO ground truth as columns (row i is ``coco["annotations"][i]``)."""

    image_ids: np.ndarray  # (I,) int64, order of coco["images"]
    image_wh: np.ndarray  # (I, 2) float64
    category_ids: np.ndarray  # (C,) int64, order of coco["categories"]
    ann_image_ids: np.ndarray  # (N,) int64
    ann_category_ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64 xywh
    areas: np.ndarray  # (N,) float64 ('area' when given, else w * h)
    iscrowd: np.ndarray  # (N,) bool
    path: str = "<ground truth>"


@dataclass(frozen=True)
class Detections:
    """Detections as columns, in the order of the results list."""

    image_ids: np.ndarray  # (D,) int64
    category_ids: np.ndarray  # (D,) int64
    boxes: np.ndarray  # (D, 4) float64 xywh
    scores: np.ndarray  # (D,) float64

    def __len__(self) -> int:
        return len(self.scores)

    def with_boxes(self, boxes: np.ndarray) -> Detections:
        return Detections(self.image_ids, self.category_ids, boxes, self.scores)


def load_ground_truth(gt: dict | str | os.PathLike | GroundTruth) -> GroundTruth:
    """Validate a COCO dict (or read and validate a file) and return its columns."""
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, dict):
        path = "<ground truth>"
        coco = gt
    else:
        path = str(gt)
        coco = read_json(gt)
    arr = validate_coco(coco, path=path)
    anns = coco["annotations"]
    image_ids = np.fromiter(map(_ID, coco["images"]), dtype=np.int64, count=len(coco["images"]))
    wh = np.fromiter(chain.from_iterable(map(_WH, coco["images"])), dtype=np.float64, count=2 * len(image_ids))
    cat_ids = np.fromiter(map(_ID, coco["categories"]), dtype=np.int64, count=len(coco["categories"]))
    if arr is not None:
        ann_img, ann_cat, boxes = arr.image_ids, arr.category_ids, arr.boxes
    else:  # no annotations
        ann_img, ann_cat, boxes = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4))
    raw_areas = [a.get("area", -1.0) for a in anns]
    raw_crowd = [a.get("iscrowd", 0) for a in anns]
    try:
        # checked on the Python objects: numpy reads null as NaN and "1" as 1, which would silently
        # move a box to another area range or make it a crowd region
        if not all_typed(raw_areas, {int, float}, is_number) or not all_typed(raw_crowd, {int, bool}, _is_flag):
            raise TypeError
        areas = np.array(raw_areas, dtype=np.float64)
        crowd = np.array(raw_crowd, dtype=np.int64)
        if not np.isfinite(areas).all() or not np.isin(crowd, (0, 1)).all():
            raise ValueError
        crowd = crowd.astype(bool)
    except (TypeError, ValueError, OverflowError):
        bad = next(
            i
            for i, (ar, cr) in enumerate(zip(raw_areas, raw_crowd))
            if not is_number(ar) or not math.isfinite(ar) or not _is_flag(cr) or cr not in (0, 1)
        )
        raise InputError(
            f"annotation 'area' must be a finite number and 'iscrowd' 0 or 1, got area {raw_areas[bad]!r}, "
            f"iscrowd {raw_crowd[bad]!r}",
            path=path,
            where=f"annotations[{bad}]",
        ) from None
    areas = np.where(areas < 0, boxes[:, 2] * boxes[:, 3], areas) if len(anns) else np.zeros(0)
    return GroundTruth(image_ids, wh.reshape(-1, 2), cat_ids, ann_img, ann_cat, boxes, areas, crowd.reshape(-1), path)


def load_detections(path: str | os.PathLike) -> list:
    """Read a COCO results file (a JSON list); missing file / bad JSON / not a list -> InputError."""
    dets = read_json(path)
    if not isinstance(dets, list):
        raise InputError("detections must be a JSON list of {image_id, category_id, bbox, score}", path=path)
    return dets


def _bad_record(dets: list, path: str) -> InputError:
    """Find the first malformed detection record (only called after the vectorised path failed)."""
    for i, d in enumerate(dets):
        where = f"record {i}"
        if not isinstance(d, dict):
            return InputError(f"detection must be an object, got {type(d).__name__}", path=path, where=where)
        for key in ("image_id", "category_id"):
            if key not in d:
                return InputError(f"detection has no '{key}'", path=path, where=where)
            if not isinstance(d[key], int) or isinstance(d[key], bool):
                return InputError(f"detection '{key}' must be an integer, got {d[key]!r}", path=path, where=where)
        bb = d.get("bbox")
        if not (
            isinstance(bb, list)
            and len(bb) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bb)
        ):
            return InputError(f"detection bbox must be 4 numbers [x, y, w, h], got {bb!r}", path=path, where=where)
        s = d.get("score")
        if not isinstance(s, (int, float)) or isinstance(s, bool):
            return InputError(f"detection score must be a number, got {s!r}", path=path, where=where)
    return InputError("malformed detections", path=path)


_DET_NUMBERS = ("image_id", "category_id", "score")


def _is_flag(v) -> bool:
    """iscrowd: an integer or a bool (COCO writes 0 / 1), not a string."""
    return type(v) in (int, bool) or isinstance(v, (np.integer, np.bool_))


def _plain_columns(dets: list) -> tuple[np.ndarray, ...] | None:
    """The four columns in one C-level pass each, if every record holds plain JSON values.

    The types are checked on the Python objects first (``np.fromiter`` would turn ``"3"`` or
    ``2.5`` into an id silently); None when any record is not plain, for the numpy path.
    """
    n = len(dets)
    try:
        img, cat, score, bbox = (list(map(itemgetter(k), dets)) for k in ("image_id", "category_id", "score", "bbox"))
    except (KeyError, TypeError, IndexError):
        return None
    plain = (
        set(map(type, img)) <= {int}
        and set(map(type, cat)) <= {int}
        and set(map(type, score)) <= {int, float}
        and set(map(type, bbox)) <= {list}
        and set(map(len, bbox)) <= {4}
        and set(map(type, chain.from_iterable(bbox))) <= {int, float}
    )
    if not plain:
        return None
    try:
        return (
            np.fromiter(img, dtype=np.int64, count=n),
            np.fromiter(cat, dtype=np.int64, count=n),
            np.fromiter(score, dtype=np.float64, count=n),
            np.fromiter(chain.from_iterable(bbox), dtype=np.float64, count=4 * n).reshape(n, 4),
        )
    except OverflowError:  # an id past int64
        return None


def detection_arrays(dets: list, gt: GroundTruth, *, path: str | os.PathLike = "<detections>") -> Detections:
    """Validate a COCO results list against ``gt`` (vectorised) and return it as columns."""
    path = str(path)
    if not isinstance(dets, list):
        raise InputError("detections must be a list of {image_id, category_id, bbox, score}", path=path)
    n = len(dets)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Detections(z, z.copy(), np.zeros((0, 4)), np.zeros(0))
    columns = _plain_columns(dets)
    if columns is None:  # not plain JSON values (numpy scalars, tuples, bad records): numpy decides
        for i, d in enumerate(dets):  # ...except for booleans, which numpy would read as 0 / 1
            if isinstance(d, dict) and any(isinstance(d.get(k), (bool, np.bool_)) for k in _DET_NUMBERS):
                raise InputError(
                    "detection image_id / category_id / score must be numbers, not true/false",
                    path=path,
                    where=f"record {i}",
                )
        try:
            columns = tuple(np.array([d[k] for d in dets]) for k in ("image_id", "category_id", "score", "bbox"))
        except (KeyError, TypeError, ValueError, IndexError):
            raise _bad_record(dets, path) from None
    img, cat, score, box = columns
    if img.dtype.kind not in "iu" or cat.dtype.kind not in "iu" or score.dtype.kind not in "iuf":
        raise _bad_record(dets, path)
    if box.dtype.kind not in "iuf" or box.shape != (n, 4):
        raise _bad_record(dets, path)
    img, cat = img.astype(np.int64), cat.astype(np.int64)
    box, score = box.astype(np.float64), score.astype(np.float64)
    bad = ~np.isfinite(box).all(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"detection bbox is not finite: {dets[i]['bbox']!r}", path=path, where=f"record {i}")
    bad = (box[:, 2] < 0) | (box[:, 3] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"detection bbox has a negative width/height: {dets[i]['bbox']!r} (expected [x, y, w, h])",
            path=path,
            where=f"record {i}",
        )
    bad = ~np.isfinite(score)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"detection score is not finite: {dets[i]['score']!r}", path=path, where=f"record {i}")
    d = Detections(img, cat, box, score)
    check_detections(d, gt, path=path)
    return d


def check_detections(dets: Detections, gt: GroundTruth, *, path: str | os.PathLike = "<detections>") -> None:
    """Every detection must name an image and a category of ``gt`` (InputError naming the record)."""
    bad = ~np.isin(dets.image_ids, gt.image_ids)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"detection has image_id {int(dets.image_ids[i])}, which is not an image of the ground truth {gt.path}",
            path=path,
            where=f"record {i}",
        )
    bad = ~np.isin(dets.category_ids, gt.category_ids)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"detection has category_id {int(dets.category_ids[i])}, which is not a category of the ground "
            f"truth {gt.path} (known: {sorted(gt.category_ids.tolist())[:20]})",
            path=path,
            where=f"record {i}",
        )


def load_inputs(
    gt: dict | str | os.PathLike | GroundTruth, dets: list | str | os.PathLike | Detections
) -> tuple[GroundTruth, Detections]:
    """Ground truth and detections from dicts/lists or paths, validated."""
    g = load_ground_truth(gt)
    if isinstance(dets, Detections):
        check_detections(dets, g)
        return g, dets
    if isinstance(dets, list):
        return g, detection_arrays(dets, g)
    return g, detection_arrays(load_detections(dets), g, path=dets)


# ------------------------------------------------------------------------------- geometry
def image_pairs(det_image_ids: np.ndarray, gt_image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (detection, ground-truth) index pairs that share an image, vectorised.

    Pairs come detection-major (detection index ascending) and, within a detection, with the
    ground-truth indices ascending, i.e. in file order: "first" below always means lowest index.
    """
    d_n, g_n = len(det_image_ids), len(gt_image_ids)
    if d_n == 0 or g_n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy()
    g_order = np.argsort(gt_image_ids, kind="stable")
    g_sorted = gt_image_ids[g_order]
    start = np.searchsorted(g_sorted, det_image_ids, side="left")
    count = np.searchsorted(g_sorted, det_image_ids, side="right") - start
    det_idx = np.repeat(np.arange(d_n), count)
    first_pair = np.cumsum(count) - count  # index of each detection's first pair
    offset = np.arange(len(det_idx)) - np.repeat(first_pair, count)
    gt_idx = g_order[np.repeat(start, count) + offset]
    return det_idx, gt_idx


def pair_iou(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, *, crowd: bool = False) -> np.ndarray:
    """IoU of the xywh boxes ``a[ia[k]]`` and ``b[ib[k]]`` for every pair k, pycocotools' formula.

    Same arithmetic as pycocotools' ``bbIou`` (no +1 pixel; union = area_a + area_b - inter, in
    that order), so thresholds compare exactly as there. For crowd regions ``b`` the union is the
    area of ``a`` alone (COCO's crowd IoU). Works on the pair indices directly: gathering the
    per-box columns is ~2.5x faster than gathering whole boxes first.
    """
    iw = np.minimum((a[:, 0] + a[:, 2])[ia], (b[:, 0] + b[:, 2])[ib])
    iw -= np.maximum(a[:, 0][ia], b[:, 0][ib])
    ih = np.minimum((a[:, 1] + a[:, 3])[ia], (b[:, 1] + b[:, 3])[ib])
    ih -= np.maximum(a[:, 1][ia], b[:, 1][ib])
    np.maximum(iw, 0.0, out=iw)
    np.maximum(ih, 0.0, out=ih)
    inter = iw * ih
    area_a = (a[:, 2] * a[:, 3])[ia]
    if crowd:
        union = area_a
    else:
        union = area_a + (b[:, 2] * b[:, 3])[ib]
        union -= inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = inter / union
    out[inter <= 0] = 0.0
    return out


def box_iou(a: np.ndarray, b: np.ndarray, *, crowd: bool = False) -> np.ndarray:
    """Row-wise IoU of xywh boxes ``a[i]`` and ``b[i]`` (see :func:`pair_iou`)."""
    idx = np.arange(len(a))
    return pair_iou(a, b, idx, idx, crowd=crowd)


def segment_max_first(values: np.ndarray, seg_of_pair: np.ndarray, n_seg: int) -> tuple[np.ndarray, np.ndarray]:
    """Per segment (pairs sorted by segment): max of ``values`` and the first pair index reaching it.

    Segments without pairs get max 0 and index -1 (the argmax-over-zeros convention of TIDE's
    masked IoU matrices is handled by callers).
    """
    best = np.zeros(n_seg)
    first = np.full(n_seg, -1, dtype=np.int64)
    if len(values) == 0:
        return best, first
    starts = np.flatnonzero(np.r_[True, seg_of_pair[1:] != seg_of_pair[:-1]])
    segs = seg_of_pair[starts]
    mx = np.maximum.reduceat(values, starts)
    best[segs] = mx
    is_max = values == np.repeat(mx, np.diff(np.r_[starts, len(values)]))
    idx = np.where(is_max, np.arange(len(values)), len(values))
    first[segs] = np.minimum.reduceat(idx, starts)
    return best, first


# ------------------------------------------------------------------------------- evaluators
def _silent(*_args: Any, **_kwargs: Any) -> None:
    return None


def _gt_dataset(gt: GroundTruth, *, one_class: bool = False) -> dict:
    """A fresh COCO dict for the evaluators (ids renumbered 1..N; the caller's dicts untouched)."""
    cats = [{"id": 1, "name": "object"}] if one_class else [{"id": int(c), "name": str(c)} for c in gt.category_ids]
    cat_ids = np.ones(len(gt.ann_category_ids), dtype=np.int64) if one_class else gt.ann_category_ids
    anns = [
        {"id": i + 1, "image_id": im, "category_id": c, "bbox": b, "area": a, "iscrowd": int(cr)}
        for i, (im, c, b, a, cr) in enumerate(
            zip(gt.ann_image_ids.tolist(), cat_ids.tolist(), gt.boxes.tolist(), gt.areas.tolist(), gt.iscrowd.tolist())
        )
    ]
    images = [{"id": i, "width": w, "height": h} for i, (w, h) in zip(gt.image_ids.tolist(), gt.image_wh.tolist())]
    return {"images": images, "categories": cats, "annotations": anns}


def _det_annotations(dets: Detections, *, one_class: bool = False) -> list[dict]:
    cat_ids = np.ones(len(dets), dtype=np.int64) if one_class else dets.category_ids
    areas = (dets.boxes[:, 2] * dets.boxes[:, 3]).tolist()
    return [
        {"id": i + 1, "image_id": im, "category_id": c, "bbox": b, "score": s, "area": a, "iscrowd": 0}
        for i, (im, c, b, s, a) in enumerate(
            zip(dets.image_ids.tolist(), cat_ids.tolist(), dets.boxes.tolist(), dets.scores.tolist(), areas)
        )
    ]


def build_gt(gt: GroundTruth, backend: str = "fast", *, one_class: bool = False, verbose: bool = False):
    """The backend's COCO object for ``gt`` (build once, evaluate many detection sets against it)."""
    return _coco_object(_gt_dataset(gt, one_class=one_class), backend, verbose)


def build_dets(coco_gt, dets: Detections, backend: str = "fast", *, one_class: bool = False, verbose: bool = False):
    """The backend's COCO object for detections on ``coco_gt``'s images (no loadRes: no mutation, empty OK)."""
    dataset = {
        "images": coco_gt.dataset["images"],
        "categories": coco_gt.dataset["categories"],
        "annotations": _det_annotations(dets, one_class=one_class),
    }
    return _coco_object(dataset, backend, verbose)


def _coco_object(dataset: dict, backend: str, verbose: bool):
    """A backend COCO object indexing ``dataset`` (a COCO dict), built without touching files."""
    if backend == "fast":
        from faster_coco_eval import COCO

        return COCO(dataset, print_function=_printer(verbose))
    if backend == "pycocotools":
        from pycocotools.coco import COCO

        coco = COCO()
        coco.dataset = dataset
        with _quiet(verbose):
            coco.createIndex()
        return coco
    raise ValueError(f"unknown backend {backend!r} (choose from {BACKENDS})")


def _printer(verbose: bool):
    """The evaluators' print function: their progress messages on stderr when asked, else nothing."""
    return functools.partial(print, file=sys.stderr) if verbose else _silent


@contextlib.contextmanager
def _quiet(verbose: bool):
    """pycocotools prints to stdout: move it to stderr (verbose) or swallow it."""
    with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
        yield


def summarize(precision: np.ndarray, params) -> dict[str, float]:
    """COCO's six AP numbers from the accumulated precision array [T, R, K, A, M], as fractions.

    Same selection and averaging as ``COCOeval.summarize()`` (maxDets = 100); -1 (no ground
    truth in range) and area ranges that were not evaluated become NaN.
    """
    iou_thrs = np.asarray(params.iouThrs)
    m = list(params.maxDets).index(MAX_DETS)
    labels = list(params.areaRngLbl)

    def mean(iou: float | None, area: str) -> float:
        if area not in labels:
            return math.nan
        s = precision[:, :, :, labels.index(area), m]
        if iou is not None:
            s = s[np.where(iou == iou_thrs)[0]]
        s = s[s > -1]
        return float(np.mean(s)) if s.size else math.nan

    return {
        "AP": mean(None, "all"),
        "AP50": mean(0.5, "all"),
        "AP75": mean(0.75, "all"),
        "APs": mean(None, "small"),
        "APm": mean(None, "medium"),
        "APl": mean(None, "large"),
    }


def run_eval(
    coco_gt, coco_dt, backend: str = "fast", *, use_cats: bool = True, by_area: bool = True, verbose: bool = False
) -> dict:
    """Evaluate prepared COCO objects; ``use_cats=False`` is COCO's class-agnostic mode.

    ``by_area=False`` evaluates only the "all" area range at maxDets 100 (APs/m/l are then NaN):
    the same AP, AP50 and AP75 for a quarter of the accumulation work (the probes' setting).
    """
    if backend == "fast":
        from faster_coco_eval import COCOeval_faster

        ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=_printer(verbose))
    elif backend == "pycocotools":
        from pycocotools.cocoeval import COCOeval

        with _quiet(verbose):
            ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
    else:
        raise ValueError(f"unknown backend {backend!r} (choose from {BACKENDS})")
    ev.params.useCats = int(use_cats)
    if not by_area:
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0.0, 1e5**2]], ["all"], [MAX_DETS]
    with _quiet(verbose):
        ev.evaluate()
        ev.accumulate()
    return summarize(np.asarray(ev.eval["precision"]), ev.params)


def evaluate(
    gt: dict | str | os.PathLike | GroundTruth,
    dets: list | str | os.PathLike | Detections,
    backend: str = "fast",
    *,
    verbose: bool = False,
) -> dict[str, float]:
    """COCO AP, AP50, AP75, APs, APm, APl (fractions) of ``dets`` against ``gt``.

    ``gt`` is a COCO dict or path, ``dets`` a COCO results list or path. Zero detections give 0
    wherever there is ground truth.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {BACKENDS})")
    g, d = load_inputs(gt, dets)
    coco_gt = build_gt(g, backend, verbose=verbose)
    coco_dt = build_dets(coco_gt, d, backend, verbose=verbose)
    return run_eval(coco_gt, coco_dt, backend, verbose=verbose)


# ------------------------------------------------------------------------------- CLI
def format_table(metrics: dict[str, float]) -> str:
    lines = ["metric   value"]
    for k in METRICS:
        v = metrics[k]
        lines.append(f"{k:<8} {'n/a' if math.isnan(v) else f'{v:.4f}':>6}")
    return "\n".join(lines)


def to_json(metrics: dict[str, float]) -> dict:
    """JSON-safe copy: NaN (metric undefined, no ground truth in range) becomes null."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.coco_eval",
        description="COCO box AP / AP50 / AP75 / APs / APm / APl (fractions in [0, 1]) of a detections file.",
    )
    p.add_argument("--gt", required=True, type=Path, help="ground-truth COCO JSON (images, annotations, categories)")
    p.add_argument(
        "--dets",
        required=True,
        type=Path,
        help="detections: COCO results JSON list of {image_id, category_id, bbox, score}",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="fast",
        help="'fast' = faster-coco-eval (default), 'pycocotools' = the reference implementation",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"AP":..,"AP50":..,"AP75":..,"APs":..,"APm":..,"APl":..} (null = no ground truth in range)',
    )
    p.add_argument("--verbose", action="store_true", help="show the evaluator's own progress messages (on stderr)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    metrics = evaluate(args.gt, args.dets, backend=args.backend, verbose=args.verbose)
    if args.json:
        print(json.dumps(to_json(metrics)))
    else:
        print(f"{args.dets} vs {args.gt} ({args.backend})")
        print(format_table(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
