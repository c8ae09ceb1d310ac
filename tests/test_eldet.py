"""ELDET: CrossKD losses against hand computations, switch-on logic on hand-made probe curves, EMA
arithmetic, the hook's decisions on a fake runner, head-split equivalence, and 2-epoch smoke cells."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.methods import eldet
from benchmarks.methods import eldet_hooks as H
from benchmarks.methods.eldet_model import ELDETMixin, align_scale, cross_forward, split_forward
from benchmarks.methods.losses import crosskd as K


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------ losses
def test_dense_cls_loss_matches_hand_computation():
    s = [[0.5, -1.0], [2.0, 0.0]]
    t = [[1.0, -2.0], [0.0, 3.0]]
    total, norm = 0.0, 0.0
    for srow, trow in zip(s, t):
        norm += max(sig(v) for v in trow)
        for a, b in zip(srow, trow):
            ps, pt = sig(a), sig(b)
            bce = -(pt * math.log(ps) + (1 - pt) * math.log(1 - ps))
            total += abs(ps - pt) * bce
    got = K.crosskd_dense_cls_loss(torch.tensor(s), torch.tensor(t))
    assert float(got) == pytest.approx(total / max(norm, 1.0), rel=1e-5)


def test_dense_cls_loss_is_zero_when_the_cross_head_equals_the_teacher_and_grad_reaches_student_only():
    t = torch.tensor([[0.3, -0.7, 1.1]])
    assert float(K.crosskd_dense_cls_loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-7)
    s = torch.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    tt = t.clone().requires_grad_(True)
    K.crosskd_dense_cls_loss(s, tt).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and tt.grad is None


def test_dense_loc_loss_weighted_giou():
    # box A = [0,0,2,2], B = [1,1,3,3]: IoU = 1/7, enclosing 3x3 = 9, union 7 -> GIoU = 1/7 - 2/9
    cross = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
    teach = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 4.0, 4.0]])
    logits = torch.tensor([[2.0, -1.0], [0.0, 1.0]])  # w = sigmoid(2), sigmoid(1)
    w1, w2 = sig(2.0), sig(1.0)
    giou = 1 / 7 - 2 / 9
    expected = (w1 * (1 - giou) + w2 * 0.0) / max(1.0, w1 + w2)
    assert float(K.crosskd_dense_loc_loss(cross, teach, logits)) == pytest.approx(expected, rel=1e-5)


def test_roi_cls_loss_is_t2_kl():
    s = [[1.0, 0.0, -1.0]]
    t = [[0.0, 2.0, 0.5]]
    T = 3.0

    def softmax(v):
        e = [math.exp(x / T) for x in v]
        return [x / sum(e) for x in e]

    ps, pt = softmax(s[0]), softmax(t[0])
    kl = sum(b * math.log(b / a) for a, b in zip(ps, pt))
    got = K.crosskd_roi_cls_loss(torch.tensor(s), torch.tensor(t), T)
    assert float(got) == pytest.approx(T * T * kl, rel=1e-5)


def test_roi_loc_loss_picks_the_teachers_top_foreground_class():
    # 2 classes + background; teacher prefers class 1 in RoI 0 (background is ignored even if larger)
    t_logits = torch.tensor([[0.0, 1.0, 5.0], [2.0, 0.0, 0.0]])
    cross = torch.tensor([[0.0, 0, 0, 0, 1, 1, 1, 1], [2.0, 2, 2, 2, 9, 9, 9, 9]])
    teach = torch.zeros(2, 8)
    p0 = np.exp([0.0, 1.0, 5.0]) / np.exp([0.0, 1.0, 5.0]).sum()
    p1 = np.exp([2.0, 0.0, 0.0]) / np.exp([2.0, 0.0, 0.0]).sum()
    w0, w1 = p0[1], p1[0]  # RoI 0 -> class 1 (deltas 1,1,1,1), RoI 1 -> class 0 (deltas 2,2,2,2)
    expected = (w0 * 4 * 1.0 + w1 * 4 * 2.0) / (4 * (w0 + w1))
    assert float(K.crosskd_roi_loc_loss(cross, teach, t_logits)) == pytest.approx(expected, rel=1e-5)


def test_empty_inputs_give_zero_losses():
    e = torch.zeros(0, 3, requires_grad=True)
    assert float(K.crosskd_dense_cls_loss(e, e.detach()).detach()) == 0.0
    assert float(K.crosskd_dense_loc_loss(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 3))) == 0.0


# ------------------------------------------------------------------------------ switch-on logic
def _curve(epochs, a=0.6, b=1.0, c=1.0):
    x = np.asarray(epochs, dtype=float)
    return a * (1 - np.exp(-(x**b) / c))


def test_transition_of_a_known_curve_is_detected_online_when_probed():
    from analysis.transition import find_transition

    # b = 1, c = 1: relative derivative change 1 - exp(-(t - 1)) > 0.9  <=>  t > 1 + ln 10 = 3.30 -> t = 4
    decisions = {}
    for e in range(1, 9):
        xs = list(range(1, e + 1))
        fit = find_transition(xs, _curve(xs), threshold=0.9, horizon=12)
        decisions[e] = H.decide(e, fit, H.fallback_epoch(0.72, 12))
    assert decisions[1] is None and decisions[2] is None and decisions[3] is None  # < 4 points
    assert decisions[4] == (4, "detected")
    assert decisions[8] == (4, "detected")


def test_flat_curve_falls_back_at_the_fallback_epoch():
    from analysis.transition import find_transition

    fb = H.fallback_epoch(0.33, 12)
    assert fb == 4
    out = []
    for e in range(1, 7):
        xs = list(range(1, e + 1))
        out.append(H.decide(e, find_transition(xs, [0.2] * e, horizon=12), fb))
    assert out[:3] == [None, None, None]
    assert out[3] == (4, "fallback") and out[5] == (4, "fallback")


def test_task_metric_mapping_for_the_table4_ablation():
    assert H.task_metrics(True, True) == {"loc": "CA", "cls": "GTBA"}
    assert H.task_metrics(True, False) == {"loc": "CA", "cls": "CA"}
    assert H.task_metrics(False, True) == {"loc": "GTBA", "cls": "GTBA"}
    with pytest.raises(ValueError):
        H.task_metrics(False, False)


def test_ema_decay_and_warmup():
    assert H.ema_decay_for(None, 1.0, 50) == pytest.approx(0.98)
    assert H.ema_decay_for(0.999, 1.0, 50) == 0.999
    assert H.warm_decay(0.98, 0) == pytest.approx(0.1)
    assert H.warm_decay(0.98, 1000) == pytest.approx(0.98)


# ------------------------------------------------------------------------------ EMA + hook on a toy model
class Toy(ELDETMixin, nn.Module):
    def __init__(self, per_task=False):
        super().__init__()
        self.lin = nn.Linear(2, 1, bias=False)
        self.bn = nn.BatchNorm1d(1)
        self._eldet_init({"per_task_teachers": per_task})


def test_ema_step_arithmetic_and_frozen_teachers_stay():
    m = Toy(per_task=True)
    with torch.no_grad():
        m.lin.weight.fill_(1.0)
        m.bn.running_mean.fill_(0.5)
        for t in m.eldet_teachers:
            t.lin.weight.fill_(0.0)
    m.eldet_frozen[1] = True
    assert m.eldet_ema_step(0.9) == 1
    assert torch.allclose(m.eldet_teachers[0].lin.weight, torch.full((1, 2), 0.1))
    assert torch.allclose(m.eldet_teachers[0].bn.running_mean, torch.tensor([0.5]))  # buffers copied
    assert torch.allclose(m.eldet_teachers[1].lin.weight, torch.zeros(1, 2))  # frozen: untouched
    m.eldet_ema_step(0.9)
    assert torch.allclose(m.eldet_teachers[0].lin.weight, torch.full((1, 2), 0.19))  # 0.9 * 0.1 + 0.1
    assert not any(p.requires_grad for p in m.eldet_teachers.parameters())
    assert all(not p.requires_grad for n, p in m.named_parameters() if n.startswith("eldet_teachers"))


class TrainSetProbeHook:  # found by its class name, like the suite's probe hook
    def __init__(self):
        self.rows, self.interval = [], 1


def _runner(model, probe, tmp_path, max_epochs=12):
    logs = []
    logger = SimpleNamespace(info=lambda *a: logs.append(a[0] % a[1:]))
    return SimpleNamespace(
        model=model, hooks=[probe], epoch=0, iter=0, max_epochs=max_epochs, train_dataloader=range(10), logger=logger
    ), logs


def _run_epochs(hook, runner, model, probe, ca, gtba, last, first=1):
    for e in range(first, last + 1):
        for _ in range(10):  # 10 iterations: the student moves, the EMA follows
            with torch.no_grad():
                model.lin.weight.add_(1.0)
            hook.after_train_iter(runner, 0)
            runner.iter += 1
        probe.rows.append({"epoch": str(e), "CA": f"{ca[e - 1]:.6f}", "GTBA": f"{gtba[e - 1]:.6f}"})
        runner.epoch = e - 1
        hook.after_train_epoch(runner)
        runner.epoch = e


@pytest.mark.parametrize("per_task", [False, True])
def test_hook_freezes_teachers_at_the_transition_and_switches_parts_on(tmp_path, per_task):
    model = Toy(per_task=per_task)
    probe = TrainSetProbeHook()
    hook = H.ELDETHook(state_json=str(tmp_path / "method_state.json"), fallback_gtba=0.5)
    runner, logs = _runner(model, probe, tmp_path)
    hook.before_train(runner)
    assert torch.allclose(model.eldet_teachers[0].lin.weight, model.lin.weight)
    xs = np.arange(1, 13)
    ca = _curve(xs, c=1.0)  # transition 4
    gtba = np.full(12, 0.3)  # flat: falls back at round(0.5 * 12) = 6
    _run_epochs(hook, runner, model, probe, ca, gtba, 4)
    assert model.eldet_on.tolist() == [False, True]  # [cls, loc]: loc on after the CA transition
    teacher_loc = model.eldet_teachers[0].lin.weight.clone()
    assert teacher_loc.abs().sum() > 0 and bool(model.eldet_frozen[0])
    _run_epochs(hook, runner, model, probe, ca, gtba, 6, first=5)
    assert model.eldet_on.tolist() == [True, True]
    assert torch.equal(model.eldet_teachers[0].lin.weight, teacher_loc)  # frozen since epoch 4
    state = json.loads((tmp_path / "method_state.json").read_text())
    assert state["tasks"]["loc"]["transition_epoch"] == 4 and state["tasks"]["loc"]["source"] == "detected"
    assert state["tasks"]["cls"]["transition_epoch"] == 6 and state["tasks"]["cls"]["source"] == "fallback"
    assert state["tasks"]["loc"]["switch_on_epoch"] == 5 and state["tasks"]["cls"]["switch_on_epoch"] == 7
    if per_task:
        assert state["tasks"]["cls"]["teacher_index"] == 1 and state["tasks"]["cls"]["teacher_epoch"] == 6
        # the cls teacher kept following the student after the loc teacher froze
        assert model.eldet_teachers[1].lin.weight.mean() > teacher_loc.mean()
    else:
        assert state["tasks"]["cls"]["teacher_index"] == 0 and state["tasks"]["cls"]["teacher_epoch"] == 4
    assert probe.interval == 10**9  # probing stops after both decisions (the last epoch is still probed)
    assert any("loc transition (CA) at epoch 4 (detected)" in line for line in logs)
    # the decisions survive a checkpoint round trip
    ckpt: dict = {}
    hook.before_save_checkpoint(runner, ckpt)
    fresh = H.ELDETHook(state_json=str(tmp_path / "s2.json"))
    fresh.after_load_checkpoint(runner, ckpt)
    assert fresh.state["tasks"] == state["tasks"]


def test_snapshot_teacher_takes_the_students_weights_of_the_transition_epoch(tmp_path):
    model = Toy()
    probe = TrainSetProbeHook()
    hook = H.ELDETHook(state_json=str(tmp_path / "s.json"), teacher="snapshot", use_gtba=False)
    runner, _ = _runner(model, probe, tmp_path)
    hook.before_train(runner)
    w0 = model.lin.weight.detach().clone()
    ca = _curve(np.arange(1, 13), c=1.0)
    _run_epochs(hook, runner, model, probe, ca, ca, 4)
    # the student after epoch 4 is w0 + 40 (10 steps of +1 per epoch); an EMA would lag behind it
    assert torch.allclose(model.eldet_teachers[0].lin.weight, w0 + 40.0)
    assert model.eldet_on.tolist() == [True, True]  # CA only: it times both parts


# ------------------------------------------------------------------------------ heads
@pytest.mark.parametrize("detector", ["retinanet", "fcos", "gfl"])
def test_split_forward_equals_the_heads_forward_and_cross_head_on_itself(detector):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from benchmarks.detectors import get_detector

    init_default_scope("mmdet")
    cfg = Config.fromfile(str(get_detector(detector).config_path("tiny")))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.eval()
    x = model.extract_feat(torch.randn(2, 3, 64, 64))
    with torch.no_grad():
        ref = model.bbox_head(x)
        outs, ch, rh = split_forward(model.bbox_head, x, 1)
        cross = cross_forward(model.bbox_head, ch, rh, ch, rh, 1)
        assert cross_forward(model.bbox_head, ch, rh, ch, rh, 1, cls=False)[0] is None
    for r, o, c in zip(ref[:2], outs[:2], cross):
        for a, b, cc in zip(r, o, c):
            assert torch.allclose(a, b, atol=1e-6)
            assert torch.allclose(a, cc, atol=1e-3)  # align_scale(f, f) = f up to eps
    f = torch.randn(2, 4, 3, 3)
    g = torch.randn(2, 4, 3, 3) * 3 + 1
    aligned = align_scale(f, g)
    assert torch.allclose(aligned.mean(dim=(0, 2, 3)), g.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(aligned.std(dim=(0, 2, 3)), g.std(dim=(0, 2, 3)), atol=1e-4)


def test_apply_rejects_bad_params_and_swaps_the_model():
    from mmengine.config import Config

    from benchmarks.detectors import get_detector
    from benchmarks.errors import InputError

    ctx = SimpleNamespace(cell_dir=Path("/tmp/x"), detector="faster_rcnn")
    cfg = Config.fromfile(str(get_detector("faster_rcnn").config_path("tiny")))
    out = eldet.apply(cfg, dict(eldet.DEFAULTS), ctx)
    assert out.model.type == "ELDETFasterRCNN" and out.model.roi_head.type == "ELDETStandardRoIHead"
    assert out.custom_hooks[-1]["type"] == "ELDETHook"
    assert out.custom_hooks[-1]["state_json"] == "/tmp/x/method_state.json"
    with pytest.raises(InputError, match="use_ca and use_gtba"):
        eldet.apply(cfg, {**eldet.DEFAULTS, "use_ca": False, "use_gtba": False}, ctx)
    with pytest.raises(InputError, match="teacher"):
        eldet.apply(cfg, {**eldet.DEFAULTS, "teacher": "lora"}, ctx)


def test_kd_interval_distils_every_kth_iteration_with_the_loss_scaled_by_k():
    m = Toy()
    m.eldet_cfg["kd_interval"] = 3
    assert [m._kd_due() for _ in range(7)] == [True, False, False, True, False, False, True]
    assert m._kd_scale() == 3.0
    m2 = Toy()
    assert all(m2._kd_due() for _ in range(4)) and m2._kd_scale() == 1.0


def test_teachers_and_switches_survive_a_state_dict_round_trip():
    """What mmengine's resume restores: teacher weights and the on/frozen buffers are in the state_dict."""
    m = Toy(per_task=True)
    with torch.no_grad():
        m.eldet_teachers[1].lin.weight.fill_(7.0)
    m.eldet_on[1] = True
    m.eldet_frozen[0] = True
    sd = m.state_dict()
    assert {"eldet_on", "eldet_frozen", "eldet_teachers.1.lin.weight"} <= set(sd)
    fresh = Toy(per_task=True)
    fresh.load_state_dict(sd)
    assert fresh.eldet_on.tolist() == [False, True] and fresh.eldet_frozen.tolist() == [True, False]
    assert torch.equal(fresh.eldet_teachers[1].lin.weight, torch.full((1, 2), 7.0))
    fresh.train()
    assert fresh.training and not fresh.eldet_teachers.training  # teachers stay in eval mode
