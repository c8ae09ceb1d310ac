"""ELDET's training-time logic: EMA teachers, online transition detection, loss switch-on.

``ELDETHook`` (mmengine ``HOOKS``) runs after the train-set probe hook each epoch (priority 80:
after ``TrainSetProbeHook`` at LOW = 70, before the checkpoint and cost hooks at VERY_LOW = 90):

1. Every iteration, every unfrozen teacher takes one EMA step towards the student
   (``teacher="ema"``; decay warm-up ``min(decay, (1 + i) / (10 + i))`` over the global iteration
   i, the mean-teacher ramp, so the first iterations do not average in the random initialisation).
2. Every epoch e, while a task is undecided, the candidate teacher (the EMA, or the student itself
   with ``teacher="snapshot"``) is kept on the host for the last ``RING`` epochs; the candidate of
   each undecided curve's fallback epoch is pinned (kept past the ring) for a fallback decision.
3. The probe curves so far (``CA`` and ``GTBA`` against the noisy training labels, from
   ``TrainSetProbeHook``) are fitted with :func:`analysis.transition.find_transition` (ADELE/ELDET's
   saturating exponential, threshold r, horizon = the schedule length). A transition t <= e is
   *detected*. The fallback is a last resort, not a deadline: only when no transition is detected
   by the curve's *cutoff* epoch ``round(cutoff * epochs)`` (defaults cover the rebuttal's range:
   CA transitions up to epoch 8 of 12, GTBA up to 12 of 12) is the fallback epoch
   ``round(fallback * epochs)`` used (``source: fallback``; the paper describes no fallback).
4. At a decision the task's teacher is loaded with the kept candidate of epoch t (the last
   early-learning epoch; the nearest kept epoch before it, or the oldest kept one when t has left
   the ring) and frozen, and the task's loss part is on from epoch e + 1 (a transition can only be
   known once probed).

Teachers and their EMA (two stages, ``per_task_teachers: true``, the default): teacher 0 serves the
localization part and teacher 1 the classification part. Both start as copies of the student and
are EMAs of the student (``theta_T <- d theta_T + (1 - d) theta_S`` after every iteration, buffers
copied) until their own task is decided; each is then set to its kept state of *its own* transition
epoch and frozen for the rest of training, so the cls teacher keeps following the student between
the CA and the GTBA transitions. ``per_task_teachers: false`` (one teacher, frozen at the first
decision, serving both parts) is the cheaper ablation.

Task <-> curve: localization (``loc``) is timed by CA and classification (``cls``) by GTBA; with
only one of ``use_ca``/``use_gtba`` on (the discussion's Table 4 ablation), that curve times both.
State (decisions, fits, kept candidates) is in the checkpoint (``before_save_checkpoint`` /
``after_load_checkpoint``), the teachers and switches are model buffers/submodules, and the decisions
are written atomically to ``<cell>/method_state.json`` every epoch.
"""

from __future__ import annotations

from pathlib import Path

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from benchmarks.atomic import write_json
from benchmarks.training.hook_protocol import PRIORITY_PROBE_CONSUMER, probe_rows, request_probe_stop

RING = 3
"""Epochs of teacher candidates kept on the host (a transition is usually found 0-2 epochs late)."""
TASK_METRIC = {"loc": "CA", "cls": "GTBA"}
FALLBACK_KEY = {"CA": "fallback_ca", "GTBA": "fallback_gtba"}
CUTOFF_KEY = {"CA": "cutoff_ca", "GTBA": "cutoff_gtba"}


def task_metrics(use_ca: bool, use_gtba: bool) -> dict[str, str]:
    """Which probe curve times each task's switch-on (see the module docstring)."""
    if use_ca and use_gtba:
        return dict(TASK_METRIC)
    if use_ca:
        return {"loc": "CA", "cls": "CA"}
    if use_gtba:
        return {"loc": "GTBA", "cls": "GTBA"}
    raise ValueError("ELDET needs use_ca or use_gtba (or both)")


def fallback_epoch(fraction: float, max_epochs: int) -> int:
    """An epoch given as a fraction of the schedule: ``round(fraction * epochs)``, in [1, epochs].

    Used for both the cutoff (the last epoch at which a transition may be detected) and the fallback
    epoch (the transition assumed when none was detected by the cutoff).
    """
    return max(1, min(max_epochs, round(fraction * max_epochs)))


def decide(epoch: int, fit: dict, cutoff: int, fallback: int) -> tuple[int, str] | None:
    """The transition of a curve at the end of ``epoch``: (t, "detected"), (fallback, "fallback") or None.

    A detected transition t <= epoch wins at any epoch up to the cutoff; the fallback is taken only
    when nothing was detected by the end of the cutoff epoch (it never lies after the cutoff).
    """
    t = fit.get("epoch")
    if t is not None and t <= epoch:
        return int(t), "detected"
    if epoch >= cutoff:
        return min(fallback, cutoff), "fallback"
    return None


def teacher_epoch_for(kept: list[int], t: int) -> int:
    """The kept candidate for a transition at ``t``: the latest kept epoch <= t, else the oldest kept.

    The oldest one is the nearest to t when t has already left the ring (a transition found more than
    ``RING`` epochs late): every kept epoch is then after t, the oldest is the least memorised.
    """
    if not kept:
        raise ValueError("ELDET: no teacher candidate kept")
    before = [k for k in kept if k <= t]
    return max(before) if before else min(kept)


def ema_decay_for(ema_decay: float | None, ema_epochs: float, iters_per_epoch: int) -> float:
    """The EMA decay: as given, or ``1 - 1 / (ema_epochs * iters_per_epoch)`` (time constant in epochs)."""
    if ema_decay is not None:
        return float(ema_decay)
    return 1.0 - 1.0 / max(1.0, float(ema_epochs) * max(1, iters_per_epoch))


def warm_decay(decay: float, iteration: int) -> float:
    """Mean-teacher warm-up of the decay: ``min(decay, (1 + i) / (10 + i))``."""
    return min(float(decay), (1.0 + iteration) / (10.0 + iteration))


def _unwrap(model):
    return model.module if hasattr(model, "module") and not hasattr(model, "eldet_teachers") else model


@HOOKS.register_module()
class ELDETHook(Hook):
    """See the module docstring."""

    priority = PRIORITY_PROBE_CONSUMER

    def __init__(
        self,
        state_json: str,
        use_ca: bool = True,
        use_gtba: bool = True,
        teacher: str = "ema",
        ema_decay: float | None = None,
        ema_epochs: float = 1.0,
        threshold: float = 0.9,
        fallback_ca: float = 0.33,
        fallback_gtba: float = 0.72,
        cutoff_ca: float = 0.67,
        cutoff_gtba: float = 1.0,
        probe_after_transitions: bool = False,
        params: dict | None = None,
    ):
        if teacher not in ("ema", "snapshot"):
            raise ValueError(f"ELDET teacher must be 'ema' or 'snapshot', got {teacher!r}")
        for name, fb, cut in (("ca", fallback_ca, cutoff_ca), ("gtba", fallback_gtba, cutoff_gtba)):
            if not 0.0 < float(fb) <= float(cut) <= 1.0:
                raise ValueError(
                    f"ELDET: need 0 < fallback_{name} <= cutoff_{name} <= 1 (fractions of the schedule), "
                    f"got fallback_{name}={fb}, cutoff_{name}={cut}"
                )
        self.state_json = Path(state_json)
        self.metrics = task_metrics(use_ca, use_gtba)
        self.teacher = teacher
        self.ema_decay, self.ema_epochs = ema_decay, ema_epochs
        self.threshold = threshold
        self.fallback = {"CA": fallback_ca, "GTBA": fallback_gtba}
        self.cutoff = {"CA": cutoff_ca, "GTBA": cutoff_gtba}
        self.probe_after_transitions = probe_after_transitions
        self.params = dict(params or {})
        self.state: dict = {"tasks": {t: None for t in self.metrics}, "fits": []}
        self.ring: dict[int, dict] = {}

    # -- helpers --------------------------------------------------------------------------
    def _undecided(self) -> list[str]:
        return [t for t, d in self.state["tasks"].items() if d is None]

    def _candidate_state(self, model) -> dict:
        if self.teacher == "snapshot":
            return {k: v.detach().clone().cpu() for k, v in model.state_dict().items() if not k.startswith("eldet_")}
        for i in range(len(model.eldet_teachers)):
            if not bool(model.eldet_frozen[i]):
                return model.eldet_teacher_state(i)
        return {}

    def _write_state(self, runner) -> None:
        write_json(
            self.state_json,
            {
                "method": "eldet",
                "params": self.params,
                "task_metric": self.metrics,
                "max_epochs": int(runner.max_epochs),
                "ema_decay": self.decay,
                **self.state,
            },
        )

    # -- mmengine hooks -------------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        self.decay = ema_decay_for(self.ema_decay, self.ema_epochs, len(runner.train_dataloader))
        if runner.iter == 0:
            for i in range(len(model.eldet_teachers)):
                model.eldet_copy_student_to(i)
        self._limit_probes(runner, runner.epoch)  # a resumed run re-asks (epochs completed so far)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.teacher != "ema":
            return
        model = _unwrap(runner.model)
        if not bool(model.eldet_frozen.all()):
            model.eldet_ema_step(warm_decay(self.decay, runner.iter))

    def after_train_epoch(self, runner) -> None:
        from analysis.transition import find_transition

        model = _unwrap(runner.model)
        epoch = runner.epoch + 1
        max_epochs = int(runner.max_epochs)
        if self._undecided():
            self.ring[epoch] = self._candidate_state(model)
            pinned = {fallback_epoch(self.fallback[self.metrics[t]], max_epochs) for t in self._undecided()}
            for old in [k for k in self.ring if k <= epoch - RING and k not in pinned]:
                del self.ring[old]
        rows = probe_rows(runner, up_to=epoch)
        fits = {}
        for metric in sorted({self.metrics[t] for t in self._undecided()}):
            xs = [int(r["epoch"]) for r in rows if r.get(metric) not in (None, "")]
            ys = [float(r[metric]) for r in rows if r.get(metric) not in (None, "")]
            fit = find_transition(xs, ys, threshold=self.threshold, horizon=max_epochs)
            fits[metric] = {k: fit.get(k) for k in ("epoch", "a", "b", "c", "r2", "reason") if k in fit}
            cutoff = fallback_epoch(self.cutoff[metric], max_epochs)
            fb = fallback_epoch(self.fallback[metric], max_epochs)
            decision = decide(epoch, fit, cutoff, fb)
            if decision is None:
                continue
            t, source = decision
            for task in [k for k, m in self.metrics.items() if m == metric and self.state["tasks"][k] is None]:
                self._switch_on(runner, model, task, metric, t, source, epoch, max_epochs)
        self.state["fits"].append({"epoch": epoch, **fits})
        if not self._undecided():
            self.ring.clear()
            self._limit_probes(runner, epoch)
        self._write_state(runner)

    def _switch_on(self, runner, model, task, metric, t, source, epoch, max_epochs) -> None:
        index = model.eldet_teacher_index(task)
        if bool(model.eldet_frozen[index]):
            teacher_epoch = next(
                d["teacher_epoch"] for d in self.state["tasks"].values() if d and d["teacher_index"] == index
            )
        else:
            teacher_epoch = teacher_epoch_for(sorted(self.ring), t)
            model.eldet_load_teacher(index, self.ring[teacher_epoch])
            model.eldet_frozen[index] = True
        model.eldet_on[("cls", "loc").index(task)] = True
        on_epoch = epoch + 1
        self.state["tasks"][task] = {
            "metric": metric,
            "transition_epoch": t,
            "source": source,
            "decided_at_epoch": epoch,
            "switch_on_epoch": on_epoch if on_epoch <= max_epochs else None,
            "teacher_index": index,
            "teacher_epoch": teacher_epoch,
        }
        runner.logger.info(
            "ELDET: %s transition (%s) at epoch %d (%s); teacher %d frozen with its epoch-%d state; "
            "loss_%s_kd on from epoch %d",
            task,
            metric,
            t,
            source,
            index,
            teacher_epoch,
            task,
            on_epoch,
        )

    def _limit_probes(self, runner, epoch: int) -> None:
        """After both decisions, probe only the last epoch (the paper probes during early learning only)."""
        if self.probe_after_transitions or self._undecided():
            return
        request_probe_stop(runner, by="ELDETHook", epoch=epoch)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["eldet"] = {"state": self.state, "ring": self.ring}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get("eldet")
        if saved:
            self.state = saved["state"]
            self.ring = {int(k): v for k, v in saved["ring"].items()}
