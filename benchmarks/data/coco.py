"""COCO-format detection files: loading with validation, array views, deterministic writing.

Every stage of the suite exchanges datasets as COCO JSON (``images``, ``annotations``,
``categories``; boxes as ``[x, y, w, h]`` in pixels). :func:`load_coco` validates a file
vectorised (a COCO-train-sized file in well under a second) and raises :class:`InputError`
naming the file, the record and the problem, so a broken input never reaches training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np

from benchmarks import jsonio
from benchmarks.atomic import atomic_open
from benchmarks.errors import InputError

#: Boxes may overshoot the image border by this many pixels (COCO itself has sub-pixel overshoots).
BOX_TOLERANCE_PX = 1.0

_ID_KEYS = itemgetter("id", "image_id", "category_id")
_BBOX = itemgetter("bbox")


@dataclass(frozen=True)
class AnnotationArrays:
    """Column view of the annotations of a COCO dict (row i is ``coco["annotations"][i]``)."""

    ann_ids: np.ndarray  # (N,) int64
    image_ids: np.ndarray  # (N,) int64
    category_ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64, xywh
    image_w: np.ndarray  # (N,) float64, width of each annotation's image
    image_h: np.ndarray  # (N,) float64


def read_json(path: str | os.PathLike) -> object:
    """Parse a JSON file (orjson, see :mod:`benchmarks.jsonio`); a missing file or a syntax error
    becomes an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        return jsonio.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg}", path=path, where=f"line {exc.lineno}, column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=path) from None


def load_coco(path: str | os.PathLike, *, require_annotations: bool = True) -> dict:
    """Read and validate a COCO detection file (see :func:`validate_coco`)."""
    coco = read_json(path)
    validate_coco(coco, path=path, require_annotations=require_annotations)
    return coco


def is_int(v) -> bool:
    """A JSON integer or a numpy one (in-memory inputs); not a bool, float or string."""
    return type(v) is int or isinstance(v, np.integer)


def is_number(v) -> bool:
    """A JSON number or a numpy one; not a bool (numpy would read true as 1), string or null."""
    return type(v) in (int, float) or isinstance(v, (np.integer, np.floating))


def all_typed(values: list, plain: set, check) -> bool:
    """``check`` holds for every value. One C-level pass over the types first: plain JSON values
    (types in ``plain``) are the usual case; only other types (numpy scalars, bad values) pay for
    ``check`` per value."""
    return set(map(type, values)) <= plain or all(map(check, values))


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_coco(
    coco: object, *, path: str | os.PathLike = "<coco>", require_annotations: bool = True
) -> AnnotationArrays | None:
    """Check structure, ids, references and boxes; raise :class:`InputError` on the first problem.

    Returns the annotations' :class:`AnnotationArrays` (built for the checks anyway), or None when
    there are no annotations.

    Checks: top-level keys; unique image/annotation/category ids; every annotation points at an
    existing image and category; boxes are 4 finite numbers with positive width and height and lie
    inside their image (within :data:`BOX_TOLERANCE_PX`); images have positive width/height.
    """
    if not isinstance(coco, dict):
        raise InputError("top level must be a JSON object with images/annotations/categories", path=path)
    keys = ("images", "annotations", "categories") if require_annotations else ("images", "categories")
    for key in keys:
        if key not in coco:
            raise InputError(f"missing top-level key '{key}'", path=path)
        if not isinstance(coco[key], list):
            raise InputError(f"'{key}' must be a list", path=path)
    images, cats = coco["images"], coco["categories"]
    anns = coco.get("annotations", [])

    def _ids(records: list, kind: str) -> np.ndarray:
        try:
            raw = [r["id"] for r in records]
            if not all_typed(raw, {int}, is_int):  # np.array would read "2", 2.5 or true as an id
                raise TypeError
            ids = np.array(raw, dtype=np.int64)
        except (KeyError, TypeError, ValueError, OverflowError):
            bad = next(i for i, r in enumerate(records) if not isinstance(r, dict) or not is_int(r.get("id")))
            raise InputError(f"{kind} record has no integer 'id'", path=path, where=f"{kind}[{bad}]") from None
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InputError(f"duplicate {kind} id {int(uniq[counts > 1][0])}", path=path)
        return ids

    img_ids = _ids(images, "images")
    cat_ids = _ids(cats, "categories")
    for i, c in enumerate(cats):
        if not isinstance(c.get("name"), str):
            raise InputError("category has no 'name'", path=path, where=f"categories[{i}]")
    try:
        sizes = [(im["width"], im["height"]) for im in images]
        if not all_typed(list(chain.from_iterable(sizes)), {int, float}, is_number):  # not "120", not true
            raise TypeError
        wh = np.array(sizes, dtype=np.float64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        bad = next(
            i
            for i, im in enumerate(images)
            if not isinstance(im, dict) or not all(is_number(im.get(k)) for k in ("width", "height"))
        )
        raise InputError("image has no numeric width/height", path=path, where=f"images[{bad}]") from None
    if len(wh) and not np.isfinite(wh).all():
        bad = _first_bad(~np.isfinite(wh).all(1))
        raise InputError(
            f"image id {int(img_ids[bad])} has a non-finite size {wh[bad].tolist()}", path=path, where=f"images[{bad}]"
        )
    if len(wh) and (wh <= 0).any():
        bad = _first_bad((wh <= 0).any(1))
        raise InputError(
            f"image id {int(img_ids[bad])} has non-positive size {wh[bad].tolist()}", path=path, where=f"images[{bad}]"
        )
    for i, im in enumerate(images):
        if not isinstance(im.get("file_name"), str):
            raise InputError("image has no 'file_name'", path=path, where=f"images[{i}]")
    if not anns:
        return None
    arr = annotation_arrays(coco, path=path, _img_ids=img_ids, _wh=wh)
    ann_ids = arr.ann_ids
    dup = _duplicate(ann_ids)
    if dup is not None:
        raise InputError(f"duplicate annotations id {dup}", path=path)
    known_cat = np.isin(arr.category_ids, cat_ids)
    if not known_cat.all():
        bad = _first_bad(~known_cat)
        raise InputError(
            f"annotation id {int(ann_ids[bad])} has unknown category_id {int(arr.category_ids[bad])} "
            f"(known: {sorted(cat_ids.tolist())[:20]})",
            path=path,
            where=f"annotations[{bad}]",
        )
    b = arr.boxes
    finite = np.isfinite(b).all(1)
    if not finite.all():
        bad = _first_bad(~finite)
        raise InputError(
            f"annotation id {int(ann_ids[bad])} has a non-finite bbox {b[bad].tolist()}",
            path=path,
            where=f"annotations[{bad}]",
        )
    positive = (b[:, 2] > 0) & (b[:, 3] > 0)
    if not positive.all():
        bad = _first_bad(~positive)
        raise InputError(
            f"annotation id {int(ann_ids[bad])} has a non-positive box width/height {b[bad].tolist()}",
            path=path,
            where=f"annotations[{bad}]",
        )
    t = BOX_TOLERANCE_PX
    inside = (
        (b[:, 0] >= -t)
        & (b[:, 1] >= -t)
        & (b[:, 0] + b[:, 2] <= arr.image_w + t)
        & (b[:, 1] + b[:, 3] <= arr.image_h + t)
    )
    if not inside.all():
        bad = _first_bad(~inside)
        raise InputError(
            f"annotation id {int(ann_ids[bad])} box {b[bad].tolist()} lies outside its image "
            f"(id {int(arr.image_ids[bad])}, {arr.image_w[bad]:g}x{arr.image_h[bad]:g})",
            path=path,
            where=f"annotations[{bad}]",
        )
    return arr


def annotation_arrays(coco: dict, *, path: str | os.PathLike = "<coco>", _img_ids=None, _wh=None) -> AnnotationArrays:
    """Columns of the annotations, with each annotation's image size looked up (vectorised).

    Each field is pulled out with one C-level pass (``itemgetter`` + ``np.fromiter``); only when
    that fails are the records walked in Python to name the first bad one.
    """
    anns = coco["annotations"]
    n = len(anns)
    if _img_ids is None:
        _img_ids = np.array([im["id"] for im in coco["images"]], dtype=np.int64)
        _wh = np.array([(im["width"], im["height"]) for im in coco["images"]], dtype=np.float64).reshape(-1, 2)
    try:
        flat = list(chain.from_iterable(map(_ID_KEYS, anns)))
        if not set(map(type, flat)) <= {int}:  # np.fromiter would read "7" or 7.5 as an id
            raise TypeError
        ints = np.fromiter(flat, dtype=np.int64, count=3 * n).reshape(n, 3)
    except (KeyError, TypeError, ValueError):
        for i, a in enumerate(anns):
            for key in ("id", "image_id", "category_id"):
                if type(a.get(key) if isinstance(a, dict) else None) is not int:  # bool too
                    raise InputError(
                        f"annotation has no integer '{key}'", path=path, where=f"annotations[{i}]"
                    ) from None
        raise
    ann_ids, image_ids, category_ids = (np.ascontiguousarray(ints[:, k]) for k in range(3))
    try:
        bboxes = list(map(_BBOX, anns))
        # every bbox a list of 4 before flattening: a short one next to a long one would shift rows
        if not set(map(type, bboxes)) <= {list, tuple} or not set(map(len, bboxes)) <= {4}:
            raise ValueError
        coords = list(chain.from_iterable(bboxes))
        if not all_typed(coords, {int, float}, is_number):  # np.fromiter would read "3" (or true) as 3
            raise TypeError
        boxes = np.fromiter(coords, dtype=np.float64, count=4 * n).reshape(n, 4)
    except (KeyError, TypeError, ValueError):
        for i, a in enumerate(anns):
            bb = a.get("bbox")
            if not (isinstance(bb, (list, tuple)) and len(bb) == 4 and all(map(is_number, bb))):
                raise InputError(
                    f"annotation id {a.get('id')} bbox must be 4 numbers [x, y, w, h], got {bb!r}",
                    path=path,
                    where=f"annotations[{i}]",
                ) from None
        raise
    idx = _row_of(_img_ids, image_ids)
    found = idx >= 0
    if not np.all(found):
        bad = _first_bad(~found)
        raise InputError(
            f"annotation id {int(ann_ids[bad])} points at missing image_id {int(image_ids[bad])}",
            path=path,
            where=f"annotations[{bad}]",
        )
    return AnnotationArrays(ann_ids, image_ids, category_ids, boxes, _wh[idx, 0], _wh[idx, 1])


def _duplicate(ids: np.ndarray) -> int | None:
    """The smallest id that occurs twice, or None (a count per id when ids are dense, else a sort)."""
    if not len(ids):
        return None
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo <= 8 * len(ids) + 1_000_000:
        counts = np.bincount(ids - lo)
    else:
        uniq, counts = np.unique(ids, return_counts=True)
        lo = None
    twice = np.flatnonzero(counts > 1)
    if not len(twice):
        return None
    return int(twice[0] + lo) if lo is not None else int(uniq[twice[0]])


def _row_of(ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row of each ``query`` id in the unique ``ids`` (-1 where absent).

    Dense non-negative ids (COCO's: at most a few per image) use a lookup table, one gather per
    query; other ids a sorted search.
    """
    if not len(ids):
        return np.full(len(query), -1, dtype=np.int64)
    lo, hi = int(ids.min()), int(ids.max())
    if lo >= 0 and hi <= 8 * len(ids) + 1_000_000:
        table = np.full(hi + 1, -1, dtype=np.int64)
        table[ids] = np.arange(len(ids))
        inside = (query >= 0) & (query <= hi)
        return np.where(inside, table[np.where(inside, query, 0)], -1)
    order = np.argsort(ids, kind="stable")
    pos = np.minimum(np.searchsorted(ids[order], query), len(ids) - 1)
    return np.where(ids[order][pos] == query, order[pos], -1)


def dump_coco(path: str | os.PathLike, coco: dict) -> None:
    """Write a COCO dict atomically, compact (same content, same bytes; orjson, see :mod:`benchmarks.jsonio`)."""
    data = jsonio.dumps(coco)
    with atomic_open(path, "wb") as fh:
        fh.write(data)
        fh.write(b"\n")
