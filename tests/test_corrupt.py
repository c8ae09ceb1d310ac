"""Annotation corruption (benchmarks.data.corrupt): statistics of each noise model, files, bad input."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.data import corrupt as C
from benchmarks.errors import run_cli

REPO = Path(__file__).resolve().parents[1]


# ---- fixtures: tiny hand-made file, larger synthetic dicts --------------------------------


def tiny_coco() -> dict:
    """3 images, 3 categories with gappy ids, 12 annotations (int and float boxes, border boxes)."""
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 50, "height": 60},
        {"id": 5, "file_name": "c.jpg", "width": 30, "height": 30},
    ]
    cats = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "eel"}]
    boxes = [
        (1, [0, 0, 100, 80]), (1, [10.5, 20.25, 30, 40]), (1, [90, 70, 10, 10]), (2, [0, 0, 5, 5]),
        (2, [20, 30, 10.5, 12]), (2, [45.5, 55.5, 4.5, 4.5]), (5, [1, 1, 28, 28]), (5, [0.5, 0.5, 0.8, 0.9]),
        (1, [50, 40, 20, 20]), (2, [5, 5, 40, 50]), (5, [10, 10, 10, 10]), (1, [99, 79, 1, 1]),
    ]  # fmt: skip
    anns = [
        {"id": 100 + k, "image_id": img, "category_id": [1, 3, 7][k % 3], "bbox": b, "area": b[2] * b[3],
         "iscrowd": 0, "segmentation": [[b[0], b[1], b[0] + b[2], b[1], b[0], b[1] + b[3]]]}
        for k, (img, b) in enumerate(boxes)
    ]  # fmt: skip
    return {"info": {"description": "tiny"}, "images": images, "annotations": anns, "categories": cats}


def synth_coco(n_ann: int, n_img: int = 200, cat_ids=(1, 2, 4, 8, 9), seed: int = 0) -> dict:
    """Many annotations on 200 images; a quarter of the boxes touch an image border."""
    rng = np.random.default_rng(seed)
    wh = rng.integers(60, 400, size=(n_img, 2))
    images = [{"id": i + 1, "file_name": f"{i}.jpg", "width": int(w), "height": int(h)} for i, (w, h) in enumerate(wh)]
    img = rng.integers(0, n_img, n_ann)
    iw, ih = wh[img, 0], wh[img, 1]
    bw = np.round(rng.uniform(5, iw), 2)
    bh = np.round(rng.uniform(5, ih), 2)
    bx = np.round(rng.random(n_ann) * (iw - bw), 2)
    by = np.round(rng.random(n_ann) * (ih - bh), 2)
    border = rng.random(n_ann) < 0.25
    bx = np.where(border, iw - bw, bx)
    by = np.where(rng.random(n_ann) < 0.25, 0.0, by)
    cats = np.asarray(cat_ids)[rng.integers(0, len(cat_ids), n_ann)]
    anns = [
        {"id": k + 1, "image_id": int(i) + 1, "category_id": int(c), "bbox": [x, y, w, h], "iscrowd": 0}
        for k, (i, c, x, y, w, h) in enumerate(zip(img, cats, bx.tolist(), by.tolist(), bw.tolist(), bh.tolist()))
    ]
    return {"images": images, "annotations": anns, "categories": [{"id": int(c), "name": f"c{c}"} for c in cat_ids]}


def write(path: Path, coco: dict) -> Path:
    path.write_text(json.dumps(coco))
    return path


def cli(capsys, *argv) -> tuple[int, str]:
    code = run_cli(C.main, [str(a) for a in argv])
    return code, capsys.readouterr().err


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def image_sizes(coco: dict) -> dict[int, tuple[float, float]]:
    return {im["id"]: (im["width"], im["height"]) for im in coco["images"]}


# ---- selection: exactly round(R*N) ---------------------------------------------------------


def test_n_selected_rounds_half_up():
    # hand values: 2.5 -> 3, 3.5 -> 4, 1.5 -> 2 (not Python's banker's rounding), exact cases unchanged
    assert [C.n_selected(10, 0.25), C.n_selected(7, 0.5), C.n_selected(3, 0.5)] == [3, 4, 2]
    assert [C.n_selected(1000, 0.2), C.n_selected(5, 0.0), C.n_selected(5, 1.0), C.n_selected(0, 0.4)] == [200, 0, 5, 0]


@pytest.mark.parametrize("noise", C.NOISE_TYPES)
@pytest.mark.parametrize("rate", [0.0, 0.25, 0.4, 1.0])
def test_realised_rates_equal_rounded_fraction(noise, rate):
    coco = synth_coco(37)
    res = C.corrupt_coco(coco, noise, rate, seed=5)
    k = {0.0: 0, 0.25: 9, 0.4: 15, 1.0: 37}[rate]  # round half up of 37 * R, by hand
    c = res.corruption
    expect = {
        "cls": (k if noise in ("cls", "combined") else 0),
        "loc": (k if noise in ("loc", "combined") else 0),
        "missing": (k if noise == "missing" else 0),
    }
    assert (int(c.cls.sum()), int(c.loc.sum()), int(c.dropped.sum())) == (
        expect["cls"],
        expect["loc"],
        expect["missing"],
    )
    assert res.stats["realised_rates"] == {key: v / 37 for key, v in expect.items()}
    assert sum(res.stats["counts"].values()) == 37
    assert len(res.coco["annotations"]) == 37 - expect["missing"]


# ---- class noise ---------------------------------------------------------------------------


@pytest.mark.parametrize("noise", ["cls", "combined"])
def test_flipped_class_is_never_the_original_and_uniform_over_the_others(noise):
    cat_ids = (1, 2, 4, 8, 9)
    coco = synth_coco(40_000, cat_ids=cat_ids, seed=1)
    res = C.corrupt_coco(coco, noise, 0.5, seed=11)
    a, c = res.arrays, res.corruption
    flipped = c.cls
    assert flipped.sum() == 20_000
    assert not np.any(c.new_category_ids[flipped] == a.category_ids[flipped])
    assert np.array_equal(c.new_category_ids[~flipped], a.category_ids[~flipped])
    assert set(np.unique(c.new_category_ids).tolist()) <= set(cat_ids)
    for orig in cat_ids:  # per original class: uniform over the K-1 others
        rows = flipped & (a.category_ids == orig)
        others = [k for k in cat_ids if k != orig]
        counts = [int(np.sum(c.new_category_ids[rows] == k)) for k in others]
        assert sum(counts) == rows.sum()
        assert sps.chisquare(counts).pvalue > 1e-3, (orig, counts)
    # the output file carries the flipped ids
    out = {x["id"]: x["category_id"] for x in res.coco["annotations"]}
    assert [out[i] for i in a.ann_ids.tolist()] == c.new_category_ids.tolist()


def test_chi_square_check_would_detect_a_biased_flip():
    """The uniformity check above has power: a flip biased towards one class fails it."""
    rng = np.random.default_rng(0)
    biased = rng.choice(4, size=5000, p=[0.28, 0.24, 0.24, 0.24])
    assert sps.chisquare(np.bincount(biased, minlength=4)).pvalue < 1e-3


def test_pair_mode_flips_to_the_next_category_id_cyclically():
    coco = tiny_coco()
    res = C.corrupt_coco(coco, "cls", 1.0, seed=0, cls_mode="pair")
    partner = {1: 3, 3: 7, 7: 1}  # ids sorted 1 < 3 < 7, last wraps to first
    for before, after in zip(coco["annotations"], res.coco["annotations"]):
        assert after["category_id"] == partner[before["category_id"]]


def test_flip_classes_hand_case():
    """Uniform mode maps a draw j in 0..K-2 to the j-th other class (skipping the original)."""

    class Fixed:
        def integers(self, lo, hi, size):
            assert (lo, hi) == (0, 2)
            return np.array([0, 1, 0, 1, 0, 1])

    orig = np.array([1, 1, 3, 3, 7, 7])
    new = C.flip_classes(orig, np.array([7, 1, 3]), np.ones(6, bool), Fixed(), "uniform")
    assert new.tolist() == [3, 7, 1, 7, 1, 3]


# ---- localisation noise --------------------------------------------------------------------


class FixedUniform:
    """Stands in for a Generator: returns prescribed (dx, dy, sw-1, sh-1) rows."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=float)

    def uniform(self, lo, hi, size):
        assert size == self.rows.shape
        return self.rows


def test_perturb_boxes_hand_cases():
    boxes = np.array([[90, 10, 10, 10], [0, 0, 2, 2], [99.5, 0, 0.5, 5], [20, 20, 10, 20], [5, 5, 5, 5]], float)
    d = [[0.4, 0, 0.2, 0], [0, 0, -0.8, 0], [0, 0, 0, 0], [-0.1, 0.25, 0, -0.5], [0, 0, 0, 0]]
    sel = np.array([True, True, True, True, False])
    out = C.perturb_boxes(boxes, np.full(5, 100.0), np.full(5, 80.0), sel, FixedUniform(d[:4]), beta=1.0)
    # centre 99, width 12 -> [93, 105] clipped to the image edge 100
    assert out[0].tolist() == [93.0, 10.0, 7.0, 10.0]
    # width 0.4 around x=1 -> widened to 1 px around its centre: [0.5, 1.5]
    assert out[1].tolist() == [0.5, 0.0, 1.0, 2.0]
    # 0.5 px box at the right edge -> 1 px, pushed back inside: [99, 100]
    assert out[2].tolist() == [99.0, 0.0, 1.0, 5.0]
    # centre (25 - 1, 30 + 5), size 10 x 10 -> [19, 30, 10, 10]
    assert out[3].tolist() == [19.0, 30.0, 10.0, 10.0]
    assert out[4].tolist() == [5.0, 5.0, 5.0, 5.0]


def test_loc_boxes_inside_image_not_degenerate_and_bounded_by_beta(tmp_path, capsys):
    coco = synth_coco(6000, seed=2)
    coco["annotations"][0]["bbox"] = [0.0, 0.0, 0.4, 0.3]  # sub-pixel box: must come out >= 1 px
    src = write(tmp_path / "clean.json", coco)
    beta = 0.3
    code, err = cli(capsys, "--in", src, "--out", tmp_path / "o/noisy.json", "--noise", "loc", "--rate", 0.5, "--seed", 4, "--beta", beta)  # fmt: skip
    assert code == 0, err
    rows = read_manifest(tmp_path / "o/noisy.manifest.csv")
    size = {a["id"]: image_sizes(coco)[a["image_id"]] for a in coco["annotations"]}
    loc = [r for r in rows if r["action"] == "loc"]
    assert len(loc) == 3000 and {r["action"] for r in rows} == {"loc", "kept"}
    o = np.array([[float(r[f"orig_{k}"]) for k in "xywh"] for r in loc])
    n = np.array([[float(r[f"new_{k}"]) for k in "xywh"] for r in loc])
    W = np.array([size[int(r["ann_id"])][0] for r in loc], float)
    H = np.array([size[int(r["ann_id"])][1] for r in loc], float)
    eps = 1e-9
    assert np.all(n[:, 0] >= 0) and np.all(n[:, 1] >= 0)
    assert np.all(n[:, 0] + n[:, 2] <= W + eps) and np.all(n[:, 1] + n[:, 3] <= H + eps)
    assert np.all(n[:, 2] >= 1) and np.all(n[:, 3] >= 1)
    assert not np.array_equal(o, n)
    # every edge moves by at most 1.5 * beta * size (shift beta + half the scale change), plus 0.01 px grid
    big = (o[:, 2] >= 5) & (o[:, 3] >= 5)
    for a, s in ((0, 2), (1, 3)):
        lo_move = np.abs(n[big, a] - o[big, a])
        hi_move = np.abs(n[big, a] + n[big, s] - o[big, a] - o[big, s])
        assert np.all(lo_move <= 1.5 * beta * o[big, s] + 0.011)
        assert np.all(hi_move <= 1.5 * beta * o[big, s] + 0.011)
    # boxes that were not clipped show the raw model: centre shift <= beta * size, scale in [1-beta, 1+beta]
    free = big & (n[:, 0] > 0) & (n[:, 1] > 0) & (n[:, 0] + n[:, 2] < W) & (n[:, 1] + n[:, 3] < H)
    assert free.sum() > 500
    for a, s in ((0, 2), (1, 3)):
        shift = (n[free, a] + n[free, s] / 2 - o[free, a] - o[free, s] / 2) / o[free, s]
        scale = n[free, s] / o[free, s]
        assert np.all(np.abs(shift) <= beta + 0.01 / o[free, s] + eps)
        assert np.all(np.abs(scale - 1) <= beta + 0.01 / o[free, s] + eps)
        assert np.abs(shift).max() > 0.9 * beta and np.abs(scale - 1).max() > 0.9 * beta  # the range is used
    # the sub-pixel box, if perturbed, is at least 1 px; untouched it keeps its bytes
    first = rows[0]
    if first["action"] == "loc":
        assert float(first["new_w"]) >= 1 and float(first["new_h"]) >= 1
    # mean IoU in the stats = IoU recomputed here from the manifest
    ix = np.clip(np.minimum(o[:, 0] + o[:, 2], n[:, 0] + n[:, 2]) - np.maximum(o[:, 0], n[:, 0]), 0, None)
    iy = np.clip(np.minimum(o[:, 1] + o[:, 3], n[:, 1] + n[:, 3]) - np.maximum(o[:, 1], n[:, 1]), 0, None)
    iou = ix * iy / (o[:, 2] * o[:, 3] + n[:, 2] * n[:, 3] - ix * iy)
    st = json.loads((tmp_path / "o/noisy.stats.json").read_text())
    assert st["mean_iou_loc"] == pytest.approx(iou.mean(), rel=1e-9)
    assert 0.3 < st["mean_iou_loc"] < 0.9


def test_untouched_annotations_are_unchanged(tmp_path, capsys):
    coco = tiny_coco()
    src = write(tmp_path / "clean.json", coco)
    out = tmp_path / "noisy.json"
    code, err = cli(capsys, "--in", src, "--out", out, "--noise", "combined", "--rate", 0.4, "--seed", 1)
    assert code == 0, err
    text = out.read_text()
    noisy = {a["id"]: a for a in json.loads(text)["annotations"]}
    actions = {int(r["ann_id"]): r["action"] for r in read_manifest(tmp_path / "noisy.manifest.csv")}
    assert sorted(actions.values()).count("kept") >= 1
    for a in coco["annotations"]:  # parsed content: the writer may format numbers its own way
        if actions[a["id"]] == "kept":
            assert noisy[a["id"]] == a and list(noisy[a["id"]]) == list(a)  # same fields, same order
        else:
            assert noisy[a["id"]] != a and list(noisy[a["id"]]) == list(a)
    for a in noisy.values():  # perturbed boxes carry a matching area; other fields survive
        if actions[a["id"]] in ("loc", "cls+loc"):
            assert a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3], abs=1e-6)
        assert a["iscrowd"] == 0 and "segmentation" in a
    assert json.loads(text)["info"] == coco["info"] and json.loads(text)["categories"] == coco["categories"]


# ---- combined and missing ------------------------------------------------------------------


def test_combined_draws_are_independent():
    n, rate = 20_000, 0.3
    coco = synth_coco(n, seed=3)
    res = C.corrupt_coco(coco, "combined", rate, seed=8)
    c = res.corruption
    k = 6000
    assert c.cls.sum() == k and c.loc.sum() == k
    both = int((c.cls & c.loc).sum())
    # overlap of two independent k-subsets of n is hypergeometric: mean k^2/n = R^2 N, sd below
    mean = k * k / n
    sd = np.sqrt(k * (k / n) * (1 - k / n) * (n - k) / (n - 1))
    assert abs(both - mean) < 5 * sd, (both, mean, sd)
    assert res.stats["counts"]["cls+loc"] == both
    assert res.stats["counts"]["kept"] == n - 2 * k + both
    # each half equals the single-noise run at the same seed (one generator per noise kind)
    only_cls = C.corrupt_coco(coco, "cls", rate, seed=8).corruption
    only_loc = C.corrupt_coco(coco, "loc", rate, seed=8).corruption
    assert np.array_equal(only_cls.new_category_ids, c.new_category_ids)
    assert np.array_equal(only_loc.new_boxes, c.new_boxes)


def test_missing_drops_exactly_the_manifest_dropped_ids(tmp_path, capsys):
    coco = synth_coco(500, seed=4)
    src = write(tmp_path / "clean.json", coco)
    out = tmp_path / "noisy.json"
    code, err = cli(capsys, "--in", src, "--out", out, "--noise", "missing", "--rate", 0.3, "--seed", 2)
    assert code == 0, err
    rows = read_manifest(tmp_path / "noisy.manifest.csv")
    assert [int(r["ann_id"]) for r in rows] == [a["id"] for a in coco["annotations"]]  # one row per input, in order
    dropped = {int(r["ann_id"]) for r in rows if r["action"] == "dropped"}
    assert len(dropped) == 150
    for r in rows:
        new = [r[k] for k in ("new_category_id", "new_x", "new_y", "new_w", "new_h")]
        assert new == ([""] * 5 if r["action"] == "dropped" else [r["orig_category_id"], r["orig_x"], r["orig_y"], r["orig_w"], r["orig_h"]])  # fmt: skip
    kept = json.loads(out.read_text())["annotations"]
    assert [a["id"] for a in kept] == [a["id"] for a in coco["annotations"] if a["id"] not in dropped]
    assert kept == [a for a in coco["annotations"] if a["id"] not in dropped]
    assert "missing=0.3000" in err


def test_manifest_rows_are_the_input_and_output_annotations(tmp_path, capsys):
    coco = synth_coco(3000, seed=6)
    for a in coco["annotations"]:
        a["area"] = a["bbox"][2] * a["bbox"][3]
    src = write(tmp_path / "clean.json", coco)
    out = tmp_path / "noisy.json"
    code, err = cli(capsys, "--in", src, "--out", out, "--noise", "combined", "--rate", 0.4, "--seed", 3)
    assert code == 0, err
    text = (tmp_path / "noisy.manifest.csv").read_text()
    assert '"' not in text  # numbers and action names: nothing needs quoting
    rows = read_manifest(tmp_path / "noisy.manifest.csv")
    noisy = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    assert len(rows) == len(noisy) == 3000
    kinds = {(False, False): "kept", (True, False): "cls", (False, True): "loc", (True, True): "cls+loc"}
    for a, r in zip(coco["annotations"], rows):
        n = noisy[a["id"]]
        assert (int(r["ann_id"]), int(r["image_id"])) == (a["id"], a["image_id"])
        assert (int(r["orig_category_id"]), int(r["new_category_id"])) == (a["category_id"], n["category_id"])
        assert [float(r[f"orig_{k}"]) for k in "xywh"] == a["bbox"]
        assert [float(r[f"new_{k}"]) for k in "xywh"] == n["bbox"]
        assert r["action"] == kinds[(n["category_id"] != a["category_id"], n["bbox"] != a["bbox"])]
        if "loc" in r["action"]:  # the documented area of a perturbed box, with Python's round
            assert n["area"] == round(n["bbox"][2] * n["bbox"][3], 4)
        else:
            assert n["area"] == a["area"]
    assert {r["action"] for r in rows} == {"kept", "cls", "loc", "cls+loc"}


# ---- files: determinism, input untouched, default paths, all-or-nothing -------------------


def test_same_arguments_give_byte_identical_files_and_input_is_untouched(tmp_path, capsys):
    coco = synth_coco(800, seed=5)
    src = write(tmp_path / "clean.json", coco)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        d = tmp_path / name
        code, err = cli(capsys, "--in", src, "--out", d / "train.json", "--noise", "combined", "--rate", 0.4,
                        "--seed", seed, "--manifest", d / "manifest.csv", "--stats", d / "stats.json")  # fmt: skip
        assert code == 0, err
        outs.append([(d / f).read_bytes() for f in ("train.json", "manifest.csv", "stats.json")])
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0] and outs[0][1] != outs[2][1]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["manifest.csv", "stats.json", "train.json"]


def test_api_does_not_modify_the_input_dict():
    coco = tiny_coco()
    snapshot = copy.deepcopy(coco)
    for noise in C.NOISE_TYPES:
        C.corrupt_coco(coco, noise, 0.5, seed=0)
    assert coco == snapshot


def test_default_paths_and_stats_content(tmp_path, capsys):
    src = write(tmp_path / "clean.json", tiny_coco())
    code, err = cli(capsys, "--in", src, "--out", tmp_path / "x" / "noisy.json", "--noise", "cls", "--rate", 0.5, "--seed", 0)  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "noisy.json",
        "noisy.manifest.csv",
        "noisy.stats.json",
    ]
    header = (tmp_path / "x/noisy.manifest.csv").read_text().splitlines()[0]
    assert header == "ann_id,image_id,orig_category_id,new_category_id,orig_x,orig_y,orig_w,orig_h,new_x,new_y,new_w,new_h,action"  # fmt: skip
    st = json.loads((tmp_path / "x/noisy.stats.json").read_text())
    assert {k: st[k] for k in ("noise", "rate", "seed", "beta", "n_annotations")} == {
        "noise": "cls", "rate": 0.5, "seed": 0, "beta": C.DEFAULT_BETA, "n_annotations": 12}  # fmt: skip
    assert st["counts"] == {"kept": 6, "cls": 6, "loc": 0, "cls+loc": 0, "dropped": 0}
    assert st["realised_rates"] == {"cls": 0.5, "loc": 0.0, "missing": 0.0}
    assert st["mean_iou_loc"] is None
    assert "realised rates cls=0.5000 loc=0.0000 missing=0.0000" in err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        C.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--in", "--out", "--noise", "--rate", "--seed", "--manifest", "--stats", "--beta", "--cls-mode"):
        assert opt in text


def test_a_failed_rename_leaves_no_output(tmp_path):
    src = write(tmp_path / "clean.json", tiny_coco())
    out = tmp_path / "noisy.json"
    out.mkdir()  # --out cannot be replaced: the last rename fails after the other two succeeded
    with pytest.raises(OSError):
        C.main(["--in", str(src), "--out", str(out), "--noise", "loc", "--rate", "0.5", "--seed", "0"])
    assert out.is_dir() and not any(out.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json", "noisy.json"]  # no manifest/stats/temp


def test_a_failed_writer_leaves_no_output(tmp_path, monkeypatch):
    src = write(tmp_path / "clean.json", tiny_coco())

    def boom(path, coco):
        Path(path).write_text("{half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(C, "dump_coco", boom)
    with pytest.raises(RuntimeError):
        C.main(["--in", str(src), "--out", str(tmp_path / "noisy.json"), "--noise", "cls", "--rate", "0.5", "--seed", "0"])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json"]


# ---- bad input -----------------------------------------------------------------------------


def _bad_json(p: Path) -> None:
    p.write_text('{"images": [}')


def _edit(fn):
    def make(p: Path) -> None:
        coco = tiny_coco()
        fn(coco)
        write(p, coco)

    return make


def _one_class(coco: dict) -> None:
    coco["categories"] = coco["categories"][:1]
    for a in coco["annotations"]:
        a["category_id"] = coco["categories"][0]["id"]


BAD_INPUTS = {
    "invalid-json": (_bad_json, [], "invalid JSON"),
    "missing-image": (_edit(lambda c: c["annotations"][3].update(image_id=42)), [], "missing image_id 42"),
    "unknown-category": (_edit(lambda c: c["annotations"][1].update(category_id=5)), [], "unknown category_id 5"),
    "zero-width-box": (_edit(lambda c: c["annotations"][2].update(bbox=[1, 1, 0, 5])), [], "non-positive box"),
    "negative-height-box": (_edit(lambda c: c["annotations"][2].update(bbox=[1, 9, 3, -2])), [], "non-positive box"),
    "rate-above-1": (_edit(lambda c: None), ["--rate", "1.5"], "--rate must be a fraction in [0, 1]"),
    "rate-below-0": (_edit(lambda c: None), ["--rate", "-0.1"], "--rate must be a fraction in [0, 1]"),
    "rate-nan": (_edit(lambda c: None), ["--rate", "nan"], "--rate must be a fraction in [0, 1]"),
    "one-class-cls": (_edit(_one_class), [], "at least 2 categories"),
    "one-class-combined": (_edit(_one_class), ["--noise", "combined"], "at least 2 categories"),
    "beta-above-1": (_edit(lambda c: None), ["--noise", "loc", "--beta", "1.5"], "--beta must be in [0, 1]"),
    "negative-seed": (_edit(lambda c: None), ["--seed", "-1"], "--seed must be a non-negative integer"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_an_input_error_and_leaves_no_output(case, tmp_path, capsys):
    make, extra, message = BAD_INPUTS[case]
    src = tmp_path / "clean.json"
    make(src)
    before = src.read_bytes()
    outdir = tmp_path / "out"
    args = {"--noise": "cls", "--rate": "0.5", "--seed": "0"}
    for k, v in zip(extra[::2], extra[1::2]):
        args[k] = v
    argv = ["--in", src, "--out", outdir / "noisy.json", "--manifest", outdir / "m.csv", "--stats", outdir / "s.json"]
    code, err = cli(capsys, *argv, *[x for kv in args.items() for x in kv])
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, err
    if case not in ("rate-above-1", "rate-below-0", "rate-nan", "beta-above-1", "negative-seed"):
        assert str(src) in last  # file problems name the file
    assert not outdir.exists() or not any(outdir.iterdir())
    assert src.read_bytes() == before


def test_out_equal_to_in_is_refused(tmp_path, capsys):
    src = write(tmp_path / "clean.json", tiny_coco())
    before = src.read_bytes()
    code, err = cli(capsys, "--in", src, "--out", src, "--noise", "loc", "--rate", 0.5, "--seed", 0)
    assert code == 2 and "never overwritten" in err
    assert src.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["clean.json"]


def test_module_entry_point_exit_code(tmp_path):
    src = tmp_path / "clean.json"
    _bad_json(src)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.data.corrupt", "--in", str(src), "--out", str(tmp_path / "n.json"),
         "--noise", "cls", "--rate", "0.2", "--seed", "0"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2 and "error:" in out.stderr and "invalid JSON" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json"]
