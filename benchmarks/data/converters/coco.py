"""MS COCO -> the dataset contract.

Source layout: ``SRC/annotations/instances_{train2017,val2017}.json`` and the image folders
``SRC/train2017/``, ``SRC/val2017/`` (``--train-name``/``--val-name`` select e.g. the 2014 files).
Both files are validated with ``load_coco``; every listed image must exist.

What is kept. Images: ``id`` (COCO's own ids, so results stay comparable with the official
tools), ``file_name`` (prefixed with the image folder, e.g. ``val2017/000000000139.jpg``),
``width``, ``height``. Annotations: ``id``, ``image_id``, ``category_id``, ``bbox``, ``area``,
``iscrowd``, ``segmentation``. Licenses, captions, flickr urls etc. are dropped.

- ``area`` keeps COCO's value (the mask area), because COCO evaluation bins objects into
  small/medium/large by that field; using the box area would move objects between bins and change
  APs/APm/APl against the published numbers.
- Crowd regions (``iscrowd = 1``) are dropped from train: they mark groups of objects, not
  objects, and mmdet's CocoDataset already excludes them from training (it marks them ignore), so
  corrupting them would be meaningless. They are kept, with ``iscrowd = 1``, in val, because the
  official evaluation needs them (detections on a crowd region are neither true nor false
  positives); this is the one exception to the contract's ``iscrowd = 0``.
- ``segmentation`` becomes the box polygon by default (``--segmentation box``, the contract: no
  detector of the suite uses masks, and box polygons keep the files small); ``--segmentation keep`` keeps
  COCO's masks where present and adds the box polygon where missing.
- Category ids: COCO's 80 ids are 1..90 with gaps; they are remapped to 1..80 in ascending order
  of the original id (names kept); the map is stored in dataset.json as ``category_map``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmarks.data.coco import load_coco
from benchmarks.data.converters import box_polygon, categories, link_images, log
from benchmarks.errors import InputError

HELP = "MS COCO instances JSON (train2017/val2017); category ids remapped to 1..80"


def _read(src: Path, name: str) -> tuple[dict, Path]:
    path = src / "annotations" / f"instances_{name}.json"
    log.info("reading %s", path)
    coco = load_coco(path)
    image_dir = src / name
    if not image_dir.is_dir():
        raise InputError("image directory not found", path=image_dir)
    present = set(os.listdir(image_dir))
    for i, im in enumerate(coco["images"]):
        if im["file_name"] not in present:
            raise InputError(f"image {image_dir / im['file_name']} not found", path=path, where=f"images[{i}]")
    return coco, path


def _category_map(train: dict, val: dict, val_path: Path) -> tuple[dict[int, int], list[str]]:
    cats = sorted(train["categories"], key=lambda c: c["id"])
    other = sorted(val["categories"], key=lambda c: c["id"])
    if [(c["id"], c["name"]) for c in cats] != [(c["id"], c["name"]) for c in other]:
        raise InputError("categories differ from the train file's", path=val_path)
    return {c["id"]: i + 1 for i, c in enumerate(cats)}, [c["name"] for c in cats]


def _convert_split(coco: dict, prefix: str, cat_map: dict[int, int], *, keep_crowd: bool, keep_masks: bool) -> dict:
    images = [
        {"id": im["id"], "file_name": f"{prefix}/{im['file_name']}", "width": im["width"], "height": im["height"]}
        for im in coco["images"]
    ]
    anns = []
    for a in coco["annotations"]:
        crowd = int(bool(a.get("iscrowd", 0)))
        if crowd and not keep_crowd:
            continue
        x, y, w, h = a["bbox"]
        seg = a.get("segmentation") if keep_masks else None
        anns.append(
            {
                "id": a["id"],
                "image_id": a["image_id"],
                "category_id": cat_map[a["category_id"]],
                "bbox": [x, y, w, h],
                "area": a["area"] if isinstance(a.get("area"), (int, float)) else w * h,
                "iscrowd": crowd,
                "segmentation": seg if seg else box_polygon(x, y, w, h),
            }
        )
    return {"images": images, "annotations": anns}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-name", default="train2017", help="train split name (annotations/instances_NAME.json, NAME/)"
    )
    p.add_argument("--val-name", default="val2017", help="val split name")
    p.add_argument(
        "--segmentation",
        choices=["box", "keep"],
        default="box",
        help="box: segmentation = the box polygon (the contract); keep: keep COCO's masks where present",
    )


def convert(src: Path, stage: Path, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Read ``src``; return (train, val, extra meta) and link the image folders into ``stage``."""
    if not src.is_dir():
        raise InputError("source directory not found", path=src)
    train_in, _ = _read(src, args.train_name)
    val_in, val_path = _read(src, args.val_name)
    cat_map, names = _category_map(train_in, val_in, val_path)
    keep_masks = args.segmentation == "keep"
    train = _convert_split(train_in, args.train_name, cat_map, keep_crowd=False, keep_masks=keep_masks)
    val = _convert_split(val_in, args.val_name, cat_map, keep_crowd=True, keep_masks=keep_masks)
    cats = categories(names)
    train["categories"], val["categories"] = cats, cats
    n_crowd_train = len(train_in["annotations"]) - len(train["annotations"])
    log.info("dropped %d crowd annotations from train", n_crowd_train)
    for name in (args.train_name, args.val_name):
        link_images(stage, name, src / name)
    extra = {
        "category_map": {str(old): new for old, new in cat_map.items()},
        "crowd_dropped_from_train": n_crowd_train,
        "crowd_kept_in_val": sum(a["iscrowd"] for a in val["annotations"]),
        "segmentation": args.segmentation,
        "area": "COCO's own area field (mask area), used by COCO eval for the size bins",
    }
    return train, val, extra
