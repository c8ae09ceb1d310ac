"""The dataset directory contract, shared by the real-data converters and the synthetic generator.

Every dataset of the suite is one directory::

    DIR/train.json, DIR/val.json   COCO detection files (written with dump_coco)
    DIR/images/                    image files; every ``file_name`` is relative to DIR/images/
    DIR/dataset.json               meta: name, source format, classes, counts, how it was built

Annotations carry ``id, image_id, category_id, bbox [x, y, w, h], area, iscrowd, segmentation``
with ``segmentation`` the box as one polygon ``[[x, y, x+w, y, x+w, y+h, x, y+h]]`` (tidecv wants a
segmentation field; box detectors ignore it). Category ids are 1..K in the order each source
documents. Boxes are in continuous pixel coordinates with the origin at the top-left corner of the
top-left pixel, so pixel ``i`` covers ``[i, i + 1)`` and a box covering the whole image is
``[0, 0, W, H]`` (COCO's convention).

A directory appears atomically: it is built in a hidden temporary sibling (``.tmp-NAME.*``) and
renamed into place at the end, so a failure or a kill never leaves ``DIR`` itself; an existing
``DIR`` is only replaced when asked (``--force``). Real images are never copied: ``DIR/images/``
holds symlinks to the source image folders (absolute, so the directory can be read from anywhere).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.atomic import write_json
from benchmarks.data.coco import BOX_TOLERANCE_PX, dump_coco, validate_coco
from benchmarks.errors import InputError

log = logging.getLogger("benchmarks.data")

SPLITS = ("train", "val")
#: Written into every dataset directory the suite makes; ``--force`` replaces only such directories.
MARKER = ".noisy-det-repro-dataset"


def box_polygon(x: float, y: float, w: float, h: float) -> list[list[float]]:
    """The box as a COCO polygon segmentation (clockwise from the top-left corner)."""
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def box_annotation(ann_id: int, image_id: int, category_id: int, box: Sequence[float], **extra) -> dict:
    """One annotation record of the contract; ``area`` is the box area ``w * h``."""
    x, y, w, h = (float(v) for v in box)
    ann = {
        "id": int(ann_id),
        "image_id": int(image_id),
        "category_id": int(category_id),
        "bbox": [x, y, w, h],
        "area": w * h,
        "iscrowd": 0,
        "segmentation": box_polygon(x, y, w, h),
    }
    ann.update(extra)
    return ann


def categories(names: Sequence[str]) -> list[dict]:
    """COCO ``categories`` with ids 1..K in the given order."""
    return [{"id": i + 1, "name": str(n), "supercategory": "object"} for i, n in enumerate(names)]


def clip_box(
    x0: float, y0: float, x1: float, y1: float, width: float, height: float, *, path: object, where: str
) -> list[float]:
    """``[x, y, w, h]`` of corners ``(x0, y0)-(x1, y1)``, checked against a ``width x height`` image.

    Corners may overshoot the border by up to ``BOX_TOLERANCE_PX`` (real annotation tools do) and
    are then clipped onto it; anything further out, or an empty box, is an :class:`InputError`
    naming ``path`` and ``where``.
    """
    t = BOX_TOLERANCE_PX
    if not (x1 > x0 and y1 > y0):
        raise InputError(f"empty box (x0, y0, x1, y1) = ({x0:g}, {y0:g}, {x1:g}, {y1:g})", path=path, where=where)
    if x0 < -t or y0 < -t or x1 > width + t or y1 > height + t:
        raise InputError(
            f"box (x0, y0, x1, y1) = ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside its {width:g}x{height:g} image",
            path=path,
            where=where,
        )
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, float(width)), min(y1, float(height))
    if not (x1 > x0 and y1 > y0):
        raise InputError("box is empty once clipped to its image", path=path, where=where)
    return [x0, y0, x1 - x0, y1 - y0]


def image_size(path: Path, *, where_from: Path, where: str) -> tuple[int, int]:
    """Width and height from an image header (PIL reads the header only, no pixel decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise InputError(f"image not found: {path}", path=where_from, where=where) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image header: {exc}", path=path) from None


def command_line(module: str, argv: Sequence[str]) -> str:
    """The shell line that rebuilds a dataset (recorded in dataset.json)."""
    return shlex.join(["python", "-m", module, *(str(a) for a in argv)])


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out``; rename it to ``out`` if the block succeeds.

    An existing ``out`` is an :class:`InputError` unless ``force``; with ``force`` it is replaced
    only after the new directory is complete (the old one is moved aside, then deleted), so a
    failed rebuild keeps the old data, and only when it is a directory this suite wrote (it holds
    :data:`MARKER`): ``--force`` never deletes a directory it did not make, such as a source
    dataset. On any exception the temporary directory is removed.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not force:
            raise InputError("output directory already exists (pass --force to replace it)", path=out)
        if out.is_symlink() or not (out / MARKER).is_file():
            raise InputError(
                f"refusing to replace it with --force: it was not written by this suite (no {MARKER} in it)", path=out
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}.", dir=out.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text("written by noisy-det-repro; --force may replace this directory\n")
        if out.exists() or out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".old-{out.name}.", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_src_out(src: str | os.PathLike, out: str | os.PathLike) -> None:
    """Refuse an output directory equal to, inside or containing the source dataset."""
    src_r, out_r = Path(src).resolve(), Path(out).resolve()
    if out_r == src_r:
        raise InputError("--out is the source dataset itself; write the converted dataset elsewhere", path=out)
    if out_r.is_relative_to(src_r):
        raise InputError(f"--out lies inside the source dataset {src}; write it outside", path=out)
    if src_r.is_relative_to(out_r):
        raise InputError(f"--out contains the source dataset {src}; replacing it would delete the source", path=out)


def link_images(stage: Path, name: str, target: Path) -> None:
    """Make ``stage/images/name`` a symlink to the source image folder ``target``."""
    if not target.is_dir():
        raise InputError("image directory not found", path=target)
    images = stage / "images"
    images.mkdir(exist_ok=True)
    os.symlink(target.resolve(), images / name, target_is_directory=True)


def write_dataset(stage: Path, train: dict, val: dict, meta: dict) -> dict:
    """Validate both COCO dicts, write them and ``dataset.json`` into ``stage``; return the meta.

    ``meta`` gets the per-split image/annotation counts and the class names added. Validation
    runs on the dicts about to be written, so a converter bug cannot produce a file that
    ``load_coco`` would later reject.
    """
    if [c["name"] for c in train["categories"]] != [c["name"] for c in val["categories"]]:
        raise AssertionError("train and val must share one category list")
    counts = {}
    for split, coco in zip(SPLITS, (train, val)):
        validate_coco(coco, path=stage.name + f"/{split}.json")
        counts[split] = {"images": len(coco["images"]), "annotations": len(coco["annotations"])}
        per_class = [0] * len(coco["categories"])
        for a in coco["annotations"]:
            per_class[a["category_id"] - 1] += 1
        counts[split]["per_class"] = per_class
    meta = {
        **meta,
        "classes": [c["name"] for c in train["categories"]],
        "splits": counts,
    }
    for split, coco in zip(SPLITS, (train, val)):
        dump_coco(stage / f"{split}.json", coco)
    write_json(stage / "dataset.json", meta)
    for split in SPLITS:
        log.info("%s: %d images, %d annotations", split, counts[split]["images"], counts[split]["annotations"])
    return meta


def setup_logging() -> None:
    """Log lines to stderr (the workflow redirects them into the rule's log file)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
