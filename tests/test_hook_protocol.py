"""The hook protocol: priorities in the order the per-epoch hand-offs need, and the real probe hook
honouring a stop request and publishing its rows (benchmarks.training.hook_protocol)."""

from __future__ import annotations

from types import SimpleNamespace

from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub
from mmengine.runner import get_priority

from benchmarks.training import hook_protocol as P


def _priority(type_name: str) -> int:
    """The priority of a hook class of the suite, looked up in the module that defines it."""
    from benchmarks.methods.adele.hooks import AdeleHook
    from benchmarks.methods.eldet.hooks import ELDETHook
    from benchmarks.methods.od_detr.model import ODDETRTeacherHook
    from benchmarks.methods.orsod.hooks import OrsodHook
    from benchmarks.methods.sssd.model import SSSDScheduleHook
    from benchmarks.training import hooks
    from benchmarks.training.matching_hooks import MatchingStabilityHook

    classes = {c.__name__: c for c in (AdeleHook, ELDETHook, ODDETRTeacherHook, OrsodHook, SSSDScheduleHook,
                                       MatchingStabilityHook, hooks.TrainSetProbeHook, hooks.RandomStateHook,
                                       hooks.DivergenceGuardHook, hooks.CostMeterHook)}  # fmt: skip
    return get_priority(classes[type_name].priority)


def test_after_train_epoch_order_producers_probe_consumers_checkpoint():
    producers = [_priority(n) for n in ("MatchingStabilityHook", "SSSDScheduleHook")]
    probe = _priority("TrainSetProbeHook")
    consumers = [_priority(n) for n in ("ELDETHook", "AdeleHook", "OrsodHook")]
    checkpoint = get_priority(CheckpointHook.priority)
    assert max(producers) < probe < min(consumers)
    assert max(consumers) < checkpoint  # a checkpoint holds the epoch's decisions
    assert _priority("RandomStateHook") < _priority("DivergenceGuardHook") < probe
    assert _priority("ODDETRTeacherHook") < probe


def _probe_hook(interval=2):
    from benchmarks.training.hooks import TrainSetProbeHook

    return TrainSetProbeHook(
        noisy_ann="n.json", clean_ann="c.json", img_root=".", classes=("a",), subset=1, subset_seed=0,
        interval=interval, iou_tau=0.5, out_csv="probe.csv", pipeline=[],
    )  # fmt: skip


def test_probe_due_every_interval_until_a_stop_request_then_only_the_last_epoch():
    hook = _probe_hook(interval=2)
    runner = SimpleNamespace(max_epochs=12, message_hub=MessageHub("protocol-due"))
    assert [e for e in range(1, 13) if hook._due(runner, e)] == [2, 4, 6, 8, 10, 12]
    P.request_probe_stop(runner, by="test", epoch=4)
    P.request_probe_stop(runner, by="other", epoch=6)  # the first request stays in force
    assert runner.message_hub.get_info(P.PROBE_STOP) == {"by": "test", "epoch": 4}
    assert [e for e in range(5, 13) if hook._due(runner, e)] == [12]


def test_published_rows_have_int_epochs_and_are_filtered_by_epoch():
    hook = _probe_hook()
    runner = SimpleNamespace(max_epochs=12, message_hub=MessageHub("protocol-rows"))
    hook.rows = [{"epoch": "1", "AP": "0.1"}, {"epoch": "2", "AP": "0.2"}, {"epoch": "3", "AP": "0.3"}]
    hook._publish_rows(runner)
    assert [r["epoch"] for r in P.probe_rows(runner)] == [1, 2, 3]
    assert [r["AP"] for r in P.probe_rows(runner, up_to=2)] == ["0.1", "0.2"]


def test_decoding_a_probe_subset_leaves_torchs_random_stream_alone():
    """A DataLoader draws its base seed from torch's global generator when iterated; the probe,
    matching and label hooks decode their subsets through decode_batches, so the first probe (which
    a resumed run repeats) shifts no later random draw (dropout, DN-DETR's noised queries)."""
    import torch
    from torch.utils.data import DataLoader

    from benchmarks.training.predict import decode_batches

    loader = DataLoader(list(range(6)), batch_size=2)
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    assert [b.tolist() for b in decode_batches(loader)] == [[0, 1], [2, 3], [4, 5]]
    assert torch.equal(torch.random.get_rng_state(), before)
    list(loader)  # a bare iteration does draw: the test would fail without decode_batches
    assert not torch.equal(torch.random.get_rng_state(), before)


def test_ema_updates_a_shared_module_once_per_step():
    """Deformable DETR without refinement shares its prediction heads under several names; the
    EMA must decay them by d per step, not d^k."""
    import torch
    from torch import nn

    from benchmarks.methods.common.ema import ema_update

    def model(value):
        layer = nn.Linear(1, 1, bias=False)
        nn.init.constant_(layer.weight, value)
        return nn.ModuleList([layer, layer, nn.Linear(1, 1, bias=False)])

    teacher, student = model(0.0), model(1.0)
    nn.init.constant_(teacher[2].weight, 0.0)
    nn.init.constant_(student[2].weight, 1.0)
    ema_update(teacher, student.state_dict(), 0.9)
    assert torch.allclose(teacher[0].weight, torch.tensor([[0.1]]))  # 0.9 * 0 + 0.1 * 1, once
    assert torch.allclose(teacher[2].weight, torch.tensor([[0.1]]))
