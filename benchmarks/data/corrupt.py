"""Annotation corruption: the noise models of the noisy-detection literature, seeded and vectorised.

    python -m benchmarks.data.corrupt --in clean.json --out noisy.json --noise combined --rate 0.4 --seed 0

Four noise types, each applied to a COCO training file (validation files are never corrupted):

``cls``      categorisation noise: a fraction R of the annotations gets another class.
             ``uniform`` (default, symmetric noise): drawn uniformly from the other K-1 categories
             of the file's ``categories`` list (never the original). ``pair`` (asymmetric noise):
             class k always becomes its fixed partner, the next category id in ascending id order,
             cyclically (the largest id goes to the smallest), the pair-flip scheme of the
             noisy-label classification literature.
``loc``      localisation noise: a fraction R of the boxes is perturbed (equations below).
``combined`` both, on independent draws: round(R*N) annotations are chosen for a class flip and,
             independently, round(R*N) for a box perturbation, so about R*R*N get both (``cls+loc``),
             the "combined noise" columns of the ELDET tables.
``missing``  a fraction R of the annotations is dropped.

Selection. For every corruption type exactly ``n = floor(R*N + 0.5)`` of the N annotations are
chosen uniformly without replacement (round half up of R*N in float64: 0.5 of 5 annotations selects
3), so the realised rate is R up to rounding rather than a binomial draw around it.

Localisation equations (box ``[x, y, w, h]``, centre ``cx = x + w/2``, ``cy = y + h/2``)::

    cx' = cx + dx * w,  cy' = cy + dy * h,   dx, dy ~ U(-beta, beta)
    w'  = sw * w,       h'  = sh * h,        sw, sh ~ U(1 - beta, 1 + beta)

The corners ``cx' -/+ w'/2``, ``cy' -/+ h'/2`` are then rounded to a 0.01 px grid (COCO's own
precision; it also keeps output files small), clipped to the image ``[0, W] x [0, H]``, and a box
that became narrower or shorter than ``MIN_BOX_PX`` = 1 px (or than the image, if that is smaller)
is widened to that size around its centre, kept inside the image. Boxes are therefore never
degenerate; 1 px is also the limit below which mmdetection's CocoDataset discards a box. For
perturbed annotations that carry an ``area`` field it is set to the new box area ``w' * h'``
(the noisy file describes boxes; ``segmentation`` is left as it was, box detectors ignore it).

Default ``beta = 0.4``. The ELDET discussion (papers/eldet_openreview_discussion.txt) states noise
as a ratio of annotations (20-40 %, up to 70 % on Pets) but not the box-perturbation magnitude.
The perturbation above is the protocol of the noisy-localisation papers it builds on: OA-MIL (Liu
et al., ECCV 2022, "Robust Object Detection With Inaccurate Bounding Boxes", utils/gen_noisy_coco.py
of github.com/cxliu0/OA-MIL) shifts the centre by U(-n, n) of the box size and scales w, h by
U(1-n, 1+n) with noise level n in {0.1 ... 0.4} (0.4 is that script's default) for every box; DISCO
and SSD-Det reuse it. Since here only the selected fraction R is perturbed, the per-box magnitude
is fixed at OA-MIL's strongest level 0.4: the mean IoU of a perturbed box with its clean box is then
about 0.45 (simulation, before clipping), i.e. a typical noisy box fails an IoU-0.5 match, so every
selected box is a real localisation error. (UNA, Ryoo et al. 2023, github.com/Ryoo72/UNA, which also
selects a fraction of annotations, draws each edge uniformly in [x - w/2, x + 3w/2]: a much
stronger perturbation, mean IoU about 0.15; pass ``--beta`` to study other magnitudes.)

Randomness. Each noise kind has its own generator, ``numpy.random.default_rng([seed, k])`` with
k = 1 (cls), 2 (loc), 3 (missing), so the class flips of ``combined`` at a given seed are exactly
those of ``cls`` at that seed, and the loc part those of ``loc``. Same input + arguments gives
byte-identical outputs. The input file is only read.

Outputs (all three written atomically and all-or-nothing): the noisy COCO file (annotations that were
not changed are the input's objects, so they serialise to the same bytes), a manifest CSV with one row
per input annotation (``MANIFEST_COLUMNS``; action in ``ACTIONS``; dropped rows have empty new_*
fields), and a stats JSON (counts per action, realised rates, mean IoU of the perturbed boxes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.atomic import bytes_writer, check_outputs, write_all
from benchmarks.data.coco import AnnotationArrays, dump_coco, read_json, validate_coco
from benchmarks.errors import InputError, run_cli
from benchmarks.jsonio import gc_paused

NOISE_TYPES = ("cls", "loc", "combined", "missing")
CLS_MODES = ("uniform", "pair")
DEFAULT_BETA = 0.4
MIN_BOX_PX = 1.0
#: perturbed coordinates live on a grid of 1/GRID_PER_PX pixels
GRID_PER_PX = 100
ACTIONS = ("kept", "cls", "loc", "cls+loc", "dropped")
MANIFEST_COLUMNS = (
    "ann_id", "image_id", "orig_category_id", "new_category_id",
    "orig_x", "orig_y", "orig_w", "orig_h", "new_x", "new_y", "new_w", "new_h", "action",
)  # fmt: skip
_STREAM = {"cls": 1, "loc": 2, "missing": 3}


def log(msg: str) -> None:
    print(f"[corrupt] {msg}", file=sys.stderr, flush=True)


# ---- parameters ----------------------------------------------------------------------------


def check_params(noise: str, rate: float, seed: int, beta: float, cls_mode: str) -> None:
    """Reject impossible arguments before any work (InputError names the option)."""
    if noise not in NOISE_TYPES:
        raise InputError(f"--noise must be one of {', '.join(NOISE_TYPES)}, got {noise!r}")
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise InputError(f"--rate must be a fraction in [0, 1], got {rate!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise InputError(f"--seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and 0.0 <= beta <= 1.0):
        raise InputError(f"--beta must be in [0, 1] (scale factors U(1-beta, 1+beta) stay >= 0), got {beta!r}")
    if cls_mode not in CLS_MODES:
        raise InputError(f"--cls-mode must be one of {', '.join(CLS_MODES)}, got {cls_mode!r}")


def stream(seed: int, kind: str) -> np.random.Generator:
    """The generator of one noise kind (independent of which other kinds are applied)."""
    return np.random.default_rng([int(seed), _STREAM[kind]])


# ---- the noise models on arrays ------------------------------------------------------------


def n_selected(n: int, rate: float) -> int:
    """How many of ``n`` annotations a rate selects: round half up of ``rate * n``."""
    return min(n, int(math.floor(rate * n + 0.5)))


def select(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask with exactly :func:`n_selected` True entries, uniform without replacement."""
    mask = np.zeros(n, dtype=bool)
    k = n_selected(n, rate)
    if k:
        mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def flip_classes(
    category_ids: np.ndarray, known_ids: np.ndarray, selected: np.ndarray, rng: np.random.Generator, mode: str
) -> np.ndarray:
    """New category ids: selected rows get another class (``uniform`` or ``pair``), others keep theirs.

    ``uniform``: with the K known ids sorted and the original at sorted position i, draw
    j ~ U{0..K-2} and take position j if j < i else j + 1 -- uniform over the other K-1 classes.
    ``pair``: position (i + 1) mod K.
    """
    ids = np.sort(np.asarray(known_ids, dtype=np.int64))
    if len(ids) < 2:
        raise InputError(f"cls noise needs at least 2 categories, found {len(ids)}")
    out = np.array(category_ids, dtype=np.int64, copy=True)
    rows = np.flatnonzero(selected)
    pos = np.searchsorted(ids, out[rows])
    if mode == "uniform":
        j = rng.integers(0, len(ids) - 1, size=len(rows))
        new_pos = j + (j >= pos)
    elif mode == "pair":
        new_pos = (pos + 1) % len(ids)
    else:
        raise InputError(f"unknown cls mode {mode!r}")
    out[rows] = ids[new_pos]
    return out


def perturb_boxes(
    boxes: np.ndarray,
    image_w: np.ndarray,
    image_h: np.ndarray,
    selected: np.ndarray,
    rng: np.random.Generator,
    beta: float,
) -> np.ndarray:
    """xywh boxes with the selected rows perturbed as in the module docstring; others unchanged."""
    out = np.array(boxes, dtype=np.float64, copy=True)
    rows = np.flatnonzero(selected)
    if not len(rows):
        return out
    x, y, w, h = boxes[rows].T
    d = rng.uniform(-beta, beta, size=(len(rows), 4))  # dx, dy, sw - 1, sh - 1
    cx = x + w / 2 + d[:, 0] * w
    cy = y + h / 2 + d[:, 1] * h
    nw = w * (1.0 + d[:, 2])
    nh = h * (1.0 + d[:, 3])
    g = GRID_PER_PX
    x1, x2 = _clip_axis(np.rint((cx - nw / 2) * g), np.rint((cx + nw / 2) * g), np.floor(image_w[rows] * g))
    y1, y2 = _clip_axis(np.rint((cy - nh / 2) * g), np.rint((cy + nh / 2) * g), np.floor(image_h[rows] * g))
    out[rows] = np.stack([x1 / g, y1 / g, (x2 - x1) / g, (y2 - y1) / g], axis=1)
    return out


def _clip_axis(lo: np.ndarray, hi: np.ndarray, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip grid coordinates to [0, extent]; widen spans under MIN_BOX_PX around their centre."""
    lo = np.clip(lo, 0, extent)
    hi = np.clip(hi, 0, extent)
    m = np.minimum(MIN_BOX_PX * GRID_PER_PX, extent)
    thin = hi - lo < m
    if thin.any():
        start = np.floor((lo + hi - m) / 2)
        lo = np.where(thin, np.clip(start, 0, extent - m), lo)
        hi = np.where(thin, lo + m, hi)
    return lo, hi


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) xywh arrays."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return inter / union


@dataclass(frozen=True)
class Corruption:
    """What was done to each input annotation (row i is ``annotations[i]`` of the input)."""

    new_category_ids: np.ndarray  # (N,) int64
    new_boxes: np.ndarray  # (N, 4) float64, xywh
    cls: np.ndarray  # (N,) bool, class flipped
    loc: np.ndarray  # (N,) bool, box perturbed
    dropped: np.ndarray  # (N,) bool

    @property
    def actions(self) -> np.ndarray:
        """Per-row action name (see :data:`ACTIONS`)."""
        code = np.where(self.dropped, 4, self.cls.astype(np.int64) + 2 * self.loc.astype(np.int64))
        return np.array(ACTIONS, dtype=object)[code]


def corrupt_arrays(
    arr: AnnotationArrays,
    known_category_ids: np.ndarray,
    noise: str,
    rate: float,
    seed: int,
    beta: float = DEFAULT_BETA,
    cls_mode: str = "uniform",
) -> Corruption:
    """Apply one noise type to annotation columns (no I/O; used by :func:`corrupt_coco` and tests)."""
    check_params(noise, rate, seed, beta, cls_mode)
    n = len(arr.ann_ids)
    none = np.zeros(n, dtype=bool)
    cls = loc = dropped = none
    new_cats, new_boxes = arr.category_ids.copy(), arr.boxes.copy()
    if noise in ("cls", "combined"):
        rng = stream(seed, "cls")
        cls = select(n, rate, rng)
        new_cats = flip_classes(arr.category_ids, known_category_ids, cls, rng, cls_mode)
    if noise in ("loc", "combined"):
        rng = stream(seed, "loc")
        loc = select(n, rate, rng)
        new_boxes = perturb_boxes(arr.boxes, arr.image_w, arr.image_h, loc, rng, beta)
    if noise == "missing":
        dropped = select(n, rate, stream(seed, "missing"))
    return Corruption(new_cats, new_boxes, cls, loc, dropped)


# ---- COCO dicts, manifest, stats -----------------------------------------------------------


@dataclass(frozen=True)
class CorruptionResult:
    coco: dict  # the noisy COCO dict (shares unchanged records with the input)
    arrays: AnnotationArrays  # the input's annotation columns
    corruption: Corruption
    stats: dict


def corrupt_coco(
    coco: dict,
    noise: str,
    rate: float,
    seed: int,
    *,
    beta: float = DEFAULT_BETA,
    cls_mode: str = "uniform",
    path: str | os.PathLike = "<coco>",
    on_corruption: Callable[[AnnotationArrays, Corruption], None] | None = None,
) -> CorruptionResult:
    """Validate ``coco`` and return its corrupted copy with the per-annotation record and stats.

    The input dict is not modified: the result is a new top-level dict and a new annotation list;
    changed annotations are new dicts, unchanged ones are the input's own objects.
    ``on_corruption(arrays, corruption)`` is called as soon as the columns are known, before the
    dicts are edited (the CLI starts the manifest there).
    """
    check_params(noise, rate, seed, beta, cls_mode)
    arr = validate_coco(coco, path=path)
    known = np.array([c["id"] for c in coco["categories"]], dtype=np.int64)
    if noise in ("cls", "combined") and len(known) < 2:
        raise InputError(f"{noise} noise needs at least 2 categories, the file has {len(known)}", path=path)
    if arr is None:
        empty = np.zeros(0, dtype=np.int64)
        arr = AnnotationArrays(empty, empty, empty, np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    corruption = corrupt_arrays(arr, known, noise, rate, seed, beta, cls_mode)
    if on_corruption is not None:
        on_corruption(arr, corruption)
    with gc_paused():
        out = apply(coco, corruption)
    stats = summarize(arr, corruption, noise=noise, rate=rate, seed=seed, beta=beta, cls_mode=cls_mode)
    return CorruptionResult(out, arr, corruption, stats)


def apply(coco: dict, c: Corruption) -> dict:
    """The noisy COCO dict: changed annotations copied and edited, dropped ones left out.

    Areas of perturbed boxes are ``round(w * h, 4)`` computed as a column: ``w``, ``h`` are on the
    0.01 px grid, so ``w * h * 1e4`` lies within 1e-5 of an integer and numpy's ``rint(x * 1e4) / 1e4``
    is the float Python's ``round(x, 4)`` returns.
    """
    anns = list(coco["annotations"])
    kept = ~c.dropped
    cls_only = np.flatnonzero(c.cls & ~c.loc & kept)
    for i, cat in zip(cls_only.tolist(), c.new_category_ids[cls_only].tolist()):
        anns[i] = {**anns[i], "category_id": cat}
    loc = np.flatnonzero(c.loc & kept)
    boxes = c.new_boxes[loc]
    areas = np.round(boxes[:, 2] * boxes[:, 3], 4)
    rows = zip(loc.tolist(), c.cls[loc].tolist(), c.new_category_ids[loc].tolist(), boxes.tolist(), areas.tolist())
    for i, flipped, cat, box, area in rows:
        a = {**anns[i], "bbox": box}
        if flipped:
            a["category_id"] = cat
        if "area" in a:
            a["area"] = area
        anns[i] = a
    if c.dropped.any():
        anns = [anns[i] for i in np.flatnonzero(kept).tolist()]
    return {**coco, "annotations": anns}


def summarize(arr: AnnotationArrays, c: Corruption, **params) -> dict:
    """Stats JSON: parameters, counts per action, realised rates, mean IoU of perturbed boxes."""
    n = len(arr.ann_ids)
    actions = c.actions
    counts = {a: int(np.count_nonzero(actions == a)) for a in ACTIONS}
    loc = c.loc & ~c.dropped
    mean_iou = float(box_iou(arr.boxes[loc], c.new_boxes[loc]).mean()) if loc.any() else None
    denom = max(n, 1)
    return {
        "noise": params["noise"],
        "rate": float(params["rate"]),
        "seed": int(params["seed"]),
        "beta": float(params["beta"]),
        "cls_mode": params["cls_mode"],
        "n_annotations": n,
        "n_selected": n_selected(n, params["rate"]),
        "counts": counts,
        "realised_rates": {
            "cls": int(np.count_nonzero(c.cls)) / denom,
            "loc": int(np.count_nonzero(c.loc)) / denom,
            "missing": int(np.count_nonzero(c.dropped)) / denom,
        },
        "mean_iou_loc": mean_iou,
    }


def _arrow_column(values: np.ndarray, null: np.ndarray | None = None):
    """A pyarrow array over a numpy column (zero copy), rows where ``null`` is True missing.

    Built from buffers: ``pa.array`` would import pandas on first use (about a second).
    """
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    validity = None
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)])


def manifest_table(arr: AnnotationArrays, c: Corruption):
    """The manifest as a pyarrow table, one row per input annotation (columns :data:`MANIFEST_COLUMNS`).

    Built from the columns directly (no per-annotation Python objects); dropped rows have null
    ``new_*`` fields, unchanged boxes repeat the original box.
    """
    import pyarrow as pa

    dropped = c.dropped
    new_boxes = np.where((c.loc & ~dropped)[:, None], c.new_boxes, arr.boxes)
    code = np.where(dropped, 4, c.cls.astype(np.int8) + 2 * c.loc.astype(np.int8)).astype(np.int8)
    cols = [_arrow_column(v) for v in (arr.ann_ids, arr.image_ids, arr.category_ids)]
    cols.append(_arrow_column(c.new_category_ids, dropped))
    cols += [_arrow_column(arr.boxes[:, k]) for k in range(4)]
    cols += [_arrow_column(new_boxes[:, k], dropped) for k in range(4)]
    text = [a.encode() for a in ACTIONS]
    offsets = np.cumsum([0] + [len(t) for t in text], dtype=np.int32)
    names = pa.Array.from_buffers(pa.string(), len(text), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(text))])
    cols.append(pa.DictionaryArray.from_arrays(_arrow_column(code), names))
    return pa.Table.from_arrays(cols, names=list(MANIFEST_COLUMNS))


def manifest_csv(arr: AnnotationArrays, c: Corruption) -> bytes:
    """The manifest CSV (header + :func:`manifest_table` through Arrow's C++ CSV writer).

    Numbers are written in their shortest round-trip form (an integral float as ``351``, not
    ``351.0``); no field needs quoting (numbers and the action names), so none is quoted.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = (",".join(MANIFEST_COLUMNS) + "\n").encode()
    if not len(arr.ann_ids):
        return header
    sink = pa.BufferOutputStream()
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(manifest_table(arr, c), sink, write_options=opts)
    return header + sink.getvalue().to_pybytes()


# ---- files ---------------------------------------------------------------------------------


def default_paths(out: Path) -> tuple[Path, Path]:
    """``<out-stem>.manifest.csv`` and ``<out-stem>.stats.json`` next to ``out``."""
    return out.with_name(out.stem + ".manifest.csv"), out.with_name(out.stem + ".stats.json")


def _dump_coco(coco: dict) -> Callable[[Path], None]:
    # dump_coco is itself atomic; inside write_all its target is already a temporary path
    return lambda tmp: dump_coco(tmp, coco)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.data.corrupt",
        description="Corrupt the annotations of a COCO training file with one noise type "
        "(class flips, box perturbation, both, or dropped annotations), seeded and deterministic. "
        "Writes the noisy COCO file, a per-annotation manifest CSV and a stats JSON, all-or-nothing.",
        epilog="Equations, defaults and their sources: see the docstring of benchmarks/data/corrupt.py.",
    )
    p.add_argument(
        "--in", dest="inp", metavar="IN", required=True, type=Path, help="clean COCO annotation file (only read)"
    )
    p.add_argument("--out", required=True, type=Path, help="noisy COCO annotation file to write")
    p.add_argument(
        "--noise",
        required=True,
        choices=NOISE_TYPES,
        help="cls: class flips; loc: box perturbation; combined: both on independent draws; missing: drop annotations",
    )
    p.add_argument(
        "--rate",
        required=True,
        type=float,
        help="fraction R in [0, 1]; exactly round(R*N) (half up) annotations per noise kind",
    )
    p.add_argument("--seed", required=True, type=int, help="non-negative seed; same input + arguments = same bytes")
    p.add_argument(
        "--manifest", type=Path, default=None, help="manifest CSV path (default: <out-stem>.manifest.csv next to --out)"
    )
    p.add_argument(
        "--stats", type=Path, default=None, help="stats JSON path (default: <out-stem>.stats.json next to --out)"
    )
    p.add_argument(
        "--beta",
        type=float,
        default=DEFAULT_BETA,
        help="loc noise magnitude: centre shift U(-beta, beta) of w/h, size scale U(1-beta, 1+beta) "
        "(default 0.4, the strongest level of the OA-MIL protocol)",
    )
    p.add_argument(
        "--cls-mode",
        choices=CLS_MODES,
        default="uniform",
        help="uniform (default): new class uniform over the other K-1; pair: class -> next category id, cyclically",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    check_params(args.noise, args.rate, args.seed, args.beta, args.cls_mode)
    default_manifest, default_stats = default_paths(args.out)
    manifest = args.manifest or default_manifest
    stats_path = args.stats or default_stats
    check_outputs({"--in": args.inp}, {"--out": args.out, "--manifest": manifest, "--stats": stats_path})

    with gc_paused():
        return _run(args, manifest, stats_path)


#: the CLI's parsed input and outputs, kept until os._exit (see the end of this module)
_KEEP: list = []


def _run(args: argparse.Namespace, manifest: Path, stats_path: Path) -> int:
    t0 = time.perf_counter()
    coco = read_json(args.inp)
    log(f"read {args.inp} ({time.perf_counter() - t0:.2f} s)")
    t1 = time.perf_counter()
    # Arrow's CSV writer releases the GIL: the manifest is built on a second thread from the
    # columns, while this one edits the annotation dicts and serialises the noisy file (orjson
    # holds the GIL), so on 2 cores the manifest costs no wall time
    with ThreadPoolExecutor(max_workers=1) as pool:
        csv = []
        res = corrupt_coco(
            coco, args.noise, args.rate, args.seed, beta=args.beta, cls_mode=args.cls_mode, path=args.inp,
            on_corruption=lambda arr, c: csv.append(pool.submit(_timed_call, manifest_csv, arr, c)),
        )  # fmt: skip
        log(f"validated and corrupted {res.stats['n_annotations']} annotations ({time.perf_counter() - t1:.2f} s)")
        t2 = time.perf_counter()
        write_all(
            [
                (args.out, _dump_coco(res.coco)),
                (manifest, lambda tmp: bytes_writer(csv[0].result()[0])(tmp)),
                (stats_path, bytes_writer(json.dumps(res.stats, indent=2).encode() + b"\n")),
            ]
        )
    csv = csv[0].result()
    log(f"built the manifest ({csv[1]:.2f} s, on a second thread alongside)")
    log(f"wrote {args.out}, {manifest}, {stats_path} ({time.perf_counter() - t2:.2f} s)")
    s = res.stats
    rr = s["realised_rates"]
    iou = "n/a" if s["mean_iou_loc"] is None else f"{s['mean_iou_loc']:.3f}"
    log(
        f"noise={s['noise']} rate={s['rate']:g} seed={s['seed']}: realised rates cls={rr['cls']:.4f} "
        f"loc={rr['loc']:.4f} missing={rr['missing']:.4f} (N={s['n_annotations']}); counts {s['counts']}; "
        f"mean IoU of perturbed boxes {iou}"
    )
    if __name__ == "__main__":
        _KEEP.extend((coco, res))
    return 0


def _timed_call(fn, *args):
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t


if __name__ == "__main__":
    # Every output is complete (fsynced and renamed) once main returns. Freeing a COCO-train-sized
    # file object by object takes ~0.3 s, so the command leaves without it (streams flushed first).
    code = run_cli(main)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
