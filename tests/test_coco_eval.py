"""COCO evaluation: faster-coco-eval == pycocotools on generated cases, hand-computed APs, bad input, CLI."""

from __future__ import annotations

import copy
import io
import json
import math
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from analysis import coco_eval as E
from benchmarks.errors import InputError, run_cli

REPO = Path(__file__).resolve().parents[1]


def make_case(seed: int, *, n_images: int = 40, n_classes: int = 4, crowd: bool = False) -> tuple[dict, list]:
    """Random GT over small/medium/large sizes; detections = jittered GT (some wrong class) + FPs.

    Guaranteed: an image without ground truth, an image with ground truth but no detection, and
    ground truth that no detection finds (missed).
    """
    rng = np.random.default_rng(seed)
    images = [{"id": 100 + i, "width": 640, "height": 480, "file_name": f"{i}.jpg"} for i in range(n_images)]
    anns, dets = [], []
    for k, im in enumerate(images):
        n_gt = 0 if k == 0 else int(rng.integers(1, 7))
        for _ in range(n_gt):
            side = float(np.exp(rng.uniform(np.log(8), np.log(300))))  # small, medium and large
            w, h = min(side * rng.uniform(0.6, 1.4), 639), min(side * rng.uniform(0.6, 1.4), 479)
            x, y = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h))
            c = int(rng.integers(1, n_classes + 1))
            anns.append(
                {"id": len(anns) + 1, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h],
                 "area": w * h, "iscrowd": int(crowd and rng.random() < 0.1)}
            )  # fmt: skip
            if k == 1 or rng.random() < 0.2:  # image 1 gets no detection; ~20 % missed
                continue
            for _ in range(1 + int(rng.random() < 0.2)):  # some duplicates
                j = rng.normal(0, 0.12, 4) * [w, h, w, h]
                cc = c if rng.random() < 0.85 else int(rng.integers(1, n_classes + 1))
                dets.append(
                    {"image_id": im["id"], "category_id": cc, "score": float(rng.random()),
                     "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)]}
                )  # fmt: skip
        if k != 1:
            for _ in range(int(rng.integers(0, 4))):  # background false positives
                w, h = rng.uniform(5, 200, 2)
                dets.append(
                    {"image_id": im["id"], "category_id": int(rng.integers(1, n_classes + 1)),
                     "bbox": [float(rng.uniform(0, 400)), float(rng.uniform(0, 300)), float(w), float(h)],
                     "score": float(rng.random() * 0.5)}
                )  # fmt: skip
    cats = [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def pycocotools_stats(gt: dict, dets: list, tmp_path: Path) -> np.ndarray:
    """The six AP stats of the canonical pycocotools recipe on files (COCO, loadRes, summarize)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    with redirect_stdout(io.StringIO()):
        cg = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(cg, cg.loadRes(str(tmp_path / "dt.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:6])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fast_equals_pycocotools(seed, tmp_path):
    gt, dets = make_case(seed, crowd=seed % 2 == 1)
    fast = E.evaluate(gt, dets, backend="fast")
    ref = E.evaluate(gt, dets, backend="pycocotools")
    assert set(fast) == set(E.METRICS)
    for k in E.METRICS:
        assert 0.0 <= fast[k] <= 1.0
        assert fast[k] == pytest.approx(ref[k], abs=1e-6), k
    # and both equal the canonical pycocotools recipe on files (our wrapper changes nothing)
    np.testing.assert_allclose([fast[k] for k in E.METRICS], pycocotools_stats(gt, dets, tmp_path), atol=1e-6)


def test_sizes_cover_all_ranges():
    gt, _ = make_case(0)
    areas = np.array([a["area"] for a in gt["annotations"]])
    assert (areas < 32**2).any() and ((areas >= 32**2) & (areas < 96**2)).any() and (areas >= 96**2).any()


def _one_image(boxes_gt, dets, cats=(1, 2)):
    gt = {
        "images": [{"id": 1, "width": 500, "height": 500, "file_name": "a.jpg"}],
        "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b} for i, (c, b) in enumerate(boxes_gt)],
        "categories": [{"id": c, "name": str(c)} for c in cats],
    }
    return gt, [{"image_id": 1, "category_id": c, "bbox": b, "score": s} for c, b, s in dets]


@pytest.mark.parametrize("backend", E.BACKENDS)
def test_hand_computed(backend):
    # two large GT boxes of class 1; one perfect detection -> recall 1/2 at precision 1:
    # 51 of the 101 recall points (0.00 .. 0.50) have precision 1 -> AP = 51/101 at every IoU
    gt, dets = _one_image([(1, [0, 0, 200, 200]), (1, [250, 250, 200, 200])], [(1, [0, 0, 200, 200], 0.9)])
    m = E.evaluate(gt, dets, backend=backend)
    assert m["AP"] == pytest.approx(51 / 101) and m["AP50"] == pytest.approx(51 / 101)
    assert m["APl"] == pytest.approx(51 / 101)
    assert math.isnan(m["APs"]) and math.isnan(m["APm"])  # no ground truth in those ranges
    # box shifted by 20 px: IoU = 180*200 / (2*40000 - 36000) = 0.818 -> matched at 0.50..0.80 (7 of 10)
    gt, dets = _one_image([(1, [0, 0, 200, 200])], [(1, [20, 0, 200, 200], 0.9)])
    m = E.evaluate(gt, dets, backend=backend)
    assert m["AP"] == pytest.approx(0.7) and m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(1.0)
    # a false positive ranked above the true positive: precision 1/2 at recall 1 -> AP50 = 0.5
    gt, dets = _one_image([(1, [0, 0, 200, 200])], [(1, [0, 0, 200, 200], 0.5), (1, [300, 300, 100, 100], 0.9)])
    assert E.evaluate(gt, dets, backend=backend)["AP50"] == pytest.approx(0.5)


@pytest.mark.parametrize("backend", E.BACKENDS)
def test_zero_detections(backend):
    gt, _ = make_case(5)
    m = E.evaluate(gt, [], backend=backend)
    assert all(m[k] == 0.0 for k in E.METRICS)


def test_annotation_id_zero_is_not_unmatched():
    # both libraries store the matched GT id as the match flag; id 0 would read as "unmatched"
    gt, dets = _one_image([(1, [0, 0, 200, 200])], [(1, [0, 0, 200, 200], 0.9)])
    gt["annotations"][0]["id"] = 0
    for backend in E.BACKENDS:
        assert E.evaluate(gt, dets, backend=backend)["AP"] == pytest.approx(1.0)


def test_inputs_not_modified_and_quiet(capsys):
    gt, dets = make_case(7)
    gt0, dets0 = copy.deepcopy(gt), copy.deepcopy(dets)
    E.evaluate(gt, dets, backend="pycocotools")
    E.evaluate(gt, dets, backend="fast")
    assert gt == gt0 and dets == dets0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_paths_equal_dicts(tmp_path):
    gt, dets = make_case(3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    assert E.evaluate(tmp_path / "gt.json", tmp_path / "dt.json") == E.evaluate(gt, dets)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d[3].update(image_id=99999), "image_id 99999"),
        (lambda d: d[3].update(category_id=42), "category_id 42"),
        (lambda d: d[3].update(bbox=[1, 2, 3]), "bbox must be 4 numbers"),
        (lambda d: d[3].update(bbox=[1, 2, -3, 4]), "negative width/height"),
        (lambda d: d[3].update(bbox=[1, 2, "3", 4]), "bbox must be 4 numbers"),
        (lambda d: d[3].update(score=None), "score must be a number"),
        (lambda d: d[3].pop("category_id"), "no 'category_id'"),
        (lambda d: d.__setitem__(3, "x"), "must be an object"),
    ],
)
def test_bad_detections(mutate, message, tmp_path):
    gt, dets = make_case(1)
    mutate(dets)
    with pytest.raises(InputError, match=message) as info:
        E.evaluate(gt, dets)
    assert "record 3" in str(info.value)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    with pytest.raises(InputError, match="dt.json") as info:
        E.evaluate(tmp_path / "gt.json", tmp_path / "dt.json")
    assert "record 3" in str(info.value)


def test_numpy_scalars_and_tuples_read_as_plain_json_values():
    # records made in Python (numpy scores, tuple boxes) take the numpy path, JSON ones the fast one:
    # the columns must be the same numbers either way
    gt, dets = make_case(2)
    g = E.load_ground_truth(gt)
    plain = E.detection_arrays(dets, g)
    mixed = [dict(d, score=np.float32(d["score"]), bbox=tuple(d["bbox"])) for d in dets]
    other = E.detection_arrays(mixed, g)
    for a, b in (
        (plain.image_ids, other.image_ids),
        (plain.category_ids, other.category_ids),
        (plain.boxes, other.boxes),
    ):
        assert np.array_equal(a, b)
    assert np.allclose(plain.scores, other.scores, rtol=1e-6)
    assert plain.boxes.tolist() == [d["bbox"] for d in dets] and plain.scores.tolist() == [d["score"] for d in dets]
    for bad in ({"image_id": str(dets[0]["image_id"])}, {"category_id": 1.5}, {"score": "0.5"}):
        with pytest.raises(InputError, match="record 0"):
            E.detection_arrays([dict(dets[0], **bad)] + dets[1:], g)


def test_bad_files(tmp_path, capsys):
    gt, dets = make_case(1)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "bad.json").write_text('[{"image_id": 1,')
    (tmp_path / "obj.json").write_text('{"a": 1}')
    cases = [
        (
            ["--gt", str(tmp_path / "missing.json"), "--dets", str(tmp_path / "bad.json")],
            "missing.json: file not found",
        ),
        (["--gt", str(tmp_path / "gt.json"), "--dets", str(tmp_path / "bad.json")], "bad.json (line 1"),
        (["--gt", str(tmp_path / "gt.json"), "--dets", str(tmp_path / "obj.json")], "must be a JSON list"),
    ]
    for argv, message in cases:
        assert run_cli(E.main, argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err


def test_cli(tmp_path):
    gt, dets = make_case(2)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    base = [sys.executable, "-m", "analysis.coco_eval", "--gt", str(tmp_path / "gt.json"), "--dets"]
    out = subprocess.run([*base, str(tmp_path / "dt.json"), "--json"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert list(got) == list(E.METRICS)
    expected = E.evaluate(gt, dets, backend="pycocotools")
    assert all(got[k] == pytest.approx(expected[k], abs=1e-6) for k in E.METRICS)
    table = subprocess.run(
        [*base, str(tmp_path / "dt.json"), "--backend", "pycocotools"], capture_output=True, text=True, cwd=REPO
    )
    assert table.returncode == 0 and f"AP50     {expected['AP50']:.4f}" in table.stdout
    (tmp_path / "dt.json").write_text(json.dumps([{**dets[0], "image_id": -5}]))
    bad = subprocess.run([*base, str(tmp_path / "dt.json"), "--json"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "error: " in bad.stderr and "record 0" in bad.stderr and bad.stdout == ""


def test_image_pairs_and_iou():
    det_img = np.array([5, 3, 5, 9])
    gt_img = np.array([3, 5, 5, 7])
    d, g = E.image_pairs(det_img, gt_img)
    assert list(zip(d.tolist(), g.tolist())) == [(0, 1), (0, 2), (1, 0), (2, 1), (2, 2)]
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10], [0, 0, 20, 20]], float)
    np.testing.assert_allclose(E.box_iou(a, b), [50 / 150, 0, 1, 100 / 400])
    np.testing.assert_allclose(E.box_iou(a, b, crowd=True), [0.5, 0, 1, 1])  # crowd: inter / area(a)
