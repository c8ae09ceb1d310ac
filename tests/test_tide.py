"""TIDE: every number against the tidecv package, a hand-computed case, the matching, CLI, grid report."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import manifest

from analysis import tide as T
from analysis import tide_report as R
from benchmarks.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def make_case(seed: int, *, n_images: int = 40, n_classes: int = 4, crowd: bool = True, dense: bool = False):
    """GT + detections that exercise every TIDE error type.

    Per GT box: a good detection, a badly localized one (Loc), a wrong-class one (Cls), a wrong class
    and bad box (Both), a duplicate (Dupe), or nothing (Miss); plus background boxes (Bkg), images
    without GT, images without detections, crowd regions, coarse scores (ties) and, with
    ``dense``, images with more than 100 detections (TIDE keeps the 100 best).
    """
    rng = np.random.default_rng(seed)
    images = [{"id": 3 * i + 11, "width": 400, "height": 400, "file_name": f"{i}.jpg"} for i in range(n_images)]
    rng.shuffle(images)  # image order of the file matters to tidecv's tie-breaking
    anns, dets = [], []

    def det(img, c, box, score):
        dets.append({"image_id": img, "category_id": int(c), "bbox": [float(v) for v in box], "score": float(score)})

    for k, im in enumerate(images):
        n_gt = 0 if k % 10 == 0 else int(rng.integers(1, 30 if dense and k % 7 == 3 else 7))
        for _ in range(n_gt):
            w, h = rng.uniform(15, 120, 2)
            x, y = rng.uniform(0, 400 - w), rng.uniform(0, 400 - h)
            c = int(rng.integers(1, n_classes + 1))
            is_crowd = crowd and rng.random() < 0.08
            anns.append(
                {"id": len(anns) + 1, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h], "area": w * h,
                 "iscrowd": int(is_crowd), "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
            )  # fmt: skip
            if k % 10 == 5:
                continue  # an image whose GT gets no detection at all
            other = int((c % n_classes) + 1)
            for kind in rng.choice(["good", "loc", "cls", "both", "dupe", "miss"], size=int(rng.integers(1, 3))):
                s = np.round(rng.random(), 2)  # coarse: score ties
                if kind == "good":
                    det(im["id"], c, [x + rng.normal(0, 2), y + rng.normal(0, 2), w, h], s)
                elif kind == "loc":
                    det(im["id"], c, [x + 0.55 * w, y, w, h], s)  # IoU ~ 0.29
                elif kind == "cls":
                    det(im["id"], other, [x + 1, y, w, h], s)
                elif kind == "both":
                    det(im["id"], other, [x, y + 0.6 * h, w, h], s)
                elif kind == "dupe":
                    det(im["id"], c, [x, y, w, h], 0.99)
                    det(im["id"], c, [x + 2, y + 2, w, h], s)
        if k % 10 == 5:
            continue
        for _ in range(int(rng.integers(0, 130 if dense and k % 7 == 3 else 4))):
            w, h = rng.uniform(5, 60, 2)
            det(im["id"], rng.integers(1, n_classes + 1), [*rng.uniform(0, 330, 2), w, h], np.round(rng.random(), 2))
    order = rng.permutation(len(dets))
    cats = [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, [dets[i] for i in order]


def tidecv_result(gt: dict, dets: list, tmp_path: Path) -> tuple[dict, dict]:
    """tidecv's numbers (and error counts) for the same inputs, through its own COCO loaders."""
    from tidecv import TIDE, datasets

    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    t = TIDE()
    with contextlib.redirect_stdout(io.StringIO()):
        t.evaluate(
            datasets.COCO(str(tmp_path / "gt.json")), datasets.COCOResult(str(tmp_path / "dt.json")), mode=TIDE.BOX
        )
    (name, run), *_ = t.runs.items()
    main, special = t.get_main_errors()[name], t.get_special_errors()[name]
    res = {
        "AP50": run.ap,
        "dAP": {k: main[k] for k in T.ERROR_TYPES},
        "dAP_FP": special["FalsePos"],
        "dAP_FN": special["FalseNeg"],
    }
    return res, {err.short_name: len(v) for err, v in run.error_dict.items()}


def assert_close(ours: dict, ref: dict, tol: float = 0.05):
    assert ours["AP50"] == pytest.approx(ref["AP50"], abs=tol)
    assert ours["dAP_FP"] == pytest.approx(ref["dAP_FP"], abs=tol)
    assert ours["dAP_FN"] == pytest.approx(ref["dAP_FN"], abs=tol)
    for k in T.ERROR_TYPES:
        assert ours["dAP"][k] == pytest.approx(ref["dAP"][k], abs=tol), k


@pytest.mark.parametrize(
    "seed, options",
    [(0, {}), (1, {"crowd": False}), (2, {"dense": True}), (3, {"n_classes": 2}), (4, {"dense": True, "n_images": 25})],
)
def test_matches_tidecv(seed, options, tmp_path):
    gt, dets = make_case(seed, **options)
    ref, ref_counts = tidecv_result(gt, dets, tmp_path)
    res = T.tide(gt, dets)
    assert_close(res.to_json(), ref)
    assert res.counts == ref_counts
    assert all(res.counts[k] > 0 for k in T.ERROR_TYPES), res.counts  # every error type exercised
    assert all(res.dap[k] >= 0 for k in T.ERROR_TYPES)


def test_hand_computed(tmp_path):
    # class 1: GT A [0,0,100,100] found by a perfect detection (0.9); GT B [200,0,100,100] covered
    # by a class-2 detection (0.8) with a perfect box -> a Cls error targeting B.
    #   AP50: class 1 recall 1/2 at precision 1 -> 51/101 * 100; class 2 has a detection but no
    #   GT -> 0 and still counted: mAP = (5100/101 + 0) / 2 = 25.2475...
    #   fix Cls: the class-2 detection becomes a TP of class 1 -> class 1 AP 100, class 2 empty
    #   (dropped) -> 100, dAP Cls = 100 - 25.25. B is covered by the Cls error, so nothing is missed.
    #   FN oracle: class 1 keeps only its found GT -> AP 100, class 2 stays 0 -> 50.
    #   FP oracle: the FP is in a class without GT: nothing changes.
    gt = {
        "images": [{"id": 1, "width": 400, "height": 400, "file_name": "a.jpg"}],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": b,
                "area": 1e4,
                "iscrowd": 0,
                "segmentation": [[b[0], b[1], b[0] + 100, b[1], b[0] + 100, b[1] + 100, b[0], b[1] + 100]],
            }
            for i, b in enumerate([[0, 0, 100, 100], [200, 0, 100, 100]])
        ],  # fmt: skip
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [200, 0, 100, 100], "score": 0.8},
    ]
    res = T.tide(gt, dets)
    ap50 = 5100 / 101 / 2
    assert res.ap50 == pytest.approx(ap50)
    assert res.dap == pytest.approx({"Cls": 100 - ap50, "Loc": 0, "Both": 0, "Dupe": 0, "Bkg": 0, "Miss": 0})
    assert res.dap_fn == pytest.approx(50 - ap50) and res.dap_fp == pytest.approx(0)
    assert res.counts == {"Cls": 1, "Loc": 0, "Both": 0, "Dupe": 0, "Bkg": 0, "Miss": 0}
    assert_close(res.to_json(), tidecv_result(gt, dets, tmp_path)[0], tol=1e-9)


def serial_greedy(cand_det, cand_gt, cand_iou, n_det):
    """The textbook serial loop: detections in priority order take their best free candidate."""
    match, taken = [-1] * n_det, set()
    for d in range(n_det):
        options = [(-v, g) for dd, g, v in zip(cand_det, cand_gt, cand_iou) if dd == d and g not in taken]
        if options:
            match[d] = min(options)[1]
            taken.add(match[d])
    return match


@pytest.mark.parametrize("seed", range(6))
def test_parallel_greedy_equals_serial(seed):
    rng = np.random.default_rng(seed)
    n_det, n_gt = 60, 25
    pairs = {(int(d), int(g)) for d, g in zip(rng.integers(0, n_det, 300), rng.integers(0, n_gt, 300))}
    cd, cg = (np.array(v) for v in zip(*sorted(pairs)))
    iou = np.round(rng.uniform(0.5, 1, len(cd)), 1)  # coarse: IoU ties too
    got = T.greedy_match(cd, cg, iou, n_det, n_gt)
    assert got.tolist() == serial_greedy(cd.tolist(), cg.tolist(), iou.tolist(), n_det)


def test_empty_and_bad_inputs(tmp_path):
    gt, dets = make_case(7)
    res = T.tide(gt, [])
    assert res.ap50 == 0 and res.counts["Miss"] == sum(1 for a in gt["annotations"] if not a["iscrowd"])
    with pytest.raises(InputError, match="record 2"):
        T.tide(gt, [*dets[:2], {**dets[2], "category_id": 77}])


def test_cli(tmp_path):
    gt, dets = make_case(8)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    cmd = [
        sys.executable,
        "-m",
        "analysis.tide",
        "--gt",
        str(tmp_path / "gt.json"),
        "--dets",
        str(tmp_path / "dt.json"),
    ]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert list(got) == ["AP50", "dAP", "dAP_FP", "dAP_FN"] and list(got["dAP"]) == list(T.ERROR_TYPES)
    assert_close(got, T.tide(gt, dets).to_json(), tol=1e-9)
    table = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert table.returncode == 0 and f"AP50: {got['AP50']:.2f}" in table.stdout
    (tmp_path / "dt.json").write_text("[{")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "dt.json" in bad.stderr


# ------------------------------------------------------------------------------- report
def fake_runs(root: Path) -> Path:
    """runs/<dataset>/<noise>-<rate>/<detector>/<method>/seed<k>/ with metrics.json + dets_val.json."""
    gt, _ = make_case(9, n_images=20)
    val = root / "data" / "val.json"
    val.parent.mkdir(parents=True)
    val.write_text(json.dumps(gt))
    runs = root / "runs"
    k = 0
    for noise, rate in (("clean", 0.0), ("cls", 0.4)):
        for detector in ("retinanet", "fcos"):
            for method in ("baseline", "bckd"):
                for seed in (0, 1):
                    k += 1
                    _, dets = make_case(9, n_images=20)
                    rng = np.random.default_rng(k)
                    for d in dets:
                        d["score"] = float(rng.random())
                        if noise == "cls" and rng.random() < rate:
                            d["category_id"] = int(rng.integers(1, 5))
                    cell = f"synth/{noise}-{rate:g}/{detector}/{method}/seed{seed}"
                    cdir = runs / cell
                    cdir.mkdir(parents=True)
                    metrics = {"cell": cell, "dataset": "synth", "noise": noise, "rate": rate, "detector": detector,
                               "method": method, "seed": seed, "val_ann_file": str(val), "AP": 0.1, "AP50": 0.2}  # fmt: skip
                    (cdir / "metrics.json").write_text(json.dumps(metrics))
                    (cdir / "dets_val.json").write_text(json.dumps(dets))
    (runs / "synth" / "clean-0" / "fcos" / "bckd" / "seed7").mkdir()  # unfinished cell: skipped
    return runs


def test_report(tmp_path, caplog):
    runs = fake_runs(tmp_path)
    out = tmp_path / "tide"
    with caplog.at_level(logging.INFO, logger="analysis.tide_report"):
        assert R.main(["--cells", str(manifest(runs)), "--out-dir", str(out), "--no-progress"]) == 0
    assert any("skip" in r.message and "seed7" in r.message for r in caplog.records)
    cells = pd.read_csv(out / "tide_cells.csv")
    assert list(cells.columns) == R.CELL_COLUMNS and len(cells) == 16
    for row in cells.sample(4, random_state=0).itertuples(index=False):
        res = T.tide(tmp_path / "data" / "val.json", runs / row.cell / "dets_val.json")
        assert row.AP50 == pytest.approx(res.ap50, abs=1e-6)
        assert row.dAP_FP == pytest.approx(res.dap_fp, abs=1e-6) and row.dAP_FN == pytest.approx(res.dap_fn, abs=1e-6)
        for k in T.ERROR_TYPES:
            assert getattr(row, k) == pytest.approx(res.dap[k], abs=1e-6)
    means = pd.read_csv(out / "tide_mean.csv")
    assert list(means.columns) == R.MEAN_COLUMNS and len(means) == 8 and (means["n_seeds"] == 2).all()
    one = cells[(cells.noise == "cls") & (cells.detector == "fcos") & (cells.method == "bckd")]
    mrow = means[(means.noise == "cls") & (means.detector == "fcos") & (means.method == "bckd")].iloc[0]
    assert mrow["Cls"] == pytest.approx(one["Cls"].mean(), abs=1e-5)
    assert mrow["Cls_std"] == pytest.approx(one["Cls"].std(ddof=1), abs=1e-5)
    for name in ("methods__synth__clean-0", "methods__synth__cls-0.4", "noise_shift__synth__baseline",
                 "noise_shift__synth__bckd"):  # fmt: skip
        for ext in (".png", ".svg"):
            assert (out / (name + ext)).stat().st_size > 1000, name + ext
    assert not list(out.glob(".tmp-*"))


def test_report_empty(tmp_path):
    (tmp_path / "runs").mkdir()
    assert R.main(["--cells", str(manifest(tmp_path / "runs")), "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 0
    assert (tmp_path / "o" / "tide_cells.csv").read_text().strip() == ",".join(R.CELL_COLUMNS)
    with pytest.raises(InputError, match="nope.json: file not found"):
        R.main(["--cells", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path / "o")])
