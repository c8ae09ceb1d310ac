"""ADELE and ORSOD: transition switching, label correction, consistency, small-loss selection, and
one short training cell each (config, records, the labels the dataloader serves, resume)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_data, interrupt_after, make_grid

from benchmarks.errors import run_cli
from benchmarks.grids import grid as G
from benchmarks.methods.adele.labels import correct_image
from benchmarks.methods.adele.losses import bernoulli_consistency, image_index_of_level, rows_of_level
from benchmarks.methods.common.switch import update_switch
from benchmarks.methods.orsod.selection import annotation_losses, forget_rate, select_large_loss


# ------------------------------------------------------------------- per-class transition switching
def _closed_form_transition(b: float, c: float, r: float = 0.9) -> int:
    """First integer t >= 2 with 1 - t^(b-1) exp(-(t^b - 1)/c) > r (f'(t)/f'(1) from the analytic f')."""
    t = 2
    while 1.0 - t ** (b - 1.0) * math.exp(-(t**b - 1.0) / c) <= r:
        t += 1
    return t


def _curve(a, b, c, epochs):
    return [[e, a * (1 - math.exp(-(e**b) / c))] for e in epochs]


def test_per_class_switch_on_follows_each_class_transition_and_the_fallback():
    params = {0: (0.8, 0.9, 1.5), 1: (0.6, 0.9, 2.5)}  # class 0 bends early, class 1 later
    expected = {k: max(_closed_form_transition(b, c), 4) for k, (a, b, c) in params.items()}  # >= 4 points to fit
    assert expected[0] < expected[1] < 12  # the hand-picked curves do bend, at different epochs
    flat = 2  # a class whose curve never rises: switched on by the fallback
    info = {k: {"on": None} for k in (0, 1, flat)}
    max_epochs, fallback = 12, math.ceil(0.75 * 12)
    for e in range(1, max_epochs):
        for k, (a, b, c) in params.items():
            update_switch(info[k], _curve(a, b, c, range(1, e + 1)), e, r=0.9, fallback_epoch=fallback)
        update_switch(info[flat], [[x, 0.1] for x in range(1, e + 1)], e, r=0.9, fallback_epoch=fallback)
    for k in params:
        assert info[k]["on"] == expected[k] and info[k]["how"] == "transition", (k, info[k])
        assert info[k]["detected"] <= info[k]["on"]
    assert info[flat]["on"] == fallback and info[flat]["how"] == "fallback" and info[flat]["detected"] is None


def test_adele_default_cutoff_lets_a_late_bend_switch_a_class_on_when_detected():
    """A class whose curve bends at epoch 8 of 12 is switched on at its detected transition, not by a
    fallback at ceil(0.5 x 12) = 6 (the deadline before issue 17); a flat curve falls back at the
    default cutoff ceil(0.85 x 12) = 11, ADELE's own cap (epoch 16 of its ~18.9 epochs)."""
    from benchmarks.methods import adele
    from benchmarks.methods.adele.hooks import AdeleHook

    frac = adele.DEFAULTS["fallback_frac"]
    hook = AdeleHook.__new__(AdeleHook)
    hook.fallback_frac = frac
    cutoff = hook.fallback_epoch(12)
    assert cutoff == 11
    b, c = 1.0, 3.0  # 1 + 3 ln 10 = 7.9 -> transition at epoch 8
    assert _closed_form_transition(b, c) == 8
    late, flat = {"on": None}, {"on": None}
    for e in range(1, 12):
        update_switch(late, _curve(0.7, b, c, range(1, e + 1)), e, r=0.9, fallback_epoch=cutoff)
        update_switch(flat, [[x, 0.1] for x in range(1, e + 1)], e, r=0.9, fallback_epoch=cutoff)
    assert (late["on"], late["how"], late["detected"]) == (8, "transition", 8)
    assert (flat["on"], flat["how"]) == (11, "fallback")


@pytest.mark.parametrize("curve, on, how", [("late", 8, "transition"), ("flat", 11, "fallback")])
def test_orsod_hook_takes_a_late_bend_when_detected_and_falls_back_only_at_the_late_cutoff(tmp_path, curve, on, how):
    """ORSOD's hook on probe rows published under PROBE_ROWS: an AP curve bending at epoch 8 of 12 is
    taken at 8 (before issue 17 a deadline at ceil(0.5 x 12) = 6 fell back first); a flat curve falls
    back at the default cutoff ceil(0.85 x 12) = 11, not before."""
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from benchmarks.methods import orsod
    from benchmarks.methods.orsod.hooks import OrsodHook
    from benchmarks.training.hook_protocol import PROBE_ROWS

    hook = OrsodHook(
        train_ann="unused.json", img_root="unused", classes=("a",), pipeline=[],
        overrides_file=str(tmp_path / "overrides.json"), cell_dir=str(tmp_path),
        fallback_frac=orsod.DEFAULTS["fallback_frac"],
    )  # fmt: skip
    hook.raw = {}
    hook.predict_train = lambda runner: ([], {})
    hub = MessageHub(f"orsod-{curve}-{tmp_path.name}")
    runner = SimpleNamespace(max_epochs=12, message_hub=hub, logger=SimpleNamespace(info=lambda *a: None))
    values = _curve(0.7, 1.0, 3.0, range(1, 13)) if curve == "late" else [[e, 0.1] for e in range(1, 13)]
    for e in range(1, 12):
        hub.update_info(PROBE_ROWS, [{"epoch": x, "AP": f"{y:.6f}"} for x, y in values[:e]], resumed=False)
        runner.epoch = e - 1
        hook.after_train_epoch(runner)
        if hook.state["transition"] is not None:
            break
    assert hook.state["transition"]["epoch"] == on and hook.state["transition"]["how"] == how
    state = json.loads((tmp_path / "method_state.json").read_text())
    assert state["transition"]["epoch"] == on and state["fallback_frac"] == 0.85


# ----------------------------------------------------------------------------- label correction
def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


GT_BOXES = [[0, 0, 10, 10], [20, 20, 40, 40]]
GT_LABELS = [0, 1]


def test_correction_relabels_and_refines_a_confidently_matched_box():
    pred = [[1, 0, 11, 10]]
    out = correct_image(GT_BOXES, GT_LABELS, pred, [0.9], [2], active_classes={2})
    assert len(out) == 1
    c = out[0]
    assert c["index"] == 0 and c["old_label"] == 0 and c["new_label"] == 2
    assert c["new_bbox"] == [1, 0, 11, 10] and c["old_bbox"] == [0, 0, 10, 10]
    assert c["iou"] == pytest.approx(90 / 110) and c["score"] == 0.9


@pytest.mark.parametrize(
    "pred, score, label, active, why",
    [
        ([1, 0, 11, 10], 0.9, 2, {0, 1}, "predicted class not switched on"),
        ([1, 0, 11, 10], 0.79, 2, {2}, "score below 0.8"),
        ([6, 0, 16, 10], 0.95, 2, {2}, "IoU 0.25 below 0.5"),
        ([0, 0, 10, 10], 0.95, 0, {0}, "prediction equals the label"),
    ],
)
def test_no_correction(pred, score, label, active, why):
    assert correct_image(GT_BOXES, GT_LABELS, [pred], [score], [label], active_classes=active) == [], why


def test_correction_is_one_to_one_greedy_by_score_and_modes():
    gt = [[0, 0, 10, 10], [2, 0, 12, 10]]  # two overlapping annotations
    preds = [[1, 0, 11, 10], [0, 0, 10, 10]]
    # score order: the 0.95 prediction (second) goes first and takes gt 0 (IoU 1)
    out = correct_image(gt, [0, 0], preds, [0.85, 0.95], [3, 3], active_classes={3})
    by_index = {c["index"]: c for c in out}
    assert by_index[0]["score"] == 0.95 and by_index[0]["iou"] == pytest.approx(1.0)
    # the 0.85 prediction's best free annotation is gt 1: IoU([1,0,11,10],[2,0,12,10]) = 90/110
    assert by_index[1]["score"] == 0.85 and by_index[1]["iou"] == pytest.approx(_iou(preds[0], gt[1]))
    only_class = correct_image(gt, [0, 0], preds, [0.85, 0.95], [3, 3], active_classes={3}, mode="class")
    assert all(c["new_bbox"] == c["old_bbox"] and c["new_label"] == 3 for c in only_class)
    only_box = correct_image(GT_BOXES, GT_LABELS, [[1, 0, 11, 10]], [0.9], [2], active_classes={2}, mode="box")
    assert only_box == []  # box mode refines only when the classes agree
    only_box = correct_image(GT_BOXES, GT_LABELS, [[1, 0, 11, 10]], [0.9], [0], active_classes={0}, mode="box")
    assert only_box[0]["new_label"] == 0 and only_box[0]["new_bbox"] == [1, 0, 11, 10]


# ------------------------------------------------------------------------- consistency loss
def test_bernoulli_consistency_against_hand_computation():
    v1 = torch.tensor([[3.0, -3.0], [0.2, -0.1]])
    v2 = torch.tensor([[2.0, -4.0], [-0.3, 0.4]])
    loss, mask = bernoulli_consistency([v1, v2], tau=0.8, images=torch.tensor([0, 1]))  # two images

    def sig(x):
        return 1 / (1 + math.exp(-x))

    def kl(p, q):
        return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))

    total, want_mask = 0.0, []
    for n in range(2):
        p1 = [sig(float(x)) for x in v1[n]]
        p2 = [sig(float(x)) for x in v2[n]]
        q = [min(max((a + b) / 2, 1e-3), 1 - 1e-3) for a, b in zip(p1, p2)]
        confident = min(max(qk, 1 - qk) for qk in q) >= 0.8
        want_mask.append(float(confident))
        if confident:
            total += sum(kl(a, qk) + kl(b, qk) for a, b, qk in zip(p1, p2, q))
    assert want_mask == [1.0, 0.0]  # row 0 is confident in both classes, row 1 is not
    assert mask.tolist() == want_mask
    assert float(loss) == pytest.approx(total / 2, rel=1e-5)
    assert float(loss) > 0
    # ADELE's code: one mask per image (amax over classes and positions). Both rows in one image:
    # row 0 is confident, so the whole image's consistency counts, row 1 included.
    one_image, mask1 = bernoulli_consistency([v1, v2], tau=0.8, images=torch.tensor([0, 0]))
    everything = 0.0
    for n in range(2):
        p1 = [sig(float(x)) for x in v1[n]]
        p2 = [sig(float(x)) for x in v2[n]]
        q = [min(max((a + b) / 2, 1e-3), 1 - 1e-3) for a, b in zip(p1, p2)]
        everything += sum(kl(a, qk) + kl(b, qk) for a, b, qk in zip(p1, p2, q))
    assert mask1.tolist() == [1.0, 1.0]
    assert float(one_image) == pytest.approx(everything / 2, rel=1e-5)
    assert float(one_image) > float(loss)  # a per-row mask would drop row 1
    same, _ = bernoulli_consistency([v1, v1.clone()], tau=0.8)
    assert float(same) == pytest.approx(0.0, abs=1e-7)


def test_image_index_of_level_matches_the_row_layout():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float).reshape(2, 3, 2, 2)  # B = 2, A*K = 3 (A = 3, K = 1)
    rows, images = rows_of_level(x, 1), image_index_of_level(x, 1)
    assert images.tolist() == [0] * 12 + [1] * 12
    for r, b in zip(rows[:, 0].tolist(), images.tolist()):
        assert r in x[b].flatten().tolist()  # every row of image b comes from image b's map


def test_consistency_gradient_reaches_both_views():
    v1 = torch.tensor([[3.0, -3.0]], requires_grad=True)
    v2 = torch.tensor([[2.0, -4.0]], requires_grad=True)
    loss, _ = bernoulli_consistency([v1, v2])
    loss.backward()
    assert v1.grad.abs().sum() > 0 and v2.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ per-class probe
def test_per_class_ap_by_hand_and_its_mean_is_the_probe_ap():
    from analysis.probes import probe_metrics
    from analysis.probes_per_class import per_class_ap

    gt = {
        "images": [{"id": i, "width": 100, "height": 100, "file_name": f"{i}.png"} for i in (1, 2)],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600, "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [5, 5, 40, 40], "score": 0.8},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.7},
    ]
    ap = per_class_ap(gt, dets)
    # class 1: the second detection has IoU 35^2 / (2 * 40^2 - 35^2) = 0.620 -> a hit at IoU 0.50,
    # 0.55, 0.60 (AP 1) and a false positive at the 7 higher thresholds (recall 0.5 at precision 1:
    # 51 of COCO's 101 recall points)
    assert 35**2 / (2 * 40**2 - 35**2) == pytest.approx(0.6203, abs=1e-4)
    assert ap[1] == pytest.approx((3 * 1.0 + 7 * 51 / 101) / 10)
    assert ap[2] == 0.0 and math.isnan(ap[3])
    assert np.nanmean(list(ap.values())) == pytest.approx(probe_metrics(gt, None, dets)["AP"])
    assert per_class_ap(gt, dets, metric="AP50")[1] == pytest.approx(1.0)


# -------------------------------------------------------------------------- ORSOD selection
def test_annotation_losses_by_hand():
    gt = [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]]
    labels = [0, 1, 0]
    preds = [[1, 0, 11, 10], [20, 20, 40, 40], [50, 50, 60, 60]]
    scores = [0.9, 0.6, 0.7]
    plabels = [0, 0, 1]  # gt 1 and gt 2 are covered only by detections of another class
    got = annotation_losses(gt, labels, preds, scores, plabels)
    iou0 = 90 / 110
    want = [
        -math.log(0.9) + (1 - iou0),  # agreeing detection, slightly shifted box
        -math.log(0.01) + 1.0,  # no class-1 detection at all: eps floor and IoU* = 0
        -math.log(0.01) + 1.0,  # the class-0 detections do not overlap it
    ]
    assert got == pytest.approx(want)
    # a same-class detection below the IoU threshold gives no score, but still its IoU
    far = annotation_losses([[0, 0, 10, 10]], [0], [[6, 0, 16, 10]], [0.9], [0])
    assert far == pytest.approx([-math.log(0.01) + (1 - 0.25)])


def test_forget_rate_schedule():
    assert forget_rate(0, 0.2, 3) == 0.0
    assert forget_rate(1, 0.2, 3) == pytest.approx(0.2 / 3)
    assert forget_rate(3, 0.2, 3) == pytest.approx(0.2)
    assert forget_rate(7, 0.2, 3) == pytest.approx(0.2)


def test_small_loss_selection_is_per_class_largest_losses():
    losses = np.array([0.1, 5.0, 0.3, 2.0, 2.0, 0.2, 9.0])
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    sel = select_large_loss(losses, labels, 0.34)
    # class 0: ceil(0.34 * 3) = 2 -> losses 5.0 and 0.3; class 1: 2 -> the two 2.0 (tie on 2.0, both
    # fit); class 2: ceil(0.34) = 1 -> its only annotation
    assert sel.tolist() == [False, True, True, True, True, False, True]
    sel = select_large_loss(losses, labels, 0.3)
    # class 1: ceil(0.9) = 1 -> the tie 2.0 / 2.0 goes to the lower index (3)
    assert sel.tolist() == [False, True, False, True, False, False, True]
    assert not select_large_loss(losses, labels, 0.0).any()


# --------------------------------------------------------------------- the dataset's overrides
def test_override_dataset_serves_corrected_and_ignored_instances(tmp_path):
    from benchmarks.methods.common.train_labels import OverrideCocoDataset, write_overrides

    coco = {
        "images": [{"id": 7, "width": 64, "height": 64, "file_name": "x.png"}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [20, 20, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(coco))
    ov = tmp_path / "ov.json"
    ds = OverrideCocoDataset(
        ann_file=str(ann), data_prefix=dict(img=str(tmp_path) + "/"), metainfo=dict(classes=("a", "b")),
        pipeline=[], overrides_file=str(ov), filter_cfg=None,
    )  # fmt: skip
    inst = ds.get_data_info(0)["instances"]
    assert [i["bbox_label"] for i in inst] == [0, 1] and inst[0]["bbox"] == [0, 0, 10, 10]
    write_overrides(ov, {7: {0: {"bbox_label": 1, "bbox": [1, 1, 9, 9]}, 1: {"ignore_flag": 1}}}, epoch=3)
    inst = ds.get_data_info(0)["instances"]
    assert inst[0]["bbox_label"] == 1 and inst[0]["bbox"] == [1, 1, 9, 9] and inst[0]["ignore_flag"] == 0
    assert inst[1]["ignore_flag"] == 1 and inst[1]["bbox_label"] == 1
    assert ds.raw_data_info(0)["instances"][0]["bbox_label"] == 0  # the file itself is untouched
    # an ignored instance reaches the model as an ignore region, not as a ground-truth box
    from mmdet.datasets.transforms import PackDetInputs

    from benchmarks.methods.common.train_labels import apply_overrides

    packed = PackDetInputs()(
        {
            "img": np.zeros((64, 64, 3), np.uint8),
            "gt_bboxes": np.array([i["bbox"] for i in inst], np.float32),
            "gt_bboxes_labels": np.array([i["bbox_label"] for i in inst]),
            "gt_ignore_flags": np.array([i["ignore_flag"] for i in inst], bool),
        }
    )["data_samples"]
    assert len(packed.gt_instances) == 1 and len(packed.ignored_instances) == 1
    assert apply_overrides([{"bbox_label": 0}], {}) == [{"bbox_label": 0}]


# ------------------------------------------------------------------------------ training cells
@pytest.fixture(scope="module")
def method_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("methods")
    path, _ = make_grid(
        tmp,
        detectors=["retinanet", "faster_rcnn"],
        noise=[{"type": "combined", "rate": 0.4}],
        schedule={"epochs": 2},
        methods={"adele": {"params": {"fallback_frac": 0.5}}, "orsod": {"params": {"fallback_frac": 0.5, "tau": 0.3}}},
    )
    build_data(path)
    return path


def _run(grid_path: Path, cell: str, *extra: str) -> Path:
    from benchmarks.train import main

    assert run_cli(main, ["--grid", str(grid_path), "--cell", cell, "--threads", "1", *extra]) == 0
    grid = G.load_grid(grid_path)
    return G.cell_dir(grid, G.parse_cell_id(grid, cell))


def _scalars(cdir: Path) -> list[dict]:
    files = sorted((cdir / "checkpoint").glob("*/vis_data/scalars.json"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def test_adele_cell(method_grid):
    from mmengine.config import Config

    cdir = _run(method_grid, "synth/combined-0.4/retinanet/adele/seed0", "--fresh")
    cfg = Config.fromfile(str(cdir / "config.py"))
    assert cfg.model.type == "AdeleRetinaNet" and cfg.model.adele_consistency == {"lambda_cons": 1.0, "tau": 0.8}
    assert cfg.train_dataloader.dataset.type == "OverrideCocoDataset"
    assert "AdeleHook" in {h["type"] for h in cfg.custom_hooks}
    state = json.loads((cdir / "method_state.json").read_text())
    # 2 epochs, fallback_frac 0.5: no curve of one point can be fitted, so every class is switched on
    # by the fallback at epoch ceil(0.5 * 2) = 1; the last epoch does no correction pass
    assert {v["on"] for v in state["classes"].values()} == {1}
    assert {v["how"] for v in state["classes"].values()} == {"fallback"}
    assert set(state["per_epoch"]) == {"1"} and state["per_epoch"]["1"]["active_classes"] == [0, 1, 2, 3, 4]
    log = json.loads((cdir / "adele_corrections.json").read_text())
    assert state["n_corrections"] == len(log) == state["per_epoch"]["1"]["corrections"]
    overrides = json.loads((cdir / "checkpoint" / "adele_overrides.json").read_text())
    assert sum(len(v) for v in overrides["instances"].values()) == state["n_annotations_changed"]
    cons = [r["loss_adele_cons"] for r in _scalars(cdir) if "loss_adele_cons" in r]
    assert len(cons) == 2 and all(math.isfinite(v) and v >= 0 for v in cons)
    assert json.loads((cdir / "metrics.json").read_text())["method"] == "adele"


def test_orsod_cell_selects_per_class_and_survives_resume(method_grid):
    from mmengine.config import Config

    cell = "synth/combined-0.4/faster_rcnn/orsod/seed0"
    cdir = _run(method_grid, cell, "--fresh")
    cfg = Config.fromfile(str(cdir / "config.py"))
    assert cfg.model.train_cfg.rpn.assigner.ignore_iof_thr == 0.5
    assert cfg.model.train_cfg.rcnn.assigner.ignore_iof_thr == 0.5
    state = json.loads((cdir / "method_state.json").read_text())
    assert state["transition"] == {"epoch": 1, "detected": None, "how": "fallback"}
    # forget rate after the transition: 0.3 * min(1 / T_k, 1), T_k = max(1, round(0.05 * 2)) = 1
    assert state["per_epoch"]["1"]["forget_rate"] == pytest.approx(0.3)
    # every annotation gets a loss, so the selection size is fixed by the class counts of the
    # annotations the dataset serves: sum_c ceil(0.3 * n_c)
    grid = G.load_grid(method_grid)
    noisy = json.loads(G.train_ann_file(grid, G.parse_cell_id(grid, cell)).read_text())
    counts = np.bincount([a["category_id"] for a in noisy["annotations"]])
    want = sum(math.ceil(0.3 * n - 1e-9) for n in counts if n)
    assert state["per_epoch"]["1"]["selected"] == want == len(json.loads((cdir / "orsod_selection.json").read_text()))
    ov_file = cdir / "checkpoint" / "orsod_overrides.json"
    overrides = json.loads(ov_file.read_text())
    flags = [f["ignore_flag"] for per in overrides["instances"].values() for f in per.values()]
    assert flags == [1] * want
    # killed in epoch 2 and resumed: the records and the overrides come back from the epoch-1
    # checkpoint, not from the files, and the run ends where the uninterrupted one did
    interrupt_after(cdir, 1)
    ov_file.unlink()
    (cdir / "method_state.json").unlink()
    _run(method_grid, cell)
    assert json.loads((cdir / "cost.json").read_text())["resumes"] == 1
    assert json.loads(ov_file.read_text())["instances"] == overrides["instances"]
    assert json.loads((cdir / "method_state.json").read_text())["per_epoch"] == state["per_epoch"]
    ckpt = torch.load(cdir / "checkpoint" / "epoch_1.pth", map_location="cpu", weights_only=False)
    assert sum(len(v) for v in ckpt["ndr_orsod_state"]["overrides"].values()) == want


def test_the_cutoff_is_reachable_on_short_schedules():
    """ceil(0.85 x 6) = 6 would be the last epoch, after which the hooks no longer act: the cutoff
    is capped at the last epoch whose switch-on is still trained on."""
    from benchmarks.methods.common.switch import cutoff_epoch

    assert cutoff_epoch(0.85, 12) == 11 and cutoff_epoch(0.85, 6) == 5 and cutoff_epoch(0.85, 2) == 1
    assert cutoff_epoch(0.5, 12) == 6 and cutoff_epoch(0.85, 1) == 1
