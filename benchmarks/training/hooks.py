"""mmengine hooks of the suite: divergence guard and the per-epoch train-set probes.

Registered in mmengine's HOOKS registry and loaded through ``custom_imports``; mmdet is not edited.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from benchmarks.atomic import write_text
from benchmarks.training.distributed import all_reduce_sum, gather_detections, is_main, sync_buffers
from benchmarks.training.hook_protocol import (
    PRIORITY_COST,
    PRIORITY_DIVERGENCE_GUARD,
    PRIORITY_PROBE,
    PRIORITY_RANDOM_STATE,
    PROBE_EXTRA,
    PROBE_ROWS,
    PROBE_STOP,
)

PROBE_COLUMNS = [
    "epoch",
    "iter",
    "lr",
    "loss",
    "AP",
    "CA",
    "GTBA",
    "AP_clean",
    "CA_clean",
    "GTBA_clean",
]
# The probe's own wall time per epoch lives beside probe.csv's partial copy, not in it: probe.csv
# holds only what the run computed, so a resumed run's file is byte-identical to an uninterrupted
# one's (timings never are).
PROBE_TIMING_FILE = "probe_timing.json"


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Stop at the first non-finite loss, naming the cell, epoch and iteration."""

    priority = PRIORITY_DIVERGENCE_GUARD

    def __init__(self, cell: str = ""):
        self.cell = cell

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        for key, value in outputs.items():
            if "loss" not in key:
                continue
            v = float(value.detach().float().mean()) if hasattr(value, "detach") else float(value)
            if not math.isfinite(v):
                raise TrainingDiverged(
                    f"cell {self.cell}: training diverged ({key} = {v}) at epoch {runner.epoch + 1}, "
                    f"iteration {runner.iter + 1}"
                )


def _subset_coco(coco: dict, image_ids: set[int]) -> dict:
    return {
        "images": [im for im in coco["images"] if im["id"] in image_ids],
        "annotations": [a for a in coco["annotations"] if a["image_id"] in image_ids],
        "categories": coco["categories"],
    }


def choose_subset(coco: dict, size: int, seed: int) -> set[int]:
    """The fixed image subset probe-style hooks score: ``size`` image ids drawn from ``seed``."""
    ids = sorted(im["id"] for im in coco["images"])
    rng = np.random.default_rng(seed)
    return set(rng.choice(ids, size=min(size, len(ids)), replace=False).tolist())


def build_subset_loader(runner, ann_file, img_root: str, classes, pipeline: list, batch_size: int):
    """A test-mode, unshuffled loader over an annotation file (probe, matching and label hooks).

    The sampler's seed is fixed (it orders nothing when unshuffled): with ``seed=None`` mmengine
    draws one from numpy's global generator, which would shift every later augmentation draw, so a
    probed cell would train on other flips than the same cell unprobed.
    """
    return runner.build_dataloader(
        dict(
            batch_size=batch_size,
            num_workers=0,
            persistent_workers=False,
            drop_last=False,
            sampler=dict(type="DefaultSampler", shuffle=False, seed=0),
            dataset=dict(
                type="CocoDataset",
                data_root="",
                ann_file=str(ann_file),
                data_prefix=dict(img=img_root.rstrip("/") + "/"),
                metainfo=dict(classes=tuple(classes)),
                test_mode=True,
                pipeline=pipeline,
            ),
        )
    )


def read_probe_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_probe_rows(path: Path, rows: list[dict]) -> None:
    """probe.csv: the fixed PROBE_COLUMNS first, then any extra columns other hooks added (sorted)."""
    extra = sorted({k for r in rows for k in r} - set(PROBE_COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PROBE_COLUMNS + extra, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def probe_scalars(row: dict) -> dict[str, float]:
    """A probe row's numbers as visualiser scalars (``probe/CA`` ...): the live view's probe curves.

    Prefixed so they never collide with the LoggerHook's ``loss`` / ``lr``; epoch and iter are the
    step, not curves; non-numeric extras are left out.
    """
    out = {}
    for key, value in row.items():
        if key in ("epoch", "iter"):
            continue
        try:
            out[f"probe/{key}"] = float(value)
        except (TypeError, ValueError):
            continue
    return out


@HOOKS.register_module()
class TrainSetProbeHook(Hook):
    """Every ``interval`` epochs, score the model on a fixed subset of the *training* images.

    Writes one row per probed epoch to ``out_csv`` (atomically rewritten): AP, CA (class-agnostic
    AP: localization) and GTBA (ground-truth box allocation AP: classification) against the noisy
    labels the model trains on and against the clean labels, plus the epoch's mean training loss,
    the lr (the probe's own time goes to ``probe_timing.json`` beside it). The subset is drawn once from a seed that depends on the
    dataset and noise setting only, so every method and seed of a setting probes the same images.
    On resume, rows of epochs after the checkpoint are dropped and probing continues.

    It talks to other hooks through ``benchmarks.training.hook_protocol``: the columns a hook
    publishes under ``PROBE_EXTRA`` for this epoch become extra columns of the epoch's row; every
    row so far is published under ``PROBE_ROWS`` (at ``before_train`` and after each probe) for the
    hooks that run after this one (e.g. a method switching on at a detected transition); a
    ``PROBE_STOP`` request makes it probe the last epoch only from then on. The row's numbers also
    go to the runner's visualiser as ``probe/<column>`` scalars at the epoch's last iteration, so
    the grid's live view (``logging.backend``) draws the probe curves beside the losses.
    """

    priority = PRIORITY_PROBE

    def __init__(
        self,
        noisy_ann: str,
        clean_ann: str,
        img_root: str,
        classes: tuple,
        subset: int,
        subset_seed: int,
        interval: int,
        iou_tau: float,
        out_csv: str,
        pipeline: list,
        batch_size: int = 8,
    ):
        self.noisy_ann, self.clean_ann, self.img_root = noisy_ann, clean_ann, img_root
        self.classes, self.subset, self.subset_seed = tuple(classes), subset, subset_seed
        self.interval, self.iou_tau, self.out_csv = interval, iou_tau, Path(out_csv)
        self.pipeline, self.batch_size = pipeline, batch_size
        self.rows: list[dict] = []
        self._loss_sum = 0.0
        self._loss_n = 0
        self.total_seconds = 0.0

    # -- set-up ---------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        from benchmarks.atomic import write_json
        from benchmarks.data.coco import read_json

        t0 = time.perf_counter()
        noisy = read_json(self.noisy_ann)
        clean = read_json(self.clean_ann)
        chosen = choose_subset(clean, self.subset, self.subset_seed)
        self.gt_noisy = _subset_coco(noisy, chosen)
        self.gt_clean = _subset_coco(clean, chosen)
        subset_file = self.out_csv.parent / "probe_subset.json"
        write_json(subset_file, self.gt_noisy, indent=None)
        self.loader = build_subset_loader(
            runner, subset_file, self.img_root, self.classes, self.pipeline, self.batch_size
        )
        self.rows = [r for r in read_probe_rows(self.out_csv) if int(r["epoch"]) <= runner.epoch]
        self._publish_rows(runner)
        self._batches = None  # the subset's decoded, collated batches, loaded at the first probe
        self.total_seconds = time.perf_counter() - t0

    def _publish_rows(self, runner) -> None:
        rows = [dict(r, epoch=int(r["epoch"])) for r in self.rows]
        runner.message_hub.update_info(PROBE_ROWS, rows, resumed=False)  # republished after a resume

    def _due(self, runner, epoch: int) -> bool:
        """Probe this epoch? Every ``interval`` epochs and the last, unless a stop was requested."""
        if epoch == runner.max_epochs:
            return True
        if runner.message_hub.get_info(PROBE_STOP) is not None:
            return False
        return epoch % self.interval == 0

    def _record_seconds(self, epoch: int, seconds: float) -> None:
        from benchmarks.atomic import write_json
        from benchmarks.data.coco import read_json

        timing_file = self.out_csv.parent / PROBE_TIMING_FILE
        timing = read_json(timing_file) if timing_file.is_file() else {}
        timing[str(epoch)] = round(seconds, 3)
        write_json(timing_file, timing)

    # -- loss bookkeeping -----------------------------------------------------------------
    def before_train_epoch(self, runner) -> None:
        self._loss_sum, self._loss_n = 0.0, 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if outputs and "loss" in outputs:
            v = outputs["loss"]
            self._loss_sum += float(v.detach()) if hasattr(v, "detach") else float(v)
            self._loss_n += 1

    # -- the probe ------------------------------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1  # runner.epoch counts completed epochs after this hook
        if not self._due(runner, epoch):
            return
        from analysis.probes import probe_metrics
        from benchmarks.training.predict import decode_batches, label_to_category, predict_coco

        t0 = time.perf_counter()
        if self._batches is None:
            # decoded once and kept (the subset is small: 100 images of 160 px are ~8 MB), so later
            # probes pay for inference and scoring only
            self._batches = decode_batches(self.loader)
            self._cat_ids = label_to_category(self.loader.dataset)
        # multi-process: each rank scores its shard with rank 0's model, the shards are joined
        sync_buffers(runner.model)
        dets = gather_detections(predict_coco(runner.model, self._batches, self._cat_ids))
        t_predicted = time.perf_counter()
        loss_sum, loss_n = all_reduce_sum(self._loss_sum, self._loss_n)
        metrics = probe_metrics(self.gt_noisy, self.gt_clean, dets, tau=self.iou_tau)
        seconds = time.perf_counter() - t0
        self.total_seconds += seconds
        lr = runner.optim_wrapper.get_lr()
        lr = float(next(iter(lr.values()))[0]) if isinstance(lr, dict) else float(lr)
        row = {
            "epoch": epoch,
            "iter": runner.iter,
            "lr": f"{lr:.6g}",
            "loss": f"{loss_sum / max(loss_n, 1):.6f}",
        }
        row.update({k: f"{float(v):.6f}" for k, v in metrics.items()})
        hub = runner.message_hub
        extra = hub.get_info(PROBE_EXTRA) or {}
        columns = extra.get("columns", {}) if extra.get("epoch") == epoch else {}
        row.update({k: f"{float(v):.6g}" if isinstance(v, (int, float)) else str(v) for k, v in columns.items()})
        self.rows = [r for r in self.rows if int(r["epoch"]) != epoch] + [row]
        self._publish_rows(runner)
        if is_main():
            write_probe_rows(self.out_csv, self.rows)
            self._record_seconds(epoch, seconds)
        runner.visualizer.add_scalars(probe_scalars(row), step=runner.iter)
        runner.logger.info(
            "probe epoch %d: CA %.3f GTBA %.3f AP %.3f (clean: CA %.3f GTBA %.3f) in %.1f s "
            "(inference %.2f s, %d detections; scoring %.2f s)",
            epoch,
            metrics.get("CA", float("nan")),
            metrics.get("GTBA", float("nan")),
            metrics.get("AP", float("nan")),
            metrics.get("CA_clean", float("nan")),
            metrics.get("GTBA_clean", float("nan")),
            seconds,
            t_predicted - t0,
            len(dets),
            t0 + seconds - t_predicted,
        )


COST_STATE_KEY = "ndr_cost"


@HOOKS.register_module()
class CostMeterHook(Hook):
    """Accumulate training wall time and the resume count across resumes.

    The running totals travel inside every epoch checkpoint (under ``COST_STATE_KEY``), taken when
    the checkpoint is written, so they always describe exactly the state a resume starts from: a
    process killed between mmengine's checkpoint and any side file can no longer leave the count
    behind (it could while the totals lived in a file written after the checkpoint). A resumed run
    counts one more resume and the time up to its checkpoint; the unfinished epoch a kill cut short
    is redone and counted once. ``<work_dir>/cost_partial.json`` mirrors the totals of the latest
    checkpoint, for ``benchmarks/train.py``'s ``cost.json`` and for a person watching the run.
    """

    priority = PRIORITY_COST

    def __init__(self, out_json: str):
        self.out_json = Path(out_json)
        self.seconds, self.epochs_done, self.resumes = 0.0, 0, 0
        self._t: float | None = None  # set at before_train, which precedes every save

    def totals(self) -> dict:
        return {"train_seconds": self.seconds, "epochs_done": self.epochs_done, "resumes": self.resumes}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # exported weights (a teacher, the pretraining stage) carry no totals: nothing is resumed
        state = checkpoint.get(COST_STATE_KEY)
        if state is not None:
            self.seconds = float(state["train_seconds"])
            self.epochs_done = int(state["epochs_done"])
            self.resumes = int(state["resumes"]) + 1

    def before_train(self, runner) -> None:
        self._t = time.perf_counter()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        from benchmarks.atomic import write_json

        now = time.perf_counter()
        self.seconds += now - self._t
        self._t = now
        self.epochs_done = runner.epoch + 1  # saved at the end of epoch runner.epoch (0-based)
        checkpoint[COST_STATE_KEY] = self.totals()
        if is_main():
            write_json(self.out_json, self.totals())


RANDOM_STATE_KEY = "ndr_random_state"


def capture_random_state() -> dict:
    """Every global random state a training epoch draws from (python, numpy, torch CPU and CUDA)."""
    import random

    import torch

    np_state = np.random.get_state(legacy=False)  # noqa: NPY002  (the global state mmdet transforms draw from)
    state = {
        "python": random.getstate(),
        "numpy": {**np_state, "state": {"key": np_state["state"]["key"].tolist(), "pos": np_state["state"]["pos"]}},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    import random

    import torch

    random.setstate(tuple(state["python"][:1]) + (tuple(state["python"][1]),) + tuple(state["python"][2:]))
    np_state = dict(state["numpy"])
    np_state["state"] = {"key": np.asarray(np_state["state"]["key"], dtype=np.uint32), "pos": np_state["state"]["pos"]}
    np.random.set_state(np_state)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the global random states with every checkpoint and restore them on resume.

    mmengine reseeds at start-up and keeps the sampler's order (seed + epoch), but augmentations
    (random flips, the DETRs' random crops), dropout and DN-DETR's noised queries draw from the
    global numpy / python / torch generators, which a resumed process would restart from the seed.
    The states are captured when the epoch-k checkpoint is written (nothing draws between that and
    the next epoch's start) and put back at the very start of epoch k + 1, after everything that a
    fresh start-up draws (e.g. building the probe loaders), so the resumed epochs see exactly the
    draws of an uninterrupted run (bit-identical on CPU; checked by tests/test_resume.py).
    """

    priority = PRIORITY_RANDOM_STATE

    def __init__(self):
        self._pending: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RANDOM_STATE_KEY] = capture_random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # the checkpoint holds rank 0's states (only rank 0 saves): other ranks of a multi-process
        # run keep their own fresh streams rather than all copying rank 0's
        self._pending = checkpoint.get(RANDOM_STATE_KEY) if is_main() else None
        if self._pending is None and is_main() and "message_hub" in checkpoint:  # a resume, not load_from
            runner.logger.warning("checkpoint has no random state: the resumed epochs draw other augmentations")

    def before_train_epoch(self, runner) -> None:
        if self._pending is not None:
            restore_random_state(self._pending)
            self._pending = None
