"""Converters VOC / COCO / VinDr-CXR / Oxford-IIIT Pets on tiny hand-made sources.

Expected values are computed by hand from the conventions in the converters' docstrings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.data import convert
from benchmarks.data.coco import load_coco
from benchmarks.data.converters import MARKER
from benchmarks.errors import run_cli
from benchmarks.seeding import derive_seed

# ---- helpers ------------------------------------------------------------------------------


def _image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB" if path.suffix == ".jpg" else "L", (w, h), 90).save(path)


def _voc_xml(path: Path, w: int | None, h: int | None, objects: list[tuple]) -> None:
    """objects: (name, xmin, ymin, xmax, ymax, difficult)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = "" if w is None else f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
    objs = "".join(
        f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated><difficult>{d}</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for n, x0, y0, x1, y1, d in objects
    )
    path.write_text(f"<annotation><folder>VOC</folder><filename>{path.stem}.jpg</filename>{size}{objs}</annotation>\n")


def _run(argv: list[str]) -> int:
    return run_cli(convert.main, argv)


def _anns(coco: dict, file_name: str) -> list[dict]:
    img = next(im for im in coco["images"] if im["file_name"] == file_name)
    return [a for a in coco["annotations"] if a["image_id"] == img["id"]]


def _assert_failed_cleanly(code: int, capsys, out: Path, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.strip().splitlines()[-1]  # progress bars come before it
    assert last.startswith("error: "), err
    for needle in needles:
        assert needle in last, (needle, err)
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".tmp-")] == []
    return err


# ---- VOC ----------------------------------------------------------------------------------


def _voc(root: Path, *, years=("VOC2007", "VOC2012")) -> Path:
    src = root / "VOCdevkit"
    if "VOC2007" in years:
        y = src / "VOC2007"
        _voc_xml(
            y / "Annotations" / "000005.xml",
            500,
            375,
            [("chair", 263, 211, 324, 339, 0), ("person", 1, 1, 500, 375, 1)],
        )
        _voc_xml(y / "Annotations" / "000007.xml", 500, 333, [("car", 141, 50, 500, 330, 0)])
        _voc_xml(
            y / "Annotations" / "000001.xml", 353, 500, [("dog", 48, 240, 195, 371, 0), ("person", 8, 12, 352, 498, 0)]
        )
        for name, (w, h) in {"000005": (500, 375), "000007": (500, 333), "000001": (353, 500)}.items():
            _image(y / "JPEGImages" / f"{name}.jpg", w, h)
        (y / "ImageSets" / "Main").mkdir(parents=True)
        (y / "ImageSets" / "Main" / "trainval.txt").write_text("000005\n000007\n")
        (y / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    if "VOC2012" in years:
        y = src / "VOC2012"
        _voc_xml(
            y / "Annotations" / "2008_000008.xml",
            500,
            442,
            [("horse", 53, 87, 471, 420, 0), ("person", 158.5, 44, 289, 167, 1)],
        )
        _voc_xml(y / "Annotations" / "2008_000015.xml", 500, 327, [("bottle", 270, 1, 378, 176, 0)])
        _image(y / "JPEGImages" / "2008_000008.jpg", 500, 442)
        _image(y / "JPEGImages" / "2008_000015.jpg", 500, 327)
        (y / "ImageSets" / "Main").mkdir(parents=True)
        (y / "ImageSets" / "Main" / "trainval.txt").write_text("2008_000008\n")
        (y / "ImageSets" / "Main" / "val.txt").write_text("2008_000015\n")
    return src


def test_voc_07_12_union_box_arithmetic_and_class_ids(tmp_path):
    src, out = _voc(tmp_path / "root"), tmp_path / "out"
    assert _run(["voc", "--src", str(src.parent), "--out", str(out)]) == 0  # finds VOCdevkit/ inside
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert [im["file_name"] for im in train["images"]] == [
        "VOC2007/000005.jpg",
        "VOC2007/000007.jpg",
        "VOC2012/2008_000008.jpg",
    ]
    assert [im["file_name"] for im in val["images"]] == ["VOC2007/000001.jpg"]
    assert [(im["width"], im["height"]) for im in train["images"]] == [(500, 375), (500, 333), (500, 442)]
    # chair 263,211,324,339 (1-based inclusive) -> x = 262, y = 210, w = 324 - 263 + 1 = 62, h = 129
    chair, person = _anns(train, "VOC2007/000005.jpg")
    assert chair["bbox"] == [262.0, 210.0, 62.0, 129.0] and chair["area"] == 62.0 * 129.0
    assert chair["category_id"] == 9 and chair["difficult"] == 0  # aeroplane=1 ... chair=9
    assert chair["segmentation"] == [[262.0, 210.0, 324.0, 210.0, 324.0, 339.0, 262.0, 339.0]]
    assert chair["iscrowd"] == 0
    # a whole-image box 1,1,500,375 -> [0, 0, 500, 375]
    assert person["bbox"] == [0.0, 0.0, 500.0, 375.0] and person["category_id"] == 15 and person["difficult"] == 1
    horse, person2 = _anns(train, "VOC2012/2008_000008.jpg")
    assert horse["category_id"] == 13 and horse["bbox"] == [52.0, 86.0, 419.0, 334.0]
    assert person2["bbox"] == [157.5, 43.0, 131.5, 124.0]  # fractional coordinates kept
    dog, _ = _anns(val, "VOC2007/000001.jpg")
    assert dog["category_id"] == 12 and dog["bbox"] == [47.0, 239.0, 148.0, 132.0]
    assert [c["name"] for c in train["categories"]][:3] == ["aeroplane", "bicycle", "bird"]
    assert len(train["categories"]) == 20 and train["categories"] == val["categories"]
    # images are reachable through the symlinks, never copied
    assert (out / "images" / "VOC2007").is_symlink()
    assert (out / "images" / "VOC2007").resolve() == (src / "VOC2007" / "JPEGImages").resolve()
    assert Image.open(out / "images" / "VOC2012" / "2008_000008.jpg").size == (500, 442)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["source"] == "voc" and meta["classes"][8] == "chair"
    assert meta["splits"]["train"]["images"] == 3 and meta["splits"]["train"]["annotations"] == 5
    assert meta["splits"]["val"] == {"images": 1, "annotations": 2, "per_class": [0] * 11 + [1, 0, 0, 1] + [0] * 5}
    assert meta["difficult_annotations"] == {"train": 2, "val": 0}
    assert "--src" in meta["command"] and meta["parameters"]["difficult"] == "keep"


def test_voc_drop_difficult_and_custom_sets(tmp_path):
    _voc(tmp_path)
    out = tmp_path / "out"
    argv = ["voc", "--src", str(tmp_path / "VOCdevkit"), "--out", str(out), "--difficult", "drop"]
    assert _run([*argv, "--train-sets", "VOC2012:trainval", "--val-sets", "VOC2012:val"]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert [a["category_id"] for a in train["annotations"]] == [13]  # the difficult person is gone
    assert [im["file_name"] for im in val["images"]] == ["VOC2012/2008_000015.jpg"]
    assert val["annotations"][0]["bbox"] == [269.0, 0.0, 109.0, 176.0]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["VOC2012"]


def test_voc_uses_the_year_that_exists(tmp_path):
    _voc(tmp_path, years=("VOC2007",))
    out = tmp_path / "out"
    assert _run(["voc", "--src", str(tmp_path / "VOCdevkit"), "--out", str(out)]) == 0
    assert len(load_coco(out / "train.json")["images"]) == 2


def test_voc_size_read_from_image_when_xml_has_none(tmp_path):
    src = _voc(tmp_path, years=("VOC2007",))
    _voc_xml(src / "VOC2007" / "Annotations" / "000007.xml", None, None, [("car", 141, 50, 500, 330, 0)])
    out = tmp_path / "out"
    assert _run(["voc", "--src", str(src), "--out", str(out)]) == 0
    assert load_coco(out / "train.json")["images"][1]["height"] == 333


def _break_voc(src: Path, case: str) -> tuple[list[str], tuple[str, ...]]:
    """Damage the VOC fixture; return extra argv and the strings the error must contain."""
    ann = src / "VOC2007" / "Annotations"
    if case == "malformed_xml":
        (ann / "000007.xml").write_text("<annotation><object><name>car</name>\n<bndbox>\n</annotation>")
        return [], ("000007.xml", "line 3", "malformed XML")
    if case == "unknown_class":
        _voc_xml(ann / "000007.xml", 500, 333, [("car", 1, 1, 5, 5, 0), ("unicorn", 141, 50, 500, 330, 0)])
        return [], ("000007.xml", "object 1", "unknown class 'unicorn'")
    if case == "box_outside":
        _voc_xml(ann / "000007.xml", 500, 333, [("car", 141, 50, 503, 330, 0)])
        return [], ("000007.xml", "object 0", "outside")
    if case == "missing_xml":
        (ann / "000007.xml").unlink()
        return [], ("trainval.txt", "line 2", "000007.xml")
    if case == "missing_image":
        (src / "VOC2012" / "JPEGImages" / "2008_000008.jpg").unlink()
        return [], ("VOC2012", "trainval.txt", "line 1", "2008_000008.jpg")
    if case == "no_val_list":
        return ["--val-sets", "VOC2009:test"], ("no val images", "VOC2009")
    if case == "bad_coordinate":
        (ann / "000005.xml").write_text(
            "<annotation><size><width>5</width><height>5</height></size><object><name>cat</name>"
            "<bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>"
        )
        return [], ("000005.xml", "object 0", "<xmin> is not a number")
    if case == "list_not_utf8":
        (src / "VOC2007" / "ImageSets" / "Main" / "trainval.txt").write_bytes(b"\xff\xfe000005\n")
        return [], ("trainval.txt", "not UTF-8")
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "malformed_xml",
        "unknown_class",
        "box_outside",
        "missing_xml",
        "missing_image",
        "no_val_list",
        "bad_coordinate",
        "list_not_utf8",
    ],  # fmt: skip
)
def test_voc_bad_sources(tmp_path, capsys, case):
    src = _voc(tmp_path)
    extra, needles = _break_voc(src, case)
    out = tmp_path / "out"
    _assert_failed_cleanly(_run(["voc", "--src", str(src), "--out", str(out), *extra]), capsys, out, *needles)


def test_missing_source_and_existing_output(tmp_path, capsys):
    out = tmp_path / "out"
    _assert_failed_cleanly(_run(["voc", "--src", str(tmp_path / "nope"), "--out", str(out)]), capsys, out, "nope")
    _voc(tmp_path)
    argv = ["voc", "--src", str(tmp_path / "VOCdevkit"), "--out", str(out)]
    assert _run(argv) == 0
    first = (out / "train.json").read_bytes()
    assert _run(argv) == 2
    assert "already exists" in capsys.readouterr().err
    # a failing --force rebuild keeps the old directory
    (tmp_path / "VOCdevkit" / "VOC2007" / "Annotations" / "000007.xml").write_text("<broken")
    assert _run([*argv, "--force"]) == 2
    assert (out / "train.json").read_bytes() == first
    (tmp_path / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "trainval.txt").write_text("000005\n")
    assert _run([*argv, "--force"]) == 0
    assert len(load_coco(out / "train.json")["images"]) == 2  # 000005 + VOC2012's 2008_000008
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "out"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_out_equal_inside_or_containing_src_is_refused_and_src_untouched(tmp_path, capsys, where):
    src = _coco(tmp_path / "data")
    before = _tree(src)
    out = {"same": src, "inside": src / "converted", "parent": src.parent}[where]
    code = _run(["coco", "--src", str(src), "--out", str(out), "--force"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "source dataset" in err and str(out) in err
    assert _tree(src) == before  # not one byte of the source was touched
    assert not (src / "converted").exists()


def test_force_replaces_only_a_directory_the_suite_wrote(tmp_path, capsys):
    src = _coco(tmp_path)
    foreign = tmp_path / "mine"
    (foreign / "notes").mkdir(parents=True)
    (foreign / "notes" / "a.txt").write_text("keep me")
    assert _run(["coco", "--src", str(src), "--out", str(foreign), "--force"]) == 2
    assert "not written by this suite" in capsys.readouterr().err
    assert (foreign / "notes" / "a.txt").read_text() == "keep me"
    out = tmp_path / "out"
    assert _run(["coco", "--src", str(src), "--out", str(out)]) == 0
    assert (out / MARKER).is_file()
    (out / "stale.txt").write_text("old run")
    assert _run(["coco", "--src", str(src), "--out", str(out), "--force"]) == 0  # its own output: replaced
    assert not (out / "stale.txt").exists() and (out / "train.json").is_file()


# ---- COCO ---------------------------------------------------------------------------------


def _coco(root: Path) -> Path:
    src = root / "coco"
    cats = [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 3, "name": "car", "supercategory": "vehicle"}, {"id": 90, "name": "toothbrush", "supercategory": "indoor"}]  # fmt: skip
    train = {
        "info": {"year": 2017},
        "licenses": [{"id": 1}],
        "images": [
            {"id": 9, "file_name": "000000000009.jpg", "width": 64, "height": 48, "license": 1, "coco_url": "x"},
            {"id": 25, "file_name": "000000000025.jpg", "width": 40, "height": 30},
        ],
        "annotations": [
            {"id": 100, "image_id": 9, "category_id": 3, "bbox": [1.5, 2.0, 10.25, 20.0], "area": 150.5, "iscrowd": 0,
             "segmentation": [[1.5, 2.0, 11.0, 2.0, 6.0, 22.0]]},
            {"id": 101, "image_id": 9, "category_id": 1, "bbox": [0, 0, 30, 30], "area": 700.0, "iscrowd": 1,
             "segmentation": {"counts": [0, 900], "size": [48, 64]}},
            {"id": 102, "image_id": 25, "category_id": 90, "bbox": [5, 5, 5, 5], "area": 20.0, "iscrowd": 0},
        ],
        "categories": cats,
    }  # fmt: skip
    val = {
        "images": [{"id": 139, "file_name": "000000000139.jpg", "width": 50, "height": 50}],
        "annotations": [
            {"id": 200, "image_id": 139, "category_id": 90, "bbox": [10, 10, 20, 20], "area": 300.0, "iscrowd": 0, "segmentation": []},
            {"id": 201, "image_id": 139, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 2000.0, "iscrowd": 1},
        ],
        "categories": cats,
    }  # fmt: skip
    (src / "annotations").mkdir(parents=True)
    (src / "annotations" / "instances_train2017.json").write_text(json.dumps(train))
    (src / "annotations" / "instances_val2017.json").write_text(json.dumps(val))
    _image(src / "train2017" / "000000000009.jpg", 64, 48)
    _image(src / "train2017" / "000000000025.jpg", 40, 30)
    _image(src / "val2017" / "000000000139.jpg", 50, 50)
    return src


def test_coco_remaps_categories_drops_train_crowd_keeps_area(tmp_path):
    src, out = _coco(tmp_path), tmp_path / "out"
    assert _run(["coco", "--src", str(src), "--out", str(out)]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert [(c["id"], c["name"]) for c in train["categories"]] == [(1, "person"), (2, "car"), (3, "toothbrush")]
    assert train["images"][0] == {"id": 9, "file_name": "train2017/000000000009.jpg", "width": 64, "height": 48}
    assert set(train) == {"images", "annotations", "categories"}
    assert [a["id"] for a in train["annotations"]] == [100, 102]  # crowd 101 dropped from train
    car, brush = train["annotations"]
    assert car["category_id"] == 2 and brush["category_id"] == 3
    assert car["area"] == 150.5 and car["bbox"] == [1.5, 2.0, 10.25, 20.0]  # COCO's (mask) area kept
    assert car["segmentation"] == [[1.5, 2.0, 11.75, 2.0, 11.75, 22.0, 1.5, 22.0]]
    assert [(a["id"], a["category_id"], a["iscrowd"]) for a in val["annotations"]] == [(200, 3, 0), (201, 1, 1)]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["category_map"] == {"1": 1, "3": 2, "90": 3}
    assert meta["crowd_dropped_from_train"] == 1 and meta["crowd_kept_in_val"] == 1
    assert (out / "images" / "val2017" / "000000000139.jpg").is_file()


def test_coco_keep_segmentation(tmp_path):
    src, out = _coco(tmp_path), tmp_path / "out"
    assert _run(["coco", "--src", str(src), "--out", str(out), "--segmentation", "keep"]) == 0
    car, brush = load_coco(out / "train.json")["annotations"]
    assert car["segmentation"] == [[1.5, 2.0, 11.0, 2.0, 6.0, 22.0]]  # original polygon
    assert brush["segmentation"] == [[5.0, 5.0, 10.0, 5.0, 10.0, 10.0, 5.0, 10.0]]  # added where missing
    assert load_coco(out / "val.json")["annotations"][0]["segmentation"] == [
        [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]
    ]


@pytest.mark.parametrize("case", ["missing_image", "category_mismatch", "bad_json", "box_outside"])
def test_coco_bad_sources(tmp_path, capsys, case):
    src, out = _coco(tmp_path), tmp_path / "out"
    val_path = src / "annotations" / "instances_val2017.json"
    val = json.loads(val_path.read_text())
    if case == "missing_image":
        (src / "train2017" / "000000000025.jpg").unlink()
        needles = ("instances_train2017.json", "images[1]", "000000000025.jpg")
    elif case == "category_mismatch":
        val["categories"][1]["name"] = "truck"
        val_path.write_text(json.dumps(val))
        needles = ("instances_val2017.json", "categories differ")
    elif case == "bad_json":
        val_path.write_text('{"images": [,]}')
        needles = ("instances_val2017.json", "line 1", "invalid JSON")
    else:
        val["annotations"][0]["bbox"] = [40, 10, 20, 20]
        val_path.write_text(json.dumps(val))
        needles = ("instances_val2017.json", "annotations[0]", "outside")
    _assert_failed_cleanly(_run(["coco", "--src", str(src), "--out", str(out)]), capsys, out, *needles)


# ---- VinDr-CXR ----------------------------------------------------------------------------

VINDR_HEADER = "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
VINDR_TRAIN = [
    "aaa,R1,Aortic enlargement,100,100,200,200",  # line 2   } IoU 9000/11000 = 0.82: fused
    "aaa,R2,Aortic enlargement,110,100,210,200",  # line 3   }   -> mean (105,100,205,200), 2 readers
    "aaa,R3,Aortic enlargement,400,400,450,450",  # line 4   } IoU 2000/3000 = 0.67 with R3's box: fused
    "aaa,R1,Aortic enlargement,410,400,460,450",  # line 5   }   -> (405,400,455,450), 2 readers
    "aaa,R1,Nodule/Mass,300,300,340,340",  # line 6   IoU 400/2800 = 0.14 with the next: kept apart
    "aaa,R2,Nodule/Mass,320,320,360,360",  # line 7
    "aaa,R3,Nodule/Mass,20.5,30,60.5,70",  # line 8
    "aaa,R3,Nodule/Mass,22,30,62,70",  # line 9   same reader R3, IoU 0.93: two lesions, not fused
    "bbb,R1,No finding,,,,",
    "bbb,R2,No finding,,,,",
    "bbb,R3,No finding,,,,",
    "ccc,R4,Pulmonary fibrosis,10,10,110,60",
    "ccc,R5,No finding,,,,",
]
VINDR_TEST = ["ddd,R8,Cardiomegaly,50,200,450,300", "ddd,R8,Cardiomegaly,60,210,440,290", "eee,R8,No finding,,,,"]


def _vindr(root: Path, *, test: bool = True) -> Path:
    src = root / "vindr"
    (src / "annotations").mkdir(parents=True)
    (src / "annotations" / "annotations_train.csv").write_text(VINDR_HEADER + "\n".join(VINDR_TRAIN) + "\n")
    for name in ("aaa", "bbb", "ccc"):
        _image(src / "train" / f"{name}.png", 512, 480)
    if test:
        (src / "annotations" / "annotations_test.csv").write_text(VINDR_HEADER + "\n".join(VINDR_TEST) + "\n")
        _image(src / "test" / "ddd.png", 500, 400)
        _image(src / "test" / "eee.jpg", 300, 300)
    return src


def _boxes(coco: dict, file_name: str, key: str = "readers") -> list[tuple]:
    return sorted((a["category_id"], a["bbox"], a.get(key)) for a in _anns(coco, file_name))


def test_vindr_fuses_readers_keeps_no_finding_images(tmp_path):
    src, out = _vindr(tmp_path), tmp_path / "out"
    assert _run(["vindr", "--src", str(src), "--out", str(out)]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert [im["file_name"] for im in train["images"]] == ["train/aaa.png", "train/bbb.png", "train/ccc.png"]
    assert (train["images"][0]["width"], train["images"][0]["height"]) == (512, 480)  # from the PNG header
    assert _boxes(train, "train/aaa.png") == [
        (1, [105.0, 100.0, 100.0, 100.0], 2),
        (1, [405.0, 400.0, 50.0, 50.0], 2),
        (9, [20.5, 30.0, 40.0, 40.0], 1),
        (9, [22.0, 30.0, 40.0, 40.0], 1),
        (9, [300.0, 300.0, 40.0, 40.0], 1),
        (9, [320.0, 320.0, 40.0, 40.0], 1),
    ]
    assert _anns(train, "train/bbb.png") == []  # 'No finding' image kept, without boxes
    assert _boxes(train, "train/ccc.png") == [(14, [10.0, 10.0, 100.0, 50.0], 1)]
    # val = the official test set; one consensus reader: its two boxes stay two boxes
    assert [im["file_name"] for im in val["images"]] == ["test/ddd.png", "test/eee.jpg"]
    assert _boxes(val, "test/ddd.png") == [(4, [50.0, 200.0, 400.0, 100.0], 1), (4, [60.0, 210.0, 380.0, 80.0], 1)]
    assert [c["name"] for c in train["categories"]][3] == "Cardiomegaly" and len(train["categories"]) == 14
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["splits"]["train"]["images"] == 3 and meta["splits"]["val"]["annotations"] == 2
    assert meta["val_source"].startswith("annotations_test.csv")


def test_vindr_reader_options(tmp_path):
    src = _vindr(tmp_path)
    base = ["vindr", "--src", str(src)]
    assert _run([*base, "--out", str(tmp_path / "min2"), "--min-readers", "2", "--empty-images", "drop"]) == 0
    train = load_coco(tmp_path / "min2" / "train.json")
    assert [im["file_name"] for im in train["images"]] == ["train/aaa.png", "train/ccc.png"]
    assert [a["bbox"] for a in train["annotations"]] == [[105.0, 100.0, 100.0, 100.0], [405.0, 400.0, 50.0, 50.0]]
    assert _run([*base, "--out", str(tmp_path / "all"), "--readers", "all"]) == 0
    train = load_coco(tmp_path / "all" / "train.json")
    aaa = _boxes(train, "train/aaa.png", key="rad_id")
    assert len(aaa) == 8 and (1, [110.0, 100.0, 100.0, 100.0], "R2") in aaa
    # a stricter fusion threshold than 0.82 keeps R1 and R2 apart
    assert _run([*base, "--out", str(tmp_path / "strict"), "--fuse-iou", "0.85"]) == 0
    aaa = _boxes(load_coco(tmp_path / "strict" / "train.json"), "train/aaa.png")
    assert (1, [100.0, 100.0, 100.0, 100.0], 1) in aaa and (1, [405.0, 400.0, 50.0, 50.0], 1) not in aaa


def test_vindr_sizes_csv_and_hash_split_without_test(tmp_path):
    src = _vindr(tmp_path, test=False)
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("image_id,width,height\naaa,600,700\nbbb,10,10\nccc,512,480\n")
    out = tmp_path / "out"
    assert _run(["vindr", "--src", str(src), "--out", str(out), "--sizes", str(sizes), "--val-fraction", "0.34"]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    # round(0.34 * 3) = 1 val image: the id with the smallest derive_seed("vindr-val", 0, id)
    expected_val = min(["aaa", "bbb", "ccc"], key=lambda i: derive_seed("vindr-val", 0, i))
    assert [im["file_name"] for im in val["images"]] == [f"train/{expected_val}.png"]
    assert len(train["images"]) == 2
    sizes_seen = {im["file_name"]: (im["width"], im["height"]) for im in train["images"] + val["images"]}
    assert sizes_seen["train/aaa.png"] == (600, 700) and sizes_seen["train/bbb.png"] == (10, 10)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["train"]


@pytest.mark.parametrize(
    "case",
    ["unknown_class", "bad_number", "box_outside", "missing_image", "missing_column", "missing_csv", "empty_box"],
)
def test_vindr_bad_sources(tmp_path, capsys, case):
    src, out = _vindr(tmp_path), tmp_path / "out"
    csv_path = src / "annotations" / "annotations_train.csv"
    rows = list(VINDR_TRAIN)
    header = VINDR_HEADER
    if case == "unknown_class":
        rows[3] = "aaa,R1,Rib fracture,410,400,460,450"
        needles = ("annotations_train.csv", "line 5", "unknown class 'Rib fracture'")
    elif case == "bad_number":
        rows[1] = "aaa,R2,Aortic enlargement,110,abc,210,200"
        needles = ("annotations_train.csv", "line 3", "not numbers")
    elif case == "box_outside":
        rows[11] = "ccc,R4,Pulmonary fibrosis,10,10,530,60"  # the image is 512 wide
        needles = ("annotations_train.csv", "line 13", "outside its 512x480 image")
    elif case == "missing_image":
        (src / "train" / "ccc.png").unlink()
        needles = ("annotations_train.csv", "line 13", "ccc")
    elif case == "missing_column":
        header = "image_id,rad_id,class_name,x_min,y_min,x_max\n"
        needles = ("annotations_train.csv", "line 1", "y_max")
    elif case == "missing_csv":
        csv_path.unlink()
        needles = ("annotations_train.csv", "not found")
    else:
        rows[0] = "aaa,R1,Aortic enlargement,100,100,100,200"
        needles = ("annotations_train.csv", "line 2", "empty box")
    if csv_path.exists():
        csv_path.write_text(header + "\n".join(rows) + "\n")
    _assert_failed_cleanly(_run(["vindr", "--src", str(src), "--out", str(out)]), capsys, out, *needles)


def test_vindr_unknown_classes_option(tmp_path):
    src = _vindr(tmp_path)
    csv_path = src / "annotations" / "annotations_train.csv"
    csv_path.write_text(VINDR_HEADER + "ccc,R1,Rib fracture,10,10,20,20\nccc,R2,Nodule/Mass,30,30,40,40\n")
    assert _run(["vindr", "--src", str(src), "--out", str(tmp_path / "o"), "--unknown-classes", "other"]) == 0
    assert [a["category_id"] for a in load_coco(tmp_path / "o" / "train.json")["annotations"]] == [9, 10]
    assert _run(["vindr", "--src", str(src), "--out", str(tmp_path / "d"), "--unknown-classes", "drop"]) == 0
    assert [a["category_id"] for a in load_coco(tmp_path / "d" / "train.json")["annotations"]] == [9]


# ---- Oxford-IIIT Pets ---------------------------------------------------------------------

PETS_TRAINVAL = [
    "Abyssinian_1 1 1 1",
    "Abyssinian_2 1 1 1",
    "Abyssinian_3 1 1 1",
    "Abyssinian_4 1 1 1",
    "american_bulldog_10 2 2 1",
    "american_bulldog_11 2 2 1",
    "Bengal_7 3 1 2",
    "Bengal_8 3 1 2",  # no XML: skipped
]
PETS_TEST = ["Abyssinian_100 1 1 1", "Bengal_200 3 1 2"]


def _pets(root: Path) -> Path:
    src = root / "pets"
    (src / "annotations" / "xmls").mkdir(parents=True)
    (src / "annotations" / "trainval.txt").write_text("\n".join(PETS_TRAINVAL) + "\n")
    (src / "annotations" / "test.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(PETS_TEST) + "\n")
    for line in PETS_TRAINVAL + PETS_TEST:
        name = line.split()[0]
        _image(src / "images" / f"{name}.jpg", 200, 150)
        if name not in ("Bengal_8", "Abyssinian_100"):
            species = "cat" if line.split()[2] == "1" else "dog"
            _voc_xml(src / "annotations" / "xmls" / f"{name}.xml", 200, 150, [(species, 11, 21, 110, 95, 0)])
    return src


def test_pets_breeds_boxes_and_stratified_split(tmp_path):
    src, out = _pets(tmp_path), tmp_path / "out"
    assert _run(["pets", "--src", str(src), "--out", str(out), "--val-fraction", "0.5"]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert [(c["id"], c["name"]) for c in train["categories"]] == [
        (1, "Abyssinian"),
        (2, "american_bulldog"),
        (3, "Bengal"),
    ]
    names = {im["id"]: im["file_name"] for im in train["images"]}
    # per breed, round(0.5 * n) of the images with an XML go to val, the smallest seeded hashes first
    expected_val = set()
    for breed in (["Abyssinian_1", "Abyssinian_2", "Abyssinian_3", "Abyssinian_4"], ["american_bulldog_10", "american_bulldog_11"], ["Bengal_7"]):  # fmt: skip
        ranked = sorted(breed, key=lambda n: derive_seed("pets-val", 0, n))
        expected_val.update(ranked[: round(0.5 * len(breed))])
    assert {im["file_name"] for im in val["images"]} == {f"pets/{n}.jpg" for n in expected_val}
    assert len(val["images"]) == 2 + 1 + 0  # round(0.5) = 0 for Bengal's single image (half to even)
    assert len(train["images"]) == 4 and "pets/Bengal_8.jpg" not in names.values()
    for a in train["annotations"] + val["annotations"]:
        assert a["bbox"] == [10.0, 20.0, 100.0, 75.0]  # 11,21,110,95 (1-based inclusive)
    cls = {names[a["image_id"]]: a["category_id"] for a in train["annotations"]}
    assert all(cls[f] == {"Abyssinian": 1, "american_bulldog": 2, "Bengal": 3}[f[5:].rsplit("_", 1)[0]] for f in cls)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["images_without_xml_skipped"] == {"trainval": 1}
    assert (out / "images" / "pets").resolve() == (src / "images").resolve()


def test_pets_test_split(tmp_path):
    src, out = _pets(tmp_path), tmp_path / "out"
    assert _run(["pets", "--src", str(src), "--out", str(out), "--split", "test"]) == 0
    train, val = load_coco(out / "train.json"), load_coco(out / "val.json")
    assert len(train["images"]) == 7
    assert [im["file_name"] for im in val["images"]] == ["pets/Bengal_200.jpg"]
    assert val["annotations"][0]["category_id"] == 3
    assert json.loads((out / "dataset.json").read_text())["images_without_xml_skipped"] == {"trainval": 1, "test": 1}


@pytest.mark.parametrize("case", ["inconsistent_id", "malformed_line", "box_outside", "missing_images", "gap_in_ids"])
def test_pets_bad_sources(tmp_path, capsys, case):
    src, out = _pets(tmp_path), tmp_path / "out"
    trainval = src / "annotations" / "trainval.txt"
    rows = list(PETS_TRAINVAL)
    if case == "inconsistent_id":
        rows[2] = "Abyssinian_3 2 1 1"
        needles = ("trainval.txt", "line 3", "class id 2")
    elif case == "malformed_line":
        rows[1] = "Abyssinian_2 one 1 1"
        needles = ("trainval.txt", "line 2", "NAME CLASS_ID")
    elif case == "box_outside":
        _voc_xml(src / "annotations" / "xmls" / "Bengal_7.xml", 200, 150, [("cat", 11, 21, 110, 160, 0)])
        needles = ("Bengal_7.xml", "object 0", "outside")
    elif case == "missing_images":
        for p in (src / "images").iterdir():
            p.unlink()
        (src / "images").rmdir()
        needles = ("images", "not found")
    else:
        rows = [r.replace(" 3 1 2", " 4 1 2") for r in rows]
        (src / "annotations" / "test.txt").write_text("Bengal_200 4 1 2\n")
        needles = ("ids must be 1..K",)
    trainval.write_text("\n".join(rows) + "\n")
    _assert_failed_cleanly(_run(["pets", "--src", str(src), "--out", str(out)]), capsys, out, *needles)


def test_help_lists_every_format_and_option(capsys):
    with pytest.raises(SystemExit):
        convert.main(["--help"])
    text = capsys.readouterr().out
    for fmt in ("voc", "coco", "vindr", "pets"):
        assert fmt in text
    expected = {
        "voc": ["--train-sets", "--val-sets", "--difficult"],
        "coco": ["--train-name", "--val-name", "--segmentation"],
        "vindr": [
            "--readers",
            "--fuse-iou",
            "--min-readers",
            "--empty-images",
            "--unknown-classes",
            "--sizes",
            "--val-fraction",
        ],
        "pets": ["--split", "--val-fraction", "--split-seed"],
    }
    for fmt, opts in expected.items():
        with pytest.raises(SystemExit):
            convert.main([fmt, "--help"])
        text = capsys.readouterr().out
        for opt in ["--src", "--out", "--force", *opts]:
            assert opt in text, (fmt, opt)
