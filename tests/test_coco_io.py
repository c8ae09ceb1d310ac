"""COCO loading/validation errors and atomic output (benchmarks.data.coco, benchmarks.atomic)."""

from __future__ import annotations

import copy
import json

import pytest

from benchmarks.atomic import atomic_open, atomic_path, write_json
from benchmarks.data.coco import annotation_arrays, dump_coco, load_coco, validate_coco
from benchmarks.errors import InputError, run_cli

GOOD = {
    "images": [
        {"id": 1, "width": 100, "height": 80, "file_name": "a.png"},
        {"id": 7, "width": 50, "height": 50, "file_name": "b.png"},
    ],
    "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
    "annotations": [
        {"id": 10, "image_id": 7, "category_id": 5, "bbox": [1, 2, 10, 20]},
        {"id": 11, "image_id": 1, "category_id": 3, "bbox": [90, 70, 10.5, 10]},
    ],
}


def mutate(fn):
    c = copy.deepcopy(GOOD)
    fn(c)
    return c


def test_arrays_look_up_each_annotations_image_size():
    validate_coco(GOOD)
    arr = annotation_arrays(GOOD)
    assert arr.ann_ids.tolist() == [10, 11]
    assert arr.image_w.tolist() == [50.0, 100.0] and arr.image_h.tolist() == [50.0, 80.0]
    assert arr.boxes[1].tolist() == [90.0, 70.0, 10.5, 10.0]  # overshoot of 0.5 px is tolerated


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda c: c.pop("categories"), "missing top-level key 'categories'"),
        (lambda c: c["annotations"][1].update(category_id=4), "annotation id 11 has unknown category_id 4"),
        (lambda c: c["annotations"][0].update(image_id=2), "annotation id 10 points at missing image_id 2"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, 0, 20]), "non-positive box width/height"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, -3, 20]), "non-positive box width/height"),
        (lambda c: c["annotations"][0].update(bbox=[45, 2, 10, 20]), "lies outside its image (id 7, 50x50)"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, 3]), "bbox must be 4 numbers"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, float("nan"), 3]), "non-finite bbox"),
        (lambda c: c["annotations"][1].update(id=10), "duplicate annotations id 10"),
        (lambda c: c["images"][0].update(width=0), "non-positive size"),
        (lambda c: c["images"][1].pop("file_name"), "image has no 'file_name'"),
        (lambda c: c["categories"][0].pop("name"), "category has no 'name'"),
    ],
)
def test_each_problem_is_named_with_its_record(change, fragment):
    with pytest.raises(InputError) as exc:
        validate_coco(mutate(change), path="ann.json")
    assert str(exc.value).startswith("ann.json")
    assert fragment in str(exc.value)


def test_invalid_json_names_line_and_column(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(InputError, match=r"bad.json \(line 2, column \d+\): invalid JSON"):
        load_coco(p)
    with pytest.raises(InputError, match="file not found"):
        load_coco(tmp_path / "nope.json")


def test_dump_is_byte_stable_and_loads_back(tmp_path):
    dump_coco(tmp_path / "a.json", GOOD)
    dump_coco(tmp_path / "b.json", copy.deepcopy(GOOD))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert load_coco(tmp_path / "a.json") == GOOD


def test_atomic_writers_leave_nothing_on_failure(tmp_path):
    dest = tmp_path / "sub" / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_open(dest) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    write_json(dest, {"a": 1})
    with pytest.raises(ValueError):
        with atomic_path(dest) as tmp:
            assert tmp.suffix == ".json" and tmp.parent == dest.parent
            tmp.write_text("new")
            raise ValueError
    assert json.loads(dest.read_text()) == {"a": 1}  # the old complete file survives
    with pytest.raises(ValueError, match="whole files"):
        with atomic_open(dest, "a"):
            pass


def test_run_cli_turns_input_errors_into_exit_2(capsys):
    def main(argv):
        raise InputError("boom", path="x.json", where="line 3")

    assert run_cli(main, []) == 2
    assert capsys.readouterr().err.strip() == "error: x.json (line 3): boom"


def test_a_short_bbox_next_to_a_long_one_is_named_not_shifted():
    # flattened columns would line up again after [1, 2, 3] + [4, 5, 6, 7, 8]: both must be caught
    bad = mutate(
        lambda c: (c["annotations"][0].update(bbox=[1, 2, 3]), c["annotations"][1].update(bbox=[4, 5, 6, 7, 8]))
    )
    with pytest.raises(InputError, match=r"annotations\[0\]\).*bbox must be 4 numbers"):
        annotation_arrays(bad, path="ann.json")
    for bad in ("7", 7.0, True):  # np.fromiter would take each of them as the id 7 (or 1)
        with pytest.raises(InputError, match=r"annotations\[0\]\).*no integer 'image_id'"):
            annotation_arrays(mutate(lambda c, bad=bad: c["annotations"][0].update(image_id=bad)), path="ann.json")


@pytest.mark.parametrize("ids", [(1, 7), (0, 10**12), (-5, 3)])
def test_image_lookup_with_dense_sparse_and_negative_ids(ids):
    # sizes by hand: the first image is 100x80, the second 50x50, whatever their ids
    coco = copy.deepcopy(GOOD)
    coco["images"][0]["id"], coco["images"][1]["id"] = ids
    coco["annotations"][0]["image_id"], coco["annotations"][1]["image_id"] = ids[1], ids[0]
    arr = validate_coco(coco)
    assert arr.image_w.tolist() == [50.0, 100.0] and arr.image_h.tolist() == [50.0, 80.0]
    for missing in (ids[1] + 1, -1, 10**13):
        coco["annotations"][1]["image_id"] = missing
        with pytest.raises(InputError, match=f"points at missing image_id {missing}"):
            validate_coco(coco)


@pytest.mark.parametrize("ids", [(10, 10), (-3, -3), (10**12, 10**12)])
def test_duplicate_annotation_ids_dense_sparse_and_negative(ids):
    coco = copy.deepcopy(GOOD)
    coco["annotations"].append({**coco["annotations"][0], "id": 0})
    coco["annotations"][0]["id"], coco["annotations"][1]["id"] = ids
    with pytest.raises(InputError, match=f"duplicate annotations id {ids[0]}$"):
        validate_coco(coco)
    coco["annotations"][1]["id"] = ids[0] + 1
    assert validate_coco(coco).ann_ids.tolist() == [ids[0], ids[0] + 1, 0]
