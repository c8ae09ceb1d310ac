"""ORSOD's transition detection and small-loss selection, as an mmengine hook (see the package's ``__init__.py``).

After every training epoch e (but the last):

1. Transition: the train-set probe's AP curve against the noisy labels (the rows
   ``TrainSetProbeHook`` publishes under ``hook_protocol.PROBE_ROWS``, just before this hook runs) is fitted with ADELE's model
   (``analysis.transition.find_transition``, r = 0.9, horizon e). The first epoch at which the fit
   says the transition has been reached is T; if it has not bent by the late cutoff ceil(fallback_frac * epochs), T is that epoch.
2. From T on: predict every training image, compute each annotation's loss
   (``selection.annotation_losses``) against the annotation file's labels, and mark per class
   the ceil(R * n_c) largest as suspected noisy, R = Co-teaching's forget rate ramped over T_k epochs
   (t = e - T + 1). The marked annotations are served with ``ignore_flag = 1`` during epoch e + 1
   (re-selected every epoch, nothing accumulates).
3. Records: ``method_state.json`` (curve fit, T and how it was found, per epoch R, the number
   selected and their loss range) and ``orsod_selection.json`` (per epoch: image, annotation index,
   class, loss of every selected annotation); all state is also in the checkpoint.
"""

from __future__ import annotations

import numpy as np
from mmengine.registry import HOOKS

from benchmarks.atomic import write_json
from benchmarks.methods.common.label_hooks import TrainLabelHook
from benchmarks.methods.common.switch import cutoff_epoch, update_switch
from benchmarks.training.hook_protocol import probe_rows


@HOOKS.register_module()
class OrsodHook(TrainLabelHook):
    STATE_KEY = "ndr_orsod_state"

    def __init__(
        self,
        *args,
        curve_metric: str = "AP",
        r_threshold: float = 0.9,
        fallback_frac: float = 0.85,
        forget_rate: float = 0.2,
        ramp_epochs: int = 1,
        iou_thr: float = 0.5,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.curve_metric, self.r_threshold, self.fallback_frac = curve_metric, r_threshold, fallback_frac
        self.tau, self.ramp_epochs, self.iou_thr = forget_rate, ramp_epochs, iou_thr

    def fresh_state(self) -> dict:
        return {"overrides": {}, "log": [], "seconds": 0.0, "transition": None, "fit": None, "per_epoch": {}}

    def _curve(self, runner, epoch: int) -> tuple[list[int], list[float]]:
        rows = probe_rows(runner, up_to=epoch)
        xs, ys = [], []
        for r in rows:
            try:
                xs.append(int(r["epoch"]))
                ys.append(float(r[self.curve_metric]))
            except (KeyError, TypeError, ValueError):
                continue
        return xs, ys

    def after_train_epoch(self, runner) -> None:
        from benchmarks.methods.orsod.selection import annotation_losses, forget_rate, select_large_loss

        epoch = runner.epoch + 1
        if epoch >= runner.max_epochs:
            return
        with self.timed():
            if self.state["transition"] is None:
                xs, ys = self._curve(runner, epoch)
                switch = update_switch(
                    {"on": None}, list(zip(xs, ys)), epoch, r=self.r_threshold,
                    fallback_epoch=cutoff_epoch(self.fallback_frac, runner.max_epochs),
                )  # fmt: skip
                self.state["fit"] = switch["fit"]
                if switch["on"] is not None:
                    self.state["transition"] = {"epoch": epoch, "detected": switch["detected"], "how": switch["how"]}
            record = {"forget_rate": 0.0, "selected": 0}
            if self.state["transition"] is not None:
                t = epoch - self.state["transition"]["epoch"] + 1
                rate = forget_rate(t, self.tau, self.ramp_epochs)
                _, by_image = self.predict_train(runner)
                ids, losses, labels = [], [], []
                for img_id in sorted(self.raw):
                    boxes, labs = self.raw[img_id]
                    pb, ps, pl = by_image.get(img_id, ((), (), ()))
                    loss = annotation_losses(boxes, labs, pb, ps, pl, iou_thr=self.iou_thr)
                    ids.extend((img_id, i) for i in range(len(labs)))
                    losses.append(loss)
                    labels.append(labs)
                losses = np.concatenate(losses) if losses else np.zeros(0)
                labels = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
                chosen = select_large_loss(losses, labels, rate)
                self.state["overrides"] = {}
                for j in np.flatnonzero(chosen):
                    img_id, i = ids[j]
                    self.overrides.setdefault(img_id, {})[i] = {"ignore_flag": 1}
                    self.state["log"].append(
                        {
                            "epoch": epoch,
                            "image_id": img_id,
                            "index": i,
                            "label": int(labels[j]),
                            "loss": float(losses[j]),
                        }
                    )
                record = {
                    "forget_rate": rate,
                    "selected": int(chosen.sum()),
                    "annotations": int(len(losses)),
                    "mean_loss": float(losses.mean()) if len(losses) else None,
                    "min_selected_loss": float(losses[chosen].min()) if chosen.any() else None,
                }
            self.state["per_epoch"][str(epoch)] = record
        self.flush(epoch)
        runner.logger.info(
            "ORSOD epoch %d: transition %s, forget rate %.3f, %d annotations ignored next epoch",
            epoch,
            self.state["transition"],
            record["forget_rate"],
            record["selected"],
        )

    def write_records(self) -> None:
        self.write_state_json(
            {
                "method": "orsod",
                "curve_metric": self.curve_metric,
                "r_threshold": self.r_threshold,
                "fallback_frac": self.fallback_frac,
                "forget_rate": self.tau,
                "ramp_epochs": self.ramp_epochs,
                "iou_thr": self.iou_thr,
                "fit": self.state["fit"],
                "transition": self.state["transition"],
                "per_epoch": self.state["per_epoch"],
                "n_ignored_now": sum(len(v) for v in self.overrides.values()),
                "seconds": round(self.state.get("seconds", 0.0), 3),
            }
        )
        write_json(self.cell_dir / "orsod_selection.json", self.state["log"], indent=None)
