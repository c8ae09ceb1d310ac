"""ELDET probes: hand-computed CA / GTBA, allocation rules, agreement with plain pycocotools, cost."""

from __future__ import annotations

import copy
import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from analysis import probes as P
from analysis.coco_eval import detection_arrays, load_ground_truth


def one_image(gt_boxes, dets, n_classes=3):
    gt = {
        "images": [{"id": 7, "width": 500, "height": 500, "file_name": "a.jpg"}],
        "annotations": [{"id": i + 1, "image_id": 7, "category_id": c, "bbox": b} for i, (c, b) in enumerate(gt_boxes)],
        "categories": [{"id": c, "name": str(c)} for c in range(1, n_classes + 1)],
    }
    return gt, [{"image_id": 7, "category_id": c, "bbox": b, "score": s} for c, b, s in dets]


def test_wrong_class_perfect_box():
    # right box, wrong class: localization is perfect (CA = 1), classification is not (GTBA = AP = 0)
    gt, dets = one_image([(1, [50, 50, 200, 200])], [(2, [50, 50, 200, 200], 0.9)])
    m = P.probe_metrics(gt, None, dets)
    assert m == {"AP": pytest.approx(0.0), "CA": pytest.approx(1.0), "GTBA": pytest.approx(0.0)}


def test_right_class_shifted_box():
    # shifted by 20 px: IoU = 180*200 / (80000 - 36000) = 0.818. CA/AP count it at IoU 0.50..0.80
    # (7 of 10 thresholds) -> 0.7; GTBA replaces the box by the GT box (IoU >= 0.5) -> 1.
    gt, dets = one_image([(1, [50, 50, 200, 200])], [(1, [70, 50, 200, 200], 0.9)])
    m = P.probe_metrics(gt, None, dets)
    assert m["CA"] == pytest.approx(0.7) and m["AP"] == pytest.approx(0.7) and m["GTBA"] == pytest.approx(1.0)
    # on AP50 the shift does not matter
    m50 = P.probe_metrics(gt, None, dets, metric="AP50")
    assert m50 == {"AP": pytest.approx(1.0), "CA": pytest.approx(1.0), "GTBA": pytest.approx(1.0)}


def test_below_tau_is_kept_unchanged():
    # shifted by 120 px: IoU = 80*200 / (80000 - 16000) = 0.25 < tau -> not allocated, stays a miss
    gt, dets = one_image([(1, [50, 50, 200, 200])], [(1, [170, 50, 200, 200], 0.9)])
    assert P.probe_metrics(gt, None, dets)["GTBA"] == pytest.approx(0.0)
    # with tau = 0.2 it is allocated and scores perfectly
    assert P.probe_metrics(gt, None, dets, tau=0.2)["GTBA"] == pytest.approx(1.0)


def test_allocation_rules():
    # detection [1,0,10,10] overlaps GT A [0,0,10,10] and GT B [2,0,10,10] equally (IoU 90/110):
    # the tie goes to the first GT in file order, whatever its class
    gt, dets = one_image([(1, [0, 0, 10, 10]), (2, [2, 0, 10, 10])], [(3, [1, 0, 10, 10], 0.9)])
    g = load_ground_truth(gt)
    boxes, replaced = P.allocate_gt_boxes(g, detection_arrays(dets, g))
    assert replaced.tolist() == [True] and boxes.tolist() == [[0, 0, 10, 10]]
    gt["annotations"].reverse()
    g = load_ground_truth(gt)
    boxes, _ = P.allocate_gt_boxes(g, detection_arrays(dets, g))
    assert boxes.tolist() == [[2, 0, 10, 10]]
    # several detections may receive the same GT box; crowd regions are never allocated
    gt, dets = one_image(
        [(1, [0, 0, 100, 100]), (1, [200, 200, 100, 100])],
        [(1, [5, 0, 100, 100], 0.9), (2, [0, 5, 100, 100], 0.8), (1, [200, 200, 100, 100], 0.7)],
    )
    gt["annotations"][1]["iscrowd"] = 1
    g = load_ground_truth(gt)
    boxes, replaced = P.allocate_gt_boxes(g, detection_arrays(dets, g))
    assert replaced.tolist() == [True, True, False]
    assert boxes[:2].tolist() == [[0, 0, 100, 100]] * 2 and boxes[2].tolist() == [200, 200, 100, 100]


def make_case(seed: int, n_images: int = 30, n_classes: int = 4):
    """Noisy/clean GT pair (noisy = some classes flipped, some boxes shifted) and detections."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 400, "height": 400, "file_name": f"{i}.jpg"} for i in range(n_images)]
    clean, dets = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 6))):
            w, h = rng.uniform(10, 150, 2)
            x, y = rng.uniform(0, 400 - w), rng.uniform(0, 400 - h)
            c = int(rng.integers(1, n_classes + 1))
            clean.append(
                {"id": len(clean) + 1, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h],
                 "area": w * h, "iscrowd": 0}  # plain pycocotools (the reference below) needs both
            )  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, 0.2, 4) * [w, h, w, h]
                cc = c if rng.random() < 0.7 else int(rng.integers(1, n_classes + 1))
                dets.append(
                    {"image_id": im["id"], "category_id": cc, "score": float(rng.random()),
                     "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)]}
                )  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):
            dets.append(
                {"image_id": im["id"], "category_id": int(rng.integers(1, n_classes + 1)), "score": float(rng.random()),
                 "bbox": [float(v) for v in [*rng.uniform(0, 300, 2), *rng.uniform(5, 100, 2)]]}
            )  # fmt: skip
    noisy = copy.deepcopy(clean)
    for a in noisy:
        if rng.random() < 0.3:
            a["category_id"] = int(rng.integers(1, n_classes + 1))
        if rng.random() < 0.3:
            x, y, w, h = a["bbox"]
            a["bbox"] = [min(x + 0.2 * w, 400 - w), y, w, h]
    cats = [{"id": c, "name": str(c)} for c in range(1, n_classes + 1)]
    wrap = lambda anns: {"images": images, "annotations": anns, "categories": cats}  # noqa: E731
    return wrap(noisy), wrap(clean), dets


def iou_xywh(a, b):
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def transformed(gt, dets, how, tau=0.5):
    """The inputs the probes are defined on, built with plain loops (independent of the module)."""
    if how == "CA":
        gt = {**gt, "categories": [{"id": 1, "name": "object"}],
              "annotations": [{**a, "category_id": 1} for a in gt["annotations"]]}  # fmt: skip
        return gt, [{**d, "category_id": 1} for d in dets]
    if how == "GTBA":
        out = []
        for d in dets:
            best, box = 0.0, None
            for a in gt["annotations"]:  # first GT wins ties (strict >)
                if a["image_id"] == d["image_id"] and (v := iou_xywh(d["bbox"], a["bbox"])) > best:
                    best, box = v, a["bbox"]
            out.append({**d, "bbox": list(box) if box is not None and best >= tau else d["bbox"]})
        return gt, out
    return gt, dets


def pycocotools(gt, dets, tmp_path: Path):
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
    return {"AP": ev.stats[0], "AP50": ev.stats[1]}


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_pycocotools_on_transformed_inputs(seed, tmp_path):
    noisy, clean, dets = make_case(seed)
    m = P.probe_metrics(noisy, clean, dets)
    m50 = P.probe_metrics(noisy, clean, dets, metric="AP50", tau=0.6)
    assert set(m) == {"AP", "CA", "GTBA", "AP_clean", "CA_clean", "GTBA_clean"}
    for suffix, gt in (("", noisy), ("_clean", clean)):
        for how in ("AP", "CA", "GTBA"):
            ref = pycocotools(*transformed(gt, dets, how), tmp_path)
            assert m[how + suffix] == pytest.approx(ref["AP"], abs=1e-6), how + suffix
            ref50 = pycocotools(*transformed(gt, dets, how, tau=0.6), tmp_path)
            assert m50[how + suffix] == pytest.approx(ref50["AP50"], abs=1e-6), how + suffix
    # the three probes measure different things here, and noisy labels score lower than clean ones
    assert len({round(m[k], 6) for k in ("AP", "CA", "GTBA")}) == 3
    assert m["AP"] < m["AP_clean"]


def test_identical_label_sets_are_scored_once_with_the_same_result(tmp_path):
    """Clean cells pass the same labels twice: the shortcut must equal the full computation."""
    _, clean, dets = make_case(2)
    shortcut = P.probe_metrics(clean, copy.deepcopy(clean), dets)
    shuffled = {**clean, "annotations": clean["annotations"][::-1]}  # same labels, not list-equal
    full = P.probe_metrics(clean, shuffled, dets)
    assert shortcut == pytest.approx(full, abs=1e-12)
    for how in ("AP", "CA", "GTBA"):
        assert shortcut[how] == shortcut[how + "_clean"]
        assert shortcut[how] == pytest.approx(pycocotools(*transformed(clean, dets, how), tmp_path)["AP"], abs=1e-6)


def test_backends_agree_and_inputs_untouched():
    noisy, clean, dets = make_case(3)
    before = copy.deepcopy((noisy, clean, dets))
    fast = P.probe_metrics(noisy, clean, dets)
    ref = P.probe_metrics(noisy, clean, dets, backend="pycocotools")
    assert fast.keys() == ref.keys() and all(fast[k] == pytest.approx(ref[k], abs=1e-6) for k in fast)
    assert (noisy, clean, dets) == before


def test_no_detections_and_bad_arguments():
    noisy, clean, _ = make_case(4)
    assert P.probe_metrics(noisy, clean, []) == {
        k: 0.0 for k in ("AP", "CA", "GTBA", "AP_clean", "CA_clean", "GTBA_clean")
    }
    with pytest.raises(ValueError, match="metric"):
        P.probe_metrics(noisy, None, [], metric="AP75")


def test_cost_200_images_100_dets():
    """The hook's budget: 200 images x 100 detections against both label sets (printed with -s)."""
    rng = np.random.default_rng(0)
    noisy, clean, _ = make_case(5, n_images=200)
    dets = []
    for im in noisy["images"]:
        wh = rng.uniform(5, 150, (100, 2))
        xy = rng.uniform(0, 1, (100, 2)) * (400 - wh)
        for b, c, s in zip(np.c_[xy, wh].tolist(), rng.integers(1, 5, 100).tolist(), rng.random(100).tolist()):
            dets.append({"image_id": im["id"], "category_id": c, "bbox": b, "score": s})
    P.probe_metrics(noisy, clean, dets[:100])  # imports
    t = time.perf_counter()
    m = P.probe_metrics(noisy, clean, dets)
    seconds = time.perf_counter() - t
    print(f"probe_metrics: {len(noisy['images'])} images, {len(dets)} detections, both label sets: {seconds:.2f} s")
    assert len(m) == 6 and seconds < 10  # loose bound: a shared 2-core machine
