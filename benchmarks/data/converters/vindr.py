"""VinDr-CXR (chest X-ray, boxes from several radiologists) -> the dataset contract.

Source layout::

    SRC/annotations/annotations_train.csv   image_id, rad_id, class_name, x_min, y_min, x_max, y_max
    SRC/annotations/annotations_test.csv    same columns (rad_id optional); the official test set
    SRC/train/<image_id>.png|.jpg           images already converted from DICOM
    SRC/test/<image_id>.png|.jpg

Classes: the 14 abnormality classes of the VinDr-CXR detection task, ids 1..14 in the dataset's
own ``class_id`` order 0..13 (alphabetical): see ``CLASSES``. "No finding" rows carry no box and
only mark an image as read. A class name outside these 14 is an error by default;
``--unknown-classes other`` maps it to "Other lesion" (what the 14-class release did with rarer
findings), ``drop`` ignores it.

Boxes are ``x_min, y_min, x_max, y_max`` in pixels of the original image, read as continuous
corners: ``[x_min, y_min, x_max - x_min, y_max - y_min]``. Image sizes come from the image headers
(PIL reads only the header) or from ``--sizes`` (CSV ``image_id,width,height``); the images must
be at the resolution the boxes refer to (a box outside its image is an error).

Splits. val = the official test set (``annotations_test.csv``) when present; otherwise
``round(--val-fraction x n)`` of the n train images, those with the smallest seeded hash of the
image id (the same image tends to land in the same split whatever else the CSV contains). Images whose only rows are
"No finding" are kept as images without boxes (``--empty-images keep``): the ELDET discussion
(papers/eldet_openreview_discussion.txt) describes VinDr-CXR as "18,000 images", i.e. all 15,000
training + 3,000 test images, not only the ~4,400 with findings. ``drop`` keeps only images with
at least one box.

Merging readers (``--readers fuse``, default). Each training image was read independently by
three radiologists, so one lesion usually has up to three boxes; the test set has one consensus
reading. Per image and class, boxes are clustered greedily in CSV order: a box joins the cluster
whose current fused box overlaps it most, if that IoU exceeds ``--fuse-iou`` (default 0.5, the IoU
at which a detection counts as finding an object in AP50) and no box of the same reader is in the
cluster yet (two boxes of one reader are two lesions); otherwise it starts a new cluster. The fused
box is the coordinate-wise mean of the cluster's boxes, and the annotation records ``readers`` =
the number of radiologists who drew it. ``--min-readers k`` keeps only clusters drawn by at least
k readers (1 = the union of all readings). ``--readers all`` keeps every reader's box unmerged
(``rad_id`` recorded per annotation). The ELDET discussion says nothing about reader merging.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.data.converters import box_annotation, categories, clip_box, image_size, link_images, log
from benchmarks.errors import InputError, open_utf8
from benchmarks.seeding import derive_seed

CLASSES = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
)
NO_FINDING = "No finding"
REQUIRED = ("image_id", "class_name", "x_min", "y_min", "x_max", "y_max")
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
HELP = "VinDr-CXR CSV annotations (14 classes, radiologists' boxes fused)"


@dataclass(frozen=True)
class Row:
    """One CSV row with a box (corners as written) or without one (No finding)."""

    line: int
    image_id: str
    rad_id: str
    class_name: str
    corners: tuple[float, float, float, float] | None


def read_rows(path: Path, unknown: str) -> tuple[list[Row], list[str]]:
    """Rows of an annotations CSV and the image ids in order of first appearance."""
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    rows: list[Row] = []
    order: dict[str, None] = {}
    with open_utf8(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(missing)} (have {reader.fieldnames})", path=path, where="line 1"
            )
        try:
            for rec in reader:
                where = f"line {reader.line_num}"
                image_id = (rec["image_id"] or "").strip()
                name = (rec["class_name"] or "").strip()
                if not image_id:
                    raise InputError("empty image_id", path=path, where=where)
                order.setdefault(image_id, None)
                rad = (rec.get("rad_id") or "").strip() or "consensus"
                if name == NO_FINDING:
                    rows.append(Row(reader.line_num, image_id, rad, name, None))
                    continue
                if name not in CLASSES:
                    if unknown == "error":
                        raise InputError(
                            f"unknown class {name!r} (known: {', '.join(CLASSES)}, {NO_FINDING}; "
                            "--unknown-classes other|drop accepts others)",
                            path=path,
                            where=where,
                        )
                    if unknown == "drop":
                        continue
                    name = "Other lesion"
                try:
                    corners = tuple(float(rec[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
                except (TypeError, ValueError):
                    vals = [rec[k] for k in ("x_min", "y_min", "x_max", "y_max")]
                    raise InputError(f"box coordinates are not numbers: {vals}", path=path, where=where) from None
                if not all(np.isfinite(corners)):
                    raise InputError(f"box coordinates are not finite: {corners}", path=path, where=where)
                rows.append(Row(reader.line_num, image_id, rad, name, corners))
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=path, where=f"line {reader.line_num}") from None
    return rows, list(order)


def read_sizes(path: Path) -> dict[str, tuple[int, int]]:
    """``--sizes`` CSV: image_id,width,height."""
    if not path.is_file():
        raise InputError("sizes file not found", path=path)
    sizes = {}
    with open_utf8(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("image_id", "width", "height") if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", path=path, where="line 1")
        for rec in reader:
            try:
                w, h = int(float(rec["width"])), int(float(rec["height"]))
            except (TypeError, ValueError):
                raise InputError("width/height are not numbers", path=path, where=f"line {reader.line_num}") from None
            if w <= 0 or h <= 0:
                raise InputError(f"non-positive size {w}x{h}", path=path, where=f"line {reader.line_num}")
            sizes[rec["image_id"].strip()] = (w, h)
    return sizes


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(x0, y0, x1, y1)`` box with each row of ``boxes`` (continuous coordinates)."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def fuse_readers(corners: list[tuple], readers: list[str], iou_thr: float) -> list[tuple[np.ndarray, int]]:
    """Cluster one image's boxes of one class across readers (module docstring); (mean box, #readers)."""
    members: list[list[int]] = []
    fused: list[np.ndarray] = []
    pts = np.asarray(corners, dtype=np.float64).reshape(-1, 4)
    for i, box in enumerate(pts):
        best = -1
        if fused:
            ious = iou_one_to_many(box, np.stack(fused))
            for c in np.argsort(-ious, kind="stable"):
                if ious[c] <= iou_thr:
                    break
                if readers[i] not in {readers[j] for j in members[c]}:
                    best = int(c)
                    break
        if best < 0:
            members.append([i])
            fused.append(box.copy())
        else:
            members[best].append(i)
            fused[best] = pts[members[best]].mean(axis=0)
    return [(fused[c], len(members[c])) for c in range(len(members))]


def _image_index(folder: Path) -> dict[str, str]:
    """image id (file stem) -> file name, for the image files of ``folder``."""
    if not folder.is_dir():
        raise InputError("image directory not found", path=folder)
    index = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTS:
            index.setdefault(stem, name)
    return index


def _split(
    rows: list[Row],
    image_ids: list[str],
    csv_path: Path,
    folder: Path,
    args: argparse.Namespace,
    sizes: dict[str, tuple[int, int]] | None,
) -> dict:
    files = _image_index(folder)
    first_line = {}
    for r in rows:
        first_line.setdefault(r.image_id, r.line)
    by_image: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_image[r.image_id].append(r)
    images, anns = [], []
    for image_id in tqdm(sorted(image_ids), desc=folder.name, unit="img", mininterval=2.0):
        where = f"line {first_line.get(image_id, '?')}"
        if image_id not in files:
            raise InputError(
                f"no image {folder / image_id}{{.png,.jpg}} for image_id {image_id}", path=csv_path, where=where
            )
        if sizes is not None:
            if image_id not in sizes:
                raise InputError(f"no size for image_id {image_id} in {args.sizes}", path=csv_path, where=where)
            width, height = sizes[image_id]
        else:
            width, height = image_size(folder / files[image_id], where_from=csv_path, where=where)
        boxed = [r for r in by_image[image_id] if r.corners is not None]
        if not boxed and args.empty_images == "drop":
            continue
        img_id = len(images) + 1
        images.append({"id": img_id, "file_name": f"{folder.name}/{files[image_id]}", "width": width, "height": height})
        for r in boxed:  # every box checked against the image, before any merging
            clip_box(*r.corners, width, height, path=csv_path, where=f"line {r.line}")
        for name in CLASSES:
            cls_rows = [r for r in boxed if r.class_name == name]
            if not cls_rows:
                continue
            cat = CLASSES.index(name) + 1
            if args.readers == "all":
                for r in cls_rows:
                    box = clip_box(*r.corners, width, height, path=csv_path, where=f"line {r.line}")
                    anns.append(box_annotation(len(anns) + 1, img_id, cat, box, rad_id=r.rad_id))
                continue
            for corners, n in fuse_readers([r.corners for r in cls_rows], [r.rad_id for r in cls_rows], args.fuse_iou):
                if n < args.min_readers:
                    continue
                c = [round(float(v), 2) for v in corners]
                box = clip_box(*c, width, height, path=csv_path, where=f"line {cls_rows[0].line}")
                anns.append(box_annotation(len(anns) + 1, img_id, cat, box, readers=n))
    return {"images": images, "annotations": anns, "categories": categories(CLASSES)}


def hash_split(image_ids: list[str], fraction: float, seed: int) -> set[str]:
    """The ``round(fraction * n)`` ids with the smallest seeded hash: a split independent of order."""
    k = int(round(fraction * len(image_ids)))
    ranked = sorted(image_ids, key=lambda i: (derive_seed("vindr-val", seed, i), i))
    return set(ranked[:k])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--readers",
        choices=["fuse", "all"],
        default="fuse",
        help="fuse: merge the radiologists' boxes of one lesion (module docstring); all: keep every reader's box",
    )
    p.add_argument("--fuse-iou", type=float, default=0.5, help="IoU above which boxes of different readers are fused")
    p.add_argument("--min-readers", type=int, default=1, help="keep fused boxes drawn by at least this many readers")
    p.add_argument(
        "--empty-images",
        choices=["keep", "drop"],
        default="keep",
        help="keep images without boxes ('No finding'), as in the 18,000-image setting of ELDET, or drop them",
    )
    p.add_argument(
        "--unknown-classes",
        choices=["error", "other", "drop"],
        default="error",
        help="what to do with a class outside the 14: error, map to 'Other lesion', or drop the row",
    )
    p.add_argument(
        "--sizes", type=Path, default=None, help="CSV image_id,width,height instead of reading image headers"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of train images used as val when annotations_test.csv is absent",
    )
    p.add_argument("--split-seed", type=int, default=0, help="seed of that train/val split")


def convert(src: Path, stage: Path, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Read ``src``; return (train, val, extra meta) and link the image folders into ``stage``."""
    if not src.is_dir():
        raise InputError("source directory not found", path=src)
    if not 0.0 < args.fuse_iou < 1.0:
        raise InputError(f"--fuse-iou must be in (0, 1), got {args.fuse_iou}")
    if args.min_readers < 1:
        raise InputError(f"--min-readers must be >= 1, got {args.min_readers}")
    sizes = read_sizes(args.sizes) if args.sizes is not None else None
    train_csv = src / "annotations" / "annotations_train.csv"
    test_csv = src / "annotations" / "annotations_test.csv"
    rows, ids = read_rows(train_csv, args.unknown_classes)
    log.info("%s: %d rows, %d images", train_csv, len(rows), len(ids))
    if test_csv.is_file():
        val_rows, val_ids = read_rows(test_csv, args.unknown_classes)
        log.info("%s: %d rows, %d images (official test set = val)", test_csv, len(val_rows), len(val_ids))
        train = _split(rows, ids, train_csv, src / "train", args, sizes)
        val = _split(val_rows, val_ids, test_csv, src / "test", args, sizes)
        link_images(stage, "train", src / "train")
        link_images(stage, "test", src / "test")
        val_source = "annotations_test.csv (official test set)"
    else:
        if not 0.0 < args.val_fraction < 1.0:
            raise InputError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        log.warning(
            "%s not found: val = %.0f %% of the train images (seed %d)",
            test_csv,
            100 * args.val_fraction,
            args.split_seed,
        )
        val_set = hash_split(ids, args.val_fraction, args.split_seed)
        train = _split(rows, [i for i in ids if i not in val_set], train_csv, src / "train", args, sizes)
        val = _split(rows, [i for i in ids if i in val_set], train_csv, src / "train", args, sizes)
        link_images(stage, "train", src / "train")
        val_source = (
            f"{100 * args.val_fraction:g} % of annotations_train.csv images (hash split, seed {args.split_seed})"
        )
    extra = {
        "val_source": val_source,
        "readers": args.readers,
        "fuse_iou": args.fuse_iou if args.readers == "fuse" else None,
        "min_readers": args.min_readers if args.readers == "fuse" else None,
        "empty_images": args.empty_images,
        "unknown_classes": args.unknown_classes,
        "box_convention": "[x_min, y_min, x_max - x_min, y_max - y_min]",
    }
    return train, val, extra
