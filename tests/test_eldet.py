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
from mmengine.logging import MessageHub
from torch import nn

from benchmarks.methods import eldet
from benchmarks.methods.eldet import crosskd as K
from benchmarks.methods.eldet import hooks as H
from benchmarks.methods.eldet.model import ELDETMixin, align_scale, cross_forward, split_forward
from benchmarks.training.hook_protocol import PROBE_ROWS, PROBE_STOP


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------ losses
def _qfl(a: float, b: float) -> float:
    """CrossKD's KDQualityFocalLoss element (beta = 1): |sigma(s) - sigma(t)| BCE(sigma(s), sigma(t))."""
    ps, pt = sig(a), sig(b)
    return abs(ps - pt) * -(pt * math.log(ps) + (1 - pt) * math.log(1 - ps))


def test_dense_cls_loss_is_crosskds_label_weighted_sum_over_the_assigners_positive_count():
    # CrossKD (crosskd_retinanet.py): loss_cls_kd(reused, teacher, label_weights, avg_factor=avg_factor)
    # with mmdet's weighted_loss: sum_i l_i sum_j QFL_ij / avg_factor
    s = [[0.5, -1.0], [2.0, 0.0], [-0.3, 0.4]]
    t = [[1.0, -2.0], [0.0, 3.0], [2.5, -1.5]]
    lw = [1.0, 0.0, 1.0]  # location 1 is ignored by the assigner
    avg = 2.0  # the assigner's positive count
    total = sum(w * sum(_qfl(a, b) for a, b in zip(sr, tr)) for w, sr, tr in zip(lw, s, t))
    got = K.crosskd_dense_cls_loss(torch.tensor(s), torch.tensor(t), label_weights=torch.tensor(lw), avg_factor=avg)
    assert float(got) == pytest.approx(total / avg, rel=1e-5)
    # not the teacher's soft positive count (the normaliser before issue 17)
    soft = sum(max(sig(v) for v in tr) for w, tr in zip(lw, t) if w > 0)
    assert abs(float(got) - total / soft) > 1e-3


def test_dense_loc_loss_masks_ignored_locations_and_divides_by_avg_factor():
    # CrossKD: reg_weights = max sigma(t); reg_weights[label_weights == 0] = 0; GIoULoss(avg_factor=avg_factor)
    cross = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
    teach = torch.tensor([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 4.0, 4.0]])
    logits = torch.tensor([[2.0, -1.0], [3.0, 0.0], [0.0, 1.0]])
    giou = 1 / 7 - 2 / 9
    expected = sig(2.0) * (1 - giou) / 3.0  # location 1 (label weight 0) and location 2 (GIoU 1) add nothing
    got = K.crosskd_dense_loc_loss(cross, teach, logits, label_weights=torch.tensor([1.0, 0.0, 1.0]), avg_factor=3.0)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_dense_cls_loss_without_avg_factor_uses_the_teachers_soft_count():
    """The DETR variant's normaliser (ours): max(1, sum_i max_j sigma(t_ij))."""
    s = [[0.5, -1.0], [2.0, 0.0]]
    t = [[1.0, -2.0], [0.0, 3.0]]
    total = sum(_qfl(a, b) for sr, tr in zip(s, t) for a, b in zip(sr, tr))
    norm = max(1.0, sum(max(sig(v) for v in tr) for tr in t))
    got = K.crosskd_dense_cls_loss(torch.tensor(s), torch.tensor(t))
    assert float(got) == pytest.approx(total / norm, rel=1e-5)


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
        decisions[e] = H.decide(e, fit, H.fallback_epoch(0.72, 12), H.fallback_epoch(0.5, 12))
    assert decisions[1] is None and decisions[2] is None and decisions[3] is None  # < 4 points
    assert decisions[4] == (4, "detected")
    assert decisions[8] == (4, "detected")


def test_flat_curve_falls_back_only_at_the_cutoff():
    from analysis.transition import find_transition

    cutoff, fb = H.fallback_epoch(0.67, 12), H.fallback_epoch(0.33, 12)
    assert (cutoff, fb) == (8, 4)
    out = {}
    for e in range(1, 10):
        xs = list(range(1, e + 1))
        out[e] = H.decide(e, find_transition(xs, [0.2] * e, horizon=12), cutoff, fb)
    assert all(out[e] is None for e in range(1, 8))  # the fallback epoch 4 is not a deadline
    assert out[8] == (4, "fallback") and out[9] == (4, "fallback")


def test_defaults_let_late_transitions_of_the_rebuttals_range_be_detected(tmp_path):
    """Rebuttal table: CA transitions up to epoch 8 of 12 (COCO), GTBA up to 12 of 12. With the
    defaults a CA bend at epoch 6 and a GTBA bend at epoch 11 are detected, not replaced by the
    fallback epochs 4 and 9 (before issue 17 the fallback fired at round(0.33 x 12) = 4 and 9)."""
    # b = 1: transition = first t > 1 + c ln 10; c = 2.0 -> 5.6 -> 6, c = 4.2 -> 10.67 -> 11
    xs = np.arange(1, 13)
    ca, gtba = _curve(xs, c=2.0), _curve(xs, c=4.2)
    model = Toy(per_task=eldet.DEFAULTS["per_task_teachers"])
    probe = TrainSetProbeHook()
    keys = ("use_ca", "use_gtba", "teacher", "threshold", "fallback_ca", "fallback_gtba", "cutoff_ca", "cutoff_gtba")
    hook = H.ELDETHook(state_json=str(tmp_path / "s.json"), **{k: eldet.DEFAULTS[k] for k in keys})
    runner, _ = _runner(model, probe, tmp_path)
    hook.before_train(runner)
    _run_epochs(hook, runner, model, probe, ca, gtba, 12)
    tasks = json.loads((tmp_path / "s.json").read_text())["tasks"]
    assert (tasks["loc"]["source"], tasks["loc"]["transition_epoch"], tasks["loc"]["decided_at_epoch"]) == (
        "detected",
        6,
        6,
    )
    assert (tasks["cls"]["source"], tasks["cls"]["transition_epoch"], tasks["cls"]["decided_at_epoch"]) == (
        "detected",
        11,
        11,
    )
    assert tasks["cls"]["switch_on_epoch"] == 12 and tasks["loc"]["switch_on_epoch"] == 7
    # two stages: each part's teacher is its own, frozen with the state of its own transition epoch
    assert (tasks["loc"]["teacher_index"], tasks["loc"]["teacher_epoch"]) == (0, 6)
    assert (tasks["cls"]["teacher_index"], tasks["cls"]["teacher_epoch"]) == (1, 11)
    assert model.eldet_teachers[1].lin.weight.mean() > model.eldet_teachers[0].lin.weight.mean()


def test_teacher_epoch_for_a_transition_that_left_the_ring_is_the_oldest_kept():
    assert H.teacher_epoch_for([6, 7, 8], 7) == 7
    assert H.teacher_epoch_for([4, 6, 7, 8], 5) == 4  # the latest kept epoch before t
    assert H.teacher_epoch_for([6, 7, 8], 3) == 6  # t left the ring: the oldest kept, not the newest (8)


def test_hook_loads_the_oldest_kept_state_when_the_transition_left_the_ring(tmp_path, monkeypatch):
    """A transition at epoch 2 that the fit only reports at epoch 6 (four epochs late): the teacher is
    the oldest kept EMA state (epoch 4: the pinned fallback epoch), not the newest (epoch 6)."""
    import analysis.transition as T

    def late_fit(xs, ys, **_):
        return {"epoch": 2 if len(xs) >= 6 else None, "reason": "stub"}

    monkeypatch.setattr(T, "find_transition", late_fit)
    model = Toy(per_task=True)
    probe = TrainSetProbeHook()
    hook = H.ELDETHook(state_json=str(tmp_path / "s.json"), use_gtba=False)
    runner, _ = _runner(model, probe, tmp_path)
    hook.before_train(runner)
    states = {}
    for e in range(1, 7):
        _run_epochs(hook, runner, model, probe, [0.1] * 12, [0.1] * 12, e, first=e)
        if e < 6:
            states[e] = model.eldet_teachers[0].lin.weight.detach().clone()
    task = hook.state["tasks"]["loc"]
    assert (task["transition_epoch"], task["decided_at_epoch"], task["teacher_epoch"]) == (2, 6, 4)
    assert torch.equal(model.eldet_teachers[0].lin.weight, states[4])


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


class TrainSetProbeHook:
    """Stands in for the suite's probe hook: publishes its rows under PROBE_ROWS of the runner's
    real mmengine MessageHub, and reads PROBE_STOP the way the probe hook does."""

    def __init__(self):
        self.rows = []
        self.hub = MessageHub(f"eldet-test-{id(self)}")

    def publish(self, row):
        self.rows.append(row)
        self.hub.update_info(PROBE_ROWS, [dict(r, epoch=int(r["epoch"])) for r in self.rows], resumed=False)

    @property
    def stop_requested(self):
        return self.hub.get_info(PROBE_STOP)


def _runner(model, probe, tmp_path, max_epochs=12):
    logs = []
    logger = SimpleNamespace(info=lambda *a: logs.append(a[0] % a[1:]))
    return SimpleNamespace(
        model=model,
        message_hub=probe.hub,
        epoch=0,
        iter=0,
        max_epochs=max_epochs,
        train_dataloader=range(10),
        logger=logger,
    ), logs


def _run_epochs(hook, runner, model, probe, ca, gtba, last, first=1):
    for e in range(first, last + 1):
        for _ in range(10):  # 10 iterations: the student moves, the EMA follows
            with torch.no_grad():
                model.lin.weight.add_(1.0)
            hook.after_train_iter(runner, 0)
            runner.iter += 1
        probe.publish({"epoch": str(e), "CA": f"{ca[e - 1]:.6f}", "GTBA": f"{gtba[e - 1]:.6f}"})
        runner.epoch = e - 1
        hook.after_train_epoch(runner)
        runner.epoch = e


@pytest.mark.parametrize("per_task", [False, True])
def test_hook_freezes_teachers_at_the_transition_and_switches_parts_on(tmp_path, per_task):
    model = Toy(per_task=per_task)
    probe = TrainSetProbeHook()
    hook = H.ELDETHook(state_json=str(tmp_path / "method_state.json"), fallback_gtba=0.5, cutoff_gtba=0.5)
    runner, logs = _runner(model, probe, tmp_path)
    hook.before_train(runner)
    assert torch.allclose(model.eldet_teachers[0].lin.weight, model.lin.weight)
    xs = np.arange(1, 13)
    ca = _curve(xs, c=1.0)  # transition 4
    gtba = np.full(12, 0.3)  # flat: falls back at the cutoff round(0.5 * 12) = 6
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
    # probing stops after both decisions, by a request (the probe hook still probes the last epoch)
    assert probe.stop_requested == {"by": "ELDETHook", "epoch": 6}
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
    with pytest.raises(InputError, match="use_ca / use_gtba must be true"):
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


# ------------------------------------------------------------------------------ dense ELDET models
def _eldet_model(detector: str, **params):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from benchmarks.detectors import get_detector

    init_default_scope("mmdet")
    cfg = Config.fromfile(str(get_detector(detector).config_path("tiny")))
    cfg.model.bbox_head.num_classes = 5
    cfg = eldet.apply(cfg, {**eldet.DEFAULTS, **params}, SimpleNamespace(cell_dir=Path("/tmp/x"), detector=detector))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    return model


def _dense_batch(n: int = 2):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        meta = dict(img_shape=(96, 96), pad_shape=(96, 96), ori_shape=(96, 96), scale_factor=(1.0, 1.0),
                    batch_input_shape=(96, 96))  # fmt: skip
        s = DetDataSample(metainfo=meta)
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[8.0, 10.0, 40.0, 50.0], [50.0, 20.0, 90.0, 70.0]]), labels=torch.tensor([i, 3])
        )
        samples.append(s)
    return torch.randn(n, 3, 96, 96, generator=g), samples


@torch.no_grad()
def _perturb(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(0.02 * torch.randn(p.shape, generator=g))


def test_each_kd_part_is_fed_by_its_own_teacher_by_default():
    """Two stages (default): loss_loc_kd depends only on teacher 0 (frozen at CA), loss_cls_kd only
    on teacher 1 (frozen at GTBA). Before issue 17 the default served both parts from one teacher."""
    model = _eldet_model("retinanet")
    assert len(model.eldet_teachers) == 2
    model.eldet_on[:] = True
    model.eldet_frozen[:] = True
    x, samples = _dense_batch()
    base = model.loss(x, samples)
    _perturb(model.eldet_teachers[1], 1)  # the classification teacher
    after_cls = model.loss(x, samples)
    assert float(after_cls["loss_loc_kd"]) == pytest.approx(float(base["loss_loc_kd"]), rel=1e-6)
    assert abs(float(after_cls["loss_cls_kd"]) - float(base["loss_cls_kd"])) > 1e-4
    _perturb(model.eldet_teachers[0], 2)  # the localization teacher
    after_loc = model.loss(x, samples)
    assert float(after_loc["loss_cls_kd"]) == pytest.approx(float(after_cls["loss_cls_kd"]), rel=1e-6)
    assert abs(float(after_loc["loss_loc_kd"]) - float(after_cls["loss_loc_kd"])) > 1e-4


def _assigner_terms(head, detector, cls_scores, samples):
    """The student assigner's label weights (flattened image by image, level by level) and CrossKD's
    normalisers, from the head's own ``get_targets`` (crosskd_{retinanet,gfl,fcos}.py)."""
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    sizes = [c.shape[-2:] for c in cls_scores]
    n = cls_scores[0].shape[0]
    if detector == "fcos":
        points = head.prior_generator.grid_priors(sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device)
        labels, bbox_targets = head.get_targets(points, gts)
        labels, bbox_targets = torch.cat(labels), torch.cat(bbox_targets)
        pos = (labels >= 0) & (labels < head.num_classes)
        denorm = max(float(head.centerness_target(bbox_targets[pos]).sum()), 1e-6)
        total = sum(int(s[0] * s[1]) for s in sizes) * n
        return torch.ones(total), denorm, denorm
    anchors, valid = head.get_anchors(sizes, metas, device=cls_scores[0].device)
    targets = head.get_targets(anchors, valid, gts, metas)
    lw_levels = targets[2] if detector == "gfl" else targets[1]
    lw = torch.cat([w.reshape(n, -1) for w in lw_levels], dim=1).reshape(-1)
    return lw, float(targets[-1]), (None if detector == "gfl" else float(targets[-1]))


@pytest.mark.parametrize("detector", ["retinanet", "gfl", "fcos"])
def test_model_kd_losses_follow_crosskds_normalisation(detector):
    """loss_cls_kd / loss_loc_kd of the model against CrossKD's definition, computed here from the
    cross-head and teacher outputs and the student assigner's targets (label weights, avg_factor)."""
    from mmdet.structures.bbox import bbox_overlaps

    from benchmarks.methods.eldet.model import decode_boxes, flatten_logits

    model = _eldet_model(detector)
    model.eldet_on[:] = True
    model.eldet_frozen[:] = True
    _perturb(model.eldet_teachers[0], 3)
    _perturb(model.eldet_teachers[1], 4)
    x, samples = _dense_batch()
    losses = model.loss(x, samples)
    split = model._eldet_split()
    with torch.no_grad():
        feats = model.extract_feat(x)
        outs, s_ch, s_rh = split_forward(model.bbox_head, feats, split)
        lw, cls_avg, loc_avg = _assigner_terms(model.bbox_head, detector, outs[0], samples)
        assert lw.numel() == flatten_logits(model.bbox_head, outs[0]).shape[0]
        if detector == "retinanet":  # MaxIoUAssigner: anchors with 0.4 <= IoU < 0.5 are ignored
            assert bool((lw == 0).any()) and bool((lw > 0).any())
        expected = {}
        for task, index in (("cls", 1), ("loc", 0)):
            teacher = model.eldet_teachers[index]
            t_outs, t_ch, t_rh = split_forward(teacher.bbox_head, teacher.extract_feat(x), split)
            c_cls, c_reg = cross_forward(teacher.bbox_head, s_ch, s_rh, t_ch, t_rh, split)
            t_logits = flatten_logits(teacher.bbox_head, t_outs[0])
            if task == "cls":
                s_logits = flatten_logits(teacher.bbox_head, c_cls)
                ps, pt = s_logits.sigmoid(), t_logits.sigmoid()
                qfl = (ps - pt).abs() * torch.nn.functional.binary_cross_entropy(ps, pt, reduction="none")
                expected["cls"] = float((lw[:, None] * qfl).sum()) / cls_avg
            else:
                w = t_logits.sigmoid().max(dim=1).values * (lw > 0)
                giou = bbox_overlaps(
                    decode_boxes(teacher.bbox_head, c_reg),
                    decode_boxes(teacher.bbox_head, t_outs[1]),
                    mode="giou",
                    is_aligned=True,
                )
                norm = float(w.sum()) if loc_avg is None else loc_avg
                expected["loc"] = float((w * (1 - giou)).sum()) / norm
    assert float(losses["loss_cls_kd"]) == pytest.approx(expected["cls"], rel=1e-4)
    assert float(losses["loss_loc_kd"]) == pytest.approx(expected["loc"], rel=1e-4)
