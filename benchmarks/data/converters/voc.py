"""PASCAL VOC (XML) -> the dataset contract.

Source layout (``SRC`` is a ``VOCdevkit`` folder, or a folder holding one)::

    SRC/VOC2007/{Annotations/*.xml, JPEGImages/*.jpg, ImageSets/Main/{trainval,test}.txt}
    SRC/VOC2012/{Annotations/*.xml, JPEGImages/*.jpg, ImageSets/Main/trainval.txt}

Splits. The noisy-detection papers (ELDET and the works it compares with) train on "07+12", the
union of VOC2007 trainval and VOC2012 trainval (16,551 images), and test on VOC2007 test (4,952
images); these are the defaults (``--train-sets``, ``--val-sets`` take other ``YEAR:SET`` lists).
A year folder or list file that is absent is skipped with a warning, so a VOC2007-only or
VOC2012-only copy converts with what exists; a split left with no list at all is an error.

Classes: the 20 VOC classes in the standard (alphabetical devkit) order, ids 1..20.

Boxes. VOC stores ``xmin, ymin, xmax, ymax`` as 1-based, inclusive pixel indices (a box covering a
whole W-pixel-wide image is ``xmin=1, xmax=W``). In the contract's continuous 0-based coordinates
pixel index ``i`` (1-based) covers ``[i - 1, i)``, so the box is ``x = xmin - 1``, ``y = ymin - 1``,
``w = xmax - xmin + 1``, ``h = ymax - ymin + 1`` (the same reading as detectron2's VOC loader,
which subtracts 1 from xmin/ymin only). Image sizes come from the XML ``<size>``; where that is
missing or zero the image header is read with PIL.

``difficult`` objects. Default ``--difficult keep``: they stay as ordinary boxes and every
annotation carries ``"difficult": 0 | 1``. Reasons: the contract has ``iscrowd = 0`` everywhere and
COCO-style evaluation has no per-box ignore flag other than ``iscrowd``, so keeping the boxes is the
choice that loses no information (an evaluator or probe that wants mmdet's VOC protocol, which
ignores difficult boxes in training and evaluation, can filter on the flag), whereas dropping them
would teach the detector that these real objects are background. ``--difficult drop`` removes
them from both splits (closest to mmdet's ``ignore_flag`` behaviour in one file).
"""

from __future__ import annotations

import argparse
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from benchmarks.data.converters import box_annotation, categories, clip_box, image_size, link_images, log
from benchmarks.errors import InputError, open_utf8

CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
DEFAULT_TRAIN_SETS = "VOC2007:trainval,VOC2012:trainval"
DEFAULT_VAL_SETS = "VOC2007:test"
HELP = "PASCAL VOC XML (default: train = 07+12 trainval, val = 07 test)"


@dataclass(frozen=True)
class VocObject:
    """One ``<object>`` of a VOC-format XML file, coordinates as written (1-based, inclusive)."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool
    index: int  # position among the file's <object> elements, for error messages

    def box(self, width: float, height: float, path: Path) -> list[float]:
        """The contract's 0-based ``[x, y, w, h]`` (module docstring), checked against the image."""
        where = f"object {self.index} ({self.name})"
        return clip_box(self.xmin - 1, self.ymin - 1, self.xmax, self.ymax, width, height, path=path, where=where)


@dataclass(frozen=True)
class VocRecord:
    """A parsed VOC-format XML file: image size (0 if absent) and its objects."""

    width: int
    height: int
    objects: tuple[VocObject, ...]


def _text(elem: ET.Element, tag: str, path: Path, where: str) -> str:
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise InputError(f"missing <{tag}>", path=path, where=where)
    return child.text.strip()


def _number(elem: ET.Element, tag: str, path: Path, where: str) -> float:
    text = _text(elem, tag, path, where)
    try:
        return float(text)
    except ValueError:
        raise InputError(f"<{tag}> is not a number: {text!r}", path=path, where=where) from None


def parse_voc_xml(path: Path) -> VocRecord:
    """Parse one VOC-format annotation file (VOC itself, Oxford-IIIT Pets' head boxes)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputError("annotation file not found", path=path) from None
    except ET.ParseError as exc:
        line, col = exc.position
        raise InputError(f"malformed XML: {exc}", path=path, where=f"line {line}, column {col}") from None
    size = root.find("size")
    width = height = 0
    if size is not None:
        try:
            width = int(float((size.findtext("width") or "0").strip()))
            height = int(float((size.findtext("height") or "0").strip()))
        except ValueError:
            raise InputError("<size> width/height are not numbers", path=path, where="<size>") from None
    objects = []
    for i, obj in enumerate(root.findall("object")):
        where = f"object {i}"
        name = _text(obj, "name", path, where)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise InputError("missing <bndbox>", path=path, where=f"{where} ({name})")
        coords = [_number(bnd, k, path, f"{where} ({name})") for k in ("xmin", "ymin", "xmax", "ymax")]
        difficult = (obj.findtext("difficult") or "0").strip() not in ("0", "")
        objects.append(VocObject(name, *coords, difficult=difficult, index=i))
    return VocRecord(width, height, tuple(objects))


def find_devkit(src: Path) -> Path:
    """``SRC`` itself, or ``SRC/VOCdevkit`` when the year folders live there."""
    if not src.is_dir():
        raise InputError("source directory not found", path=src)
    if not any((src / y).is_dir() for y in ("VOC2007", "VOC2012")) and (src / "VOCdevkit").is_dir():
        return src / "VOCdevkit"
    return src


def parse_sets(spec: str, option: str) -> list[tuple[str, str]]:
    """``"VOC2007:trainval,VOC2012:trainval"`` -> ``[("VOC2007", "trainval"), ...]``."""
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item.count(":") != 1 or not all(item.split(":")):
            raise InputError(f"{option}: {item!r} is not of the form YEAR:SET (e.g. VOC2007:trainval)")
        year, name = item.split(":")
        out.append((year, name))
    return out


def read_id_list(path: Path) -> list[tuple[int, str]]:
    """(line number, image id) of an ImageSets list; blank lines skipped, first token of each line."""
    rows = []
    with open_utf8(path) as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if parts:
                rows.append((lineno, parts[0]))
    return rows


def _split(devkit: Path, sets: list[tuple[str, str]], split: str, difficult: str, used_years: set) -> dict:
    images, annotations = [], []
    seen: dict[tuple[str, str], str] = {}
    jpeg_cache: dict[str, set[str]] = {}
    for year, set_name in sets:
        ydir = devkit / year
        list_file = ydir / "ImageSets" / "Main" / f"{set_name}.txt"
        if not ydir.is_dir():
            log.warning("%s: %s not found, skipping %s:%s", split, ydir, year, set_name)
            continue
        if not list_file.is_file():
            log.warning("%s: %s not found, skipping %s:%s", split, list_file, year, set_name)
            continue
        jpeg_dir = ydir / "JPEGImages"
        if year not in jpeg_cache:
            if not jpeg_dir.is_dir():
                raise InputError("image directory not found", path=jpeg_dir)
            jpeg_cache[year] = set(os.listdir(jpeg_dir))
        used_years.add(year)
        rows = read_id_list(list_file)
        log.info("%s: %s:%s, %d images", split, year, set_name, len(rows))
        for lineno, image_name in tqdm(rows, desc=f"{year}:{set_name}", unit="img", mininterval=2.0):
            where = f"line {lineno}"
            key = (year, image_name)
            if key in seen:
                raise InputError(f"image {image_name} is already listed in {seen[key]}", path=list_file, where=where)
            seen[key] = f"{list_file} {where}"
            if f"{image_name}.jpg" not in jpeg_cache[year]:
                raise InputError(f"image {jpeg_dir / (image_name + '.jpg')} not found", path=list_file, where=where)
            xml_path = ydir / "Annotations" / f"{image_name}.xml"
            if not xml_path.is_file():
                raise InputError(f"annotation file {xml_path} not found", path=list_file, where=where)
            rec = parse_voc_xml(xml_path)
            width, height = rec.width, rec.height
            if width <= 0 or height <= 0:
                width, height = image_size(jpeg_dir / f"{image_name}.jpg", where_from=list_file, where=where)
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": f"{year}/{image_name}.jpg", "width": width, "height": height})
            for obj in rec.objects:
                if obj.name not in CLASSES:
                    raise InputError(
                        f"unknown class {obj.name!r} (VOC has {', '.join(CLASSES)})",
                        path=xml_path,
                        where=f"object {obj.index}",
                    )
                if difficult == "drop" and obj.difficult:
                    continue
                box = obj.box(width, height, xml_path)
                annotations.append(
                    box_annotation(
                        len(annotations) + 1,
                        image_id,
                        CLASSES.index(obj.name) + 1,
                        box,
                        difficult=int(obj.difficult),
                    )
                )
    if not images:
        looked = ", ".join(str(devkit / y / "ImageSets" / "Main" / f"{s}.txt") for y, s in sets)
        raise InputError(f"no {split} images: none of these lists exists: {looked}", path=devkit)
    return {"images": images, "annotations": annotations, "categories": categories(CLASSES)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-sets",
        default=DEFAULT_TRAIN_SETS,
        help="comma-separated YEAR:SET image lists (SRC/YEAR/ImageSets/Main/SET.txt) forming train",
    )
    p.add_argument("--val-sets", default=DEFAULT_VAL_SETS, help="YEAR:SET lists forming val")
    p.add_argument(
        "--difficult",
        choices=["keep", "drop"],
        default="keep",
        help="keep 'difficult' objects as boxes flagged difficult=1, or drop them (see the module docstring)",
    )


def convert(src: Path, stage: Path, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Read ``src``; return (train, val, extra meta) and link the image folders into ``stage``."""
    devkit = find_devkit(src)
    train_sets, val_sets = parse_sets(args.train_sets, "--train-sets"), parse_sets(args.val_sets, "--val-sets")
    years: set[str] = set()
    train = _split(devkit, train_sets, "train", args.difficult, years)
    val = _split(devkit, val_sets, "val", args.difficult, years)
    for year in sorted(years):
        link_images(stage, year, devkit / year / "JPEGImages")
    n_diff = {s: sum(a["difficult"] for a in coco["annotations"]) for s, coco in (("train", train), ("val", val))}
    extra = {
        "box_convention": "VOC 1-based inclusive (xmin, ymin, xmax, ymax) -> [xmin-1, ymin-1, xmax-xmin+1, ymax-ymin+1]",
        "difficult": args.difficult,
        "difficult_annotations": n_diff,
        "years": sorted(years),
    }
    return train, val, extra
