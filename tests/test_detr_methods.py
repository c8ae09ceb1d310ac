"""DN-DETR / OD-DETR building blocks and the matching-stability metrics, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import manifest

from analysis.matching_stability import assignment_vector, consistency, instability, mean_instability
from benchmarks.methods.common.ema import ema_decay, ema_update
from benchmarks.methods.dn_detr.queries import dn_attention_mask, flip_labels, noise_boxes
from benchmarks.methods.od_detr.losses import (
    matching_distillation_targets,
    prediction_distillation_targets,
    qfl,
)

# -- DN-DETR attention mask (Eq. 7) -----------------------------------------------------------


def test_attention_mask_hand_built_two_groups_of_two_and_two_matching_queries():
    # rows = query i, cols = query j; 1 = i may not see j. Queries 0-1: group 0, 2-3: group 1,
    # 4-5: matching part. Groups see themselves and the matching part; matching sees only itself.
    expected = torch.tensor(
        [
            [0, 0, 1, 1, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0, 0],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(dn_attention_mask(2, 2, 2), expected)


def test_attention_mask_blocks_information_flow_in_attention():
    # with the mask, the matching outputs must not depend on the denoising inputs
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    mask = dn_attention_mask(3, 2, 4)
    x = torch.randn(1, 10, 8)
    y = x.clone()
    y[:, :6] = torch.randn(1, 6, 8)  # change every denoising query
    out_x = attn(x, x, x, attn_mask=mask)[0]
    out_y = attn(y, y, y, attn_mask=mask)[0]
    assert torch.allclose(out_x[:, 6:], out_y[:, 6:], atol=1e-6)
    z = x.clone()
    z[:, 2:4] = torch.randn(1, 2, 8)  # change group 1 only: groups 0 and 2 unaffected
    out_z = attn(z, z, z, attn_mask=mask)[0]
    assert torch.allclose(out_x[:, [0, 1, 4, 5]], out_z[:, [0, 1, 4, 5]], atol=1e-6)
    assert not torch.allclose(out_x[:, 2:4], out_z[:, 2:4])


# -- DN-DETR noise statistics ------------------------------------------------------------------


def test_box_noise_statistics_match_uniform_center_shift_and_scaling():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.1]]).repeat(n, 1)
    lam1, lam2 = 0.4, 0.4
    out = noise_boxes(boxes, lam1, lam2, generator=g)
    dx = (out[:, 0] - 0.5) / (lam1 * 0.2 / 2)  # should be U(-1, 1)
    dy = (out[:, 1] - 0.5) / (lam1 * 0.1 / 2)
    sw = out[:, 2] / 0.2  # should be U(1 - lam2, 1 + lam2)
    sh = out[:, 3] / 0.1
    for u in (dx, dy):
        assert u.abs().max() < 1.0
        assert abs(float(u.mean())) < 0.01 and abs(float(u.var()) - 1 / 3) < 0.005
    for s in (sw, sh):
        assert float(s.min()) >= 1 - lam2 - 1e-6 and float(s.max()) <= 1 + lam2 + 1e-6
        assert abs(float(s.mean()) - 1.0) < 0.005
        assert abs(float(s.var()) - (2 * lam2) ** 2 / 12) < 0.002
    # the noised center stays inside the original box (lambda1 < 1)
    assert bool(((out[:, 0] - 0.5).abs() < 0.1).all() and ((out[:, 1] - 0.5).abs() < 0.05).all())


def test_box_noise_is_clamped_to_the_image():
    out = noise_boxes(torch.tensor([[0.0, 1.0, 1.0, 1.0]]).repeat(1000, 1), 0.9, 0.9)
    assert float(out[:, :2].min()) >= 0 and float(out.max()) <= 1 and float(out[:, 2:].min()) > 0


def test_label_flip_ratio_and_targets():
    g = torch.Generator().manual_seed(1)
    n, c, gamma = 200_000, 5, 0.2
    labels = torch.randint(0, c, (n,), generator=g)
    out = flip_labels(labels, gamma, c, generator=g)
    flipped = out != labels
    assert abs(float(flipped.float().mean()) - gamma) < 0.005
    assert int(out.min()) >= 0 and int(out.max()) < c
    # a flipped label of class 0 lands uniformly on the 4 other classes
    new = out[flipped & (labels == 0)]
    counts = np.bincount(new.numpy(), minlength=c) / len(new)
    assert counts[0] == 0 and np.allclose(counts[1:], 0.25, atol=0.02)
    assert torch.equal(flip_labels(labels, 0.0, c), labels)


# -- EMA arithmetic ------------------------------------------------------------------------------


def test_ema_update_arithmetic_by_hand():
    teacher = torch.nn.BatchNorm1d(2)
    student = torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        teacher.weight.copy_(torch.tensor([1.0, 2.0]))
        student.weight.copy_(torch.tensor([3.0, -2.0]))
        teacher.running_mean.copy_(torch.tensor([0.0, 10.0]))
        student.running_mean.copy_(torch.tensor([1.0, 0.0]))
    student.num_batches_tracked.fill_(7)
    ema_update(teacher, student.state_dict(), 0.75)
    # 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * 2 + 0.25 * -2 = 1.0
    assert torch.allclose(teacher.weight, torch.tensor([1.5, 1.0]))
    assert torch.allclose(teacher.running_mean, torch.tensor([0.25, 7.5]))
    assert int(teacher.num_batches_tracked) == 7  # integer buffers are copied
    ema_update(teacher, student.state_dict(), 0.75)
    assert torch.allclose(teacher.weight, torch.tensor([0.75 * 1.5 + 0.75, 0.75 * 1.0 - 0.5]))


def test_ema_decay_ramp():
    assert ema_decay(10, 0.9996, 0) == 0.9996
    assert math.isclose(ema_decay(2000, 0.9996, 2000), 0.9996 * (1 - math.exp(-1)))
    assert ema_decay(1, 0.9996, 2000) < 0.001 and ema_decay(10**6, 0.9996, 2000) == pytest.approx(0.9996)


# -- OD-DETR targets -------------------------------------------------------------------------------


def test_matching_distillation_targets_on_a_hand_made_matching():
    # 4 queries, 3 GTs with classes [0, 1, 0], 2 classes.
    gt_labels = torch.tensor([0, 1, 0])
    ious = torch.tensor(
        [
            [0.9, 0.1, 0.0],
            [0.2, 0.6, 0.0],
            [0.0, 0.3, 0.7],
            [0.5, 0.0, 0.4],
        ]
    )
    costs = torch.tensor(
        [
            [1.0, 5.0, 5.0],
            [4.0, 2.0, 5.0],
            [5.0, 3.0, 1.5],
            [2.5, 5.0, 0.5],
        ]
    )
    online = torch.tensor([0, 1, 2, -1])  # q0-g0, q1-g1, q2-g2, q3 unmatched
    teacher = torch.tensor([0, 2, 1, 0])  # q0 same; q1 -> g2 (other class); q2 -> g1 (other); q3 -> g0
    cls_t, reg_gt, reg_w = matching_distillation_targets(online, teacher, gt_labels, ious, costs, 2, w_d=0.51)
    expected_cls = torch.tensor(
        [
            [0.9, 0.0],  # online g0 (class 0, t = 0.9); teacher g0 again
            [0.0, 0.6],  # online g1 (class 1, 0.6); teacher g2 has class 0: t' = IoU(q1, g2) = 0.0
            [0.7, 0.3],  # online g2 (class 0, 0.7); teacher g1 class 1: t' = 0.3
            [0.5, 0.0],  # teacher only: g0 (class 0), t' = 0.5
        ]
    )
    assert torch.allclose(cls_t, expected_cls)
    assert reg_gt.tolist() == [0, 1, 2, 0]  # online GT, else the teacher's
    # g0 has two regression queries: q0 (cost 1.0) and q3 (cost 2.5): q3 is down-weighted
    assert torch.allclose(reg_w, torch.tensor([1.0, 1.0, 1.0, 0.51]))


def test_matching_distillation_same_class_keeps_online_target_and_cheaper_teacher_query_wins():
    gt_labels = torch.tensor([0, 0])
    ious = torch.tensor([[0.8, 0.4], [0.6, 0.2], [0.0, 0.0]])
    costs = torch.tensor([[3.0, 1.0], [1.0, 2.0], [9.0, 9.0]])
    online = torch.tensor([0, -1, 1])
    teacher = torch.tensor([1, 0, -1])
    cls_t, reg_gt, reg_w = matching_distillation_targets(online, teacher, gt_labels, ious, costs, 1, w_d=0.51)
    # q0: teacher GT g1 has the same class: only the online t = 0.8
    assert torch.allclose(cls_t[:, 0], torch.tensor([0.8, 0.6, 0.0]))
    assert reg_gt.tolist() == [0, 0, 1]
    # g0: online q0 (cost 3.0) vs teacher-only q1 (cost 1.0): the online query is the costlier one
    assert torch.allclose(reg_w, torch.tensor([0.51, 1.0, 1.0]))
    # without MD: only the online matching
    cls_n, reg_n, w_n = matching_distillation_targets(online, teacher, gt_labels, ious, costs, 1, use_md=False)
    assert torch.allclose(cls_n[:, 0], torch.tensor([0.8, 0.0, 0.0]))
    assert reg_n.tolist() == [0, -1, 1] and w_n.tolist() == [1.0, 0.0, 1.0]


def test_prediction_distillation_targets_tood_weight_and_listen2stu():
    scores = torch.tensor([[0.5, 0.2], [0.1, 0.8], [0.3, 0.3]])
    match = torch.tensor([1, 0, -1])  # q0 -> GT1 (class 1), q1 -> GT0 (class 0), q2 none
    gt_labels = torch.tensor([0, 1])
    t_iou = torch.tensor([0.6, 0.4, 0.0])
    s_iou = torch.tensor([0.5, 0.7, 0.0])
    target, w = prediction_distillation_targets(scores, match, gt_labels, t_iou, s_iou, alpha=0.25, beta=0.75)
    e0 = 0.2**0.25 * 0.6**0.75
    e1 = 0.1**0.25 * 0.4**0.75
    expected = torch.tensor([[0.5, e0], [e1, 0.8], [0.3, 0.3]])
    assert torch.allclose(target, expected, atol=1e-6)
    # q0: teacher IoU 0.6 > student 0.5 -> weight e0; q1: 0.4 < 0.7 -> 0; q2 unmatched -> 0
    assert torch.allclose(w, torch.tensor([e0, 0.0, 0.0]), atol=1e-6)


def test_qfl_matches_equation_2():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.0]])
    target = torch.tensor([[0.7, 0.0], [0.0, 0.4]])
    total = 0.0
    for x, t in zip(logits.flatten().tolist(), target.flatten().tolist()):
        s = 1 / (1 + math.exp(-x))
        total += -(abs(t - s) ** 2) * ((1 - t) * math.log(1 - s) + t * math.log(s))
    assert float(qfl(logits, target)) == pytest.approx(total, rel=1e-5)


# -- matching stability -----------------------------------------------------------------------------


def test_instability_on_hand_made_assignment_sequences():
    # 5 queries, 2 objects. Epoch 0 -> 1: object 0 moves from q0 to q3 (2 changes);
    # epoch 1 -> 2: objects swap queries (q1 <-> q3: 2 changes); epoch 2 -> 3: unchanged.
    seq = [[0, 1, -1, -1, -1], [-1, 1, -1, 0, -1], [-1, 0, -1, 1, -1], [-1, 0, -1, 1, -1]]
    assert [instability(a, b) for a, b in zip(seq, seq[1:])] == [2, 2, 0]
    # the largest IS of an image is 2 M (DN-DETR Sec. 3.1)
    assert instability([0, 1, -1, -1], [-1, -1, 0, 1]) == 4
    prev = {1: seq[0], 2: [0, -1, -1]}
    cur = {1: seq[1], 2: [-1, -1, 0], 3: [0, -1, -1]}  # image 3 is new: not counted
    assert mean_instability(prev, cur) == pytest.approx((2 + 2) / 2)
    assert math.isnan(mean_instability({}, cur))
    with pytest.raises(ValueError):
        instability([0, 1], [0, 1, -1])


def test_consistency_counts_online_matched_queries_with_the_same_teacher_gt():
    online = {1: [0, 1, -1, 2], 2: [-1, 0]}
    teacher = {1: [0, 2, 1, -1], 2: [-1, 0]}
    # image 1: q0 same (1 of 3 matched); image 2: q1 same (1 of 1) -> 2 / 4
    assert consistency(online, teacher) == pytest.approx(0.5)
    assert math.isnan(consistency({1: [-1, -1]}, {1: [-1, 0]}))


def test_assignment_vector_from_mmdet_gt_inds():
    assert assignment_vector([0, 3, 1, 0]) == [-1, 2, 0, -1]


# -- matching-stability figures ------------------------------------------------------------------


def test_matching_plots_from_probe_columns(tmp_path):
    import csv as _csv
    import json

    from analysis.matching_plots import main

    runs = tmp_path / "runs"
    values = {
        "baseline": [("", "", "1.0"), ("3.5", "1.0", "0.5")],
        "dn_detr": [("", "", "1.0"), ("1.5", "0.5", "0.75")],
    }
    for method, rows in values.items():
        cdir = runs / "synth" / "clean-0" / "deformable_detr" / method / "seed0"
        cdir.mkdir(parents=True)
        ident = {"dataset": "synth", "noise": "clean", "rate": 0.0, "detector": "deformable_detr"}
        (cdir / "metrics.json").write_text(json.dumps({**ident, "method": method, "seed": 0}))
        with open(cdir / "probe.csv", "w", newline="") as fh:
            w = _csv.writer(fh)
            w.writerow(["epoch", "AP", "IS", "IS_ema", "match_consistency"])
            for epoch, (is_, is_ema, cons) in enumerate(rows, start=1):
                w.writerow([epoch, "0.1", is_, is_ema, cons])
    # a non-DETR cell without the columns is skipped
    other = runs / "synth" / "clean-0" / "retinanet" / "baseline" / "seed0"
    other.mkdir(parents=True)
    (other / "probe.csv").write_text("epoch,AP\n1,0.2\n")
    out = tmp_path / "fig"
    assert main(["--cells", str(manifest(runs)), "--out-dir", str(out), "--no-progress"]) == 0
    assert (out / "synth__clean-0__deformable_detr.png").is_file()
    assert not list(out.glob("*retinanet*"))
    rows = list(_csv.DictReader((out / "matching_stability.csv").open()))
    got = {(r["method"], int(r["epoch"]), r["metric"]): r["value"] for r in rows}
    assert float(got[("dn_detr", 2, "IS")]) == 1.5 and float(got[("baseline", 2, "match_consistency")]) == 0.5
    assert got[("baseline", 1, "IS")] == ""  # first epoch: no previous assignment
