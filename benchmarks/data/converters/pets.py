"""Oxford-IIIT Pets (head boxes) -> the dataset contract.

Source layout::

    SRC/annotations/trainval.txt, test.txt   lines "Abyssinian_100 1 1 1": name, class id 1-37,
                                             species (1 cat, 2 dog), breed id within species
    SRC/annotations/xmls/<name>.xml          VOC-format XML with the pet's head box
    SRC/images/<name>.jpg

Classes: the 37 breeds, ids 1..37 in the list files' class-id order; a breed's name is the image
name without its trailing ``_<number>`` (``american_bulldog_100`` -> ``american_bulldog``). The
lists must give one name per id and ids 1..K without gaps (an error otherwise).

Boxes: the XMLs are VOC-format, so the VOC conversion applies (1-based inclusive corners ->
``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``, see ``voc.py``); every object of a file
gets the breed of the file (the XML ``<name>`` is only the species).

Splits. Head boxes exist only for (almost all) trainval images; the official test images have no
XML. Default ``--split trainval``: the trainval images with an XML are split into train and val,
``round(--val-fraction x n)`` of each breed's n images (default 0.2; Python's round, half to even)
going to val, those with the smallest seeded hash of the image name (stratified, reproducible,
independent of file order). ``--split test``: train = all
trainval images with an XML, val = the test images that have one (an error if none do). Listed
images without an XML are skipped and counted in dataset.json. (The ELDET discussion's "~7,400
images" is the size of the whole dataset; only the images with an XML can be used for detection.)
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from benchmarks.data.converters import box_annotation, categories, image_size, link_images, log
from benchmarks.data.converters.voc import parse_voc_xml
from benchmarks.errors import InputError, open_utf8
from benchmarks.seeding import derive_seed

HELP = "Oxford-IIIT Pets head boxes (37 breeds; default: trainval split into train/val)"


def breed_of(name: str) -> str:
    """``"american_bulldog_100"`` -> ``"american_bulldog"``."""
    return name.rsplit("_", 1)[0]


def read_list(path: Path) -> list[tuple[int, str, int]]:
    """(line number, image name, class id) of a Pets list file; '#' lines are comments."""
    if not path.is_file():
        raise InputError("list file not found", path=path)
    rows = []
    with open_utf8(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]) or "_" not in parts[0]:
                raise InputError(
                    f"expected 'NAME CLASS_ID SPECIES BREED_ID', got {line.strip()!r}",
                    path=path,
                    where=f"line {lineno}",
                )
            rows.append((lineno, parts[0], int(parts[1])))
    return rows


def class_names(lists: dict[Path, list[tuple[int, str, int]]]) -> list[str]:
    """Breed names ordered by class id, checked for consistency across all list lines."""
    by_id: dict[int, tuple[str, Path, int]] = {}
    by_name: dict[str, int] = {}
    for path, rows in lists.items():
        for lineno, name, cid in rows:
            breed = breed_of(name)
            where = f"line {lineno}"
            if cid in by_id and by_id[cid][0] != breed:
                prev = by_id[cid]
                raise InputError(
                    f"class id {cid} is {breed!r} here but {prev[0]!r} at {prev[1]} line {prev[2]}",
                    path=path,
                    where=where,
                )
            if breed in by_name and by_name[breed] != cid:
                raise InputError(
                    f"breed {breed!r} has class id {cid} here but {by_name[breed]} elsewhere", path=path, where=where
                )
            by_id.setdefault(cid, (breed, path, lineno))
            by_name[breed] = cid
    ids = sorted(by_id)
    if ids != list(range(1, len(ids) + 1)):
        raise InputError(f"class ids must be 1..K without gaps, got {ids}", path=next(iter(lists)))
    if len(ids) != 37:
        log.warning("%d breeds found (Oxford-IIIT Pets has 37)", len(ids))
    return [by_id[i][0] for i in ids]


def stratified_split(rows: list[tuple[int, str, int]], fraction: float, seed: int) -> set[str]:
    """Per class, the ``round(fraction * n)`` names with the smallest seeded hash go to val."""
    per_class: dict[int, list[str]] = defaultdict(list)
    for _, name, cid in rows:
        per_class[cid].append(name)
    val = set()
    for _cid, names in sorted(per_class.items()):
        ranked = sorted(names, key=lambda n: (derive_seed("pets-val", seed, n), n))
        val.update(ranked[: int(round(fraction * len(names)))])
    return val


def _build(rows, list_path: Path, src: Path, images_present: set[str]) -> dict:
    images, anns = [], []
    for lineno, name, cid in tqdm(rows, desc=list_path.name, unit="img", mininterval=2.0):
        where = f"line {lineno}"
        if f"{name}.jpg" not in images_present:
            raise InputError(f"image {src / 'images' / (name + '.jpg')} not found", path=list_path, where=where)
        xml_path = src / "annotations" / "xmls" / f"{name}.xml"
        rec = parse_voc_xml(xml_path)
        width, height = rec.width, rec.height
        if width <= 0 or height <= 0:
            width, height = image_size(src / "images" / f"{name}.jpg", where_from=list_path, where=where)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": f"pets/{name}.jpg", "width": width, "height": height})
        for obj in rec.objects:
            anns.append(box_annotation(len(anns) + 1, image_id, cid, obj.box(width, height, xml_path)))
    return {"images": images, "annotations": anns}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split",
        choices=["trainval", "test"],
        default="trainval",
        help="trainval: split the trainval images with XML into train/val; test: val = test images with XML",
    )
    p.add_argument("--val-fraction", type=float, default=0.2, help="per-breed val fraction for --split trainval")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the --split trainval hash split")


def convert(src: Path, stage: Path, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Read ``src``; return (train, val, extra meta) and link the image folder into ``stage``."""
    if not src.is_dir():
        raise InputError("source directory not found", path=src)
    trainval_path = src / "annotations" / "trainval.txt"
    test_path = src / "annotations" / "test.txt"
    xml_dir = src / "annotations" / "xmls"
    image_dir = src / "images"
    for d in (xml_dir, image_dir):
        if not d.is_dir():
            raise InputError("directory not found", path=d)
    lists = {trainval_path: read_list(trainval_path)}
    if args.split == "test" or test_path.is_file():
        lists[test_path] = read_list(test_path)
    names = class_names(lists)
    xmls = {os.path.splitext(f)[0] for f in os.listdir(xml_dir) if f.endswith(".xml")}
    present = set(os.listdir(image_dir))

    def with_xml(path: Path) -> list[tuple[int, str, int]]:
        rows = [r for r in lists[path] if r[1] in xmls]
        log.info("%s: %d of %d images have a head-box XML", path.name, len(rows), len(lists[path]))
        return rows

    trainval = with_xml(trainval_path)
    skipped = {"trainval": len(lists[trainval_path]) - len(trainval)}
    if args.split == "trainval":
        if not 0.0 < args.val_fraction < 1.0:
            raise InputError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        val_names = stratified_split(trainval, args.val_fraction, args.split_seed)
        train = _build([r for r in trainval if r[1] not in val_names], trainval_path, src, present)
        val = _build([r for r in trainval if r[1] in val_names], trainval_path, src, present)
        val_source = f"{100 * args.val_fraction:g} % of each breed of trainval (hash split, seed {args.split_seed})"
    else:
        test = with_xml(test_path)
        skipped["test"] = len(lists[test_path]) - len(test)
        if not test:
            raise InputError("no test image has a head-box XML; use --split trainval", path=test_path)
        train = _build(trainval, trainval_path, src, present)
        val = _build(test, test_path, src, present)
        val_source = "test.txt images with an XML"
    cats = categories(names)
    train["categories"], val["categories"] = cats, cats
    link_images(stage, "pets", image_dir)
    extra = {"split": args.split, "val_source": val_source, "images_without_xml_skipped": skipped}
    return train, val, extra
