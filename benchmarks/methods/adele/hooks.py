"""ADELE's per-class transition detection and label correction, as an mmengine hook.

After every training epoch e (but the last, whose corrections nobody would train on):

1. Predict every training image (test pipeline, the model in eval mode).
2. Per-class curve: each class's COCO AP against the *original* noisy annotations
   (``analysis.probes_per_class``; ADELE's default ``--npl_metrics 0`` measures the fit to the
   original noisy labels, not to the corrected ones).
3. Per class not yet switched on: fit ADELE's saturating exponential to its curve so far
   (``analysis.transition.find_transition``, threshold r = 0.9, horizon e: the transition must have
   been reached, ADELE's ``current_epoch >= update_epoch``). If it bends, the class is switched on
   now, at any epoch. Otherwise, at the cutoff ``ceil(fallback_frac * max_epochs)`` it is switched
   on anyway: ADELE's own search window ends at epoch 15 and a class that has not bent by then is
   updated at epoch 16 of ADELE's ~18.9 epochs (20,000 iterations of 10 images over 10,581), so the
   default fraction is 0.85 (epoch 11 of 12: a late cutoff, not a deadline that caps every
   transition; before issue 17 it was 0.5, which capped every transition at epoch 6 of 12).
4. Correct: for every image, ``labels.correct_image`` on the labels as now served (corrections
   accumulate), with the switched-on classes as the allowed predicted classes.
5. Write the overrides (the dataset serves them from the next epoch on), ``method_state.json``
   (per-class curves, fits, detected and used switch-on epochs, corrections per epoch) and
   ``adele_corrections.json`` (every change: epoch, image, annotation index, old/new class and box,
   score, IoU) in the cell directory; all state is also in the checkpoint (``TrainLabelHook``).
"""

from __future__ import annotations

from mmengine.registry import HOOKS

from benchmarks.atomic import write_json
from benchmarks.methods.common.label_hooks import TrainLabelHook
from benchmarks.methods.common.switch import cutoff_epoch, update_switch


@HOOKS.register_module()
class AdeleHook(TrainLabelHook):
    STATE_KEY = "ndr_adele_state"

    def __init__(
        self,
        *args,
        conf_thr: float = 0.8,
        iou_thr: float = 0.5,
        mode: str = "both",
        r_threshold: float = 0.9,
        curve_metric: str = "AP",
        fallback_frac: float = 0.85,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.conf_thr, self.iou_thr, self.mode = conf_thr, iou_thr, mode
        self.r_threshold, self.curve_metric, self.fallback_frac = r_threshold, curve_metric, fallback_frac

    def fresh_state(self) -> dict:
        return {"overrides": {}, "log": [], "seconds": 0.0, "curves": {}, "classes": {}, "per_epoch": {}}

    def fallback_epoch(self, max_epochs: int) -> int:
        return cutoff_epoch(self.fallback_frac, max_epochs)

    def after_train_epoch(self, runner) -> None:
        from analysis.probes_per_class import per_class_ap
        from benchmarks.data.coco import read_json
        from benchmarks.methods.adele.labels import correct_image

        epoch = runner.epoch + 1
        if epoch >= runner.max_epochs:
            return
        with self.timed():
            dets, by_image = self.predict_train(runner)
            if not hasattr(self, "_gt_noisy"):
                self._gt_noisy = read_json(self.train_ann)
            ap = per_class_ap(self._gt_noisy, dets, metric=self.curve_metric)
            classes = self.state["classes"]
            for label, cat in enumerate(self.cat_ids):
                curve = self.state["curves"].setdefault(str(label), [])
                curve[:] = [p for p in curve if p[0] < epoch] + [[epoch, ap.get(cat, float("nan"))]]
                info = classes.setdefault(str(label), {"name": self.classes[label], "on": None})
                update_switch(
                    info, curve, epoch, r=self.r_threshold, fallback_epoch=self.fallback_epoch(runner.max_epochs)
                )
            active = [int(k) for k, v in classes.items() if v["on"] is not None]
            changed = 0
            if active:
                for img_id in sorted(self.raw):
                    boxes, labels, _ = self.current(img_id)
                    pb, ps, pl = by_image.get(img_id, ((), (), ()))
                    for c in correct_image(
                        boxes, labels, pb, ps, pl, active, conf_thr=self.conf_thr, iou_thr=self.iou_thr, mode=self.mode
                    ):
                        per = self.overrides.setdefault(img_id, {})
                        per[c["index"]] = {"bbox_label": c["new_label"], "bbox": c["new_bbox"]}
                        self.state["log"].append({"epoch": epoch, "image_id": img_id, **c})
                        changed += 1
            self.state["per_epoch"][str(epoch)] = {"active_classes": sorted(active), "corrections": changed}
        self.flush(epoch)
        runner.logger.info(
            "ADELE epoch %d: classes on %s, %d label corrections (%d in total)",
            epoch,
            {self.classes[int(k)]: (v["on"], v.get("how")) for k, v in classes.items() if v["on"] is not None},
            changed,
            len(self.state["log"]),
        )

    def write_records(self) -> None:
        corrected = sum(len(v) for v in self.overrides.values())
        self.write_state_json(
            {
                "method": "adele",
                "conf_thr": self.conf_thr,
                "iou_thr": self.iou_thr,
                "mode": self.mode,
                "r_threshold": self.r_threshold,
                "curve_metric": self.curve_metric,
                "fallback_frac": self.fallback_frac,
                "classes": self.state["classes"],
                "curves": self.state["curves"],
                "per_epoch": self.state["per_epoch"],
                "n_corrections": len(self.state["log"]),
                "n_annotations_changed": corrected,
                "seconds": round(self.state.get("seconds", 0.0), 3),
            }
        )
        write_json(self.cell_dir / "adele_corrections.json", self.state["log"], indent=None)
