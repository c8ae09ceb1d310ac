"""Resolve one cell of a grid into the exact mmengine config that is trained.

Order: detector config (paper/tiny) -> dataset injected (annotation files, image root, classes)
-> class count -> schedule overrides (milestones scaled with the epoch count) -> backbone weights
option -> seeds, checkpointing, logging and the suite's hooks -> the method plug-in. The result is
dumped as the cell's ``config.py``; nothing else decides what is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmengine.config import Config, ConfigDict

from benchmarks.detectors import get_detector
from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids.spec import init_seed, probes_enabled
from benchmarks.methods import MethodContext, get_method, resolve_params
from benchmarks.methods.common.plugin import add_hook, register
from benchmarks.seeding import derive_seed
from benchmarks.training.config_text import format_once
from benchmarks.training.live_logging import vis_backends

HOOK_MODULE = "benchmarks.training.hooks"
MATCHING_HOOK_MODULE = "benchmarks.training.matching_hooks"


def class_names(ann_file: Path) -> list[str]:
    """Category names ordered by category id: label i of the detector is the i-th of these."""
    from benchmarks.data.coco import read_json

    coco = read_json(ann_file)
    cats = sorted(coco.get("categories", []), key=lambda c: c["id"])
    if not cats:
        raise InputError("no categories", path=ann_file)
    return [c["name"] for c in cats]


def _set_dotted(model: ConfigDict, dotted: str, key: str, value) -> None:
    node = model
    for part in dotted.split("."):
        node = node[part]
    node[key] = value


def _scale_schedule(cfg: Config, epochs: int) -> None:
    """Set the epoch count and scale epoch-based scheduler milestones/ends proportionally.

    The papers' 1x schedule drops the lr at epochs 8 and 11 of 12; asked for 24 epochs, the drops
    move to 16 and 22 (rounded), keeping the schedule's shape.
    """
    old = int(cfg.train_cfg.max_epochs)
    cfg.train_cfg.max_epochs = epochs
    if old == epochs:
        return
    ratio = epochs / old
    scheds = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    for sched in scheds:
        if not sched.get("by_epoch", True):
            continue
        if "milestones" in sched:
            sched["milestones"] = sorted({max(1, min(epochs, round(m * ratio))) for m in sched["milestones"]})
        if "end" in sched and sched["end"] is not None:
            sched["end"] = max(1, round(sched["end"] * ratio))
        if "T_max" in sched:
            sched["T_max"] = max(1, round(sched["T_max"] * ratio))


def _set_warmup(cfg: Config, iters: int) -> None:
    """Make the iteration-based linear warm-up ``iters`` long (0 removes it)."""
    scheds = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    warm = [s for s in scheds if s.get("type") == "LinearLR" and not s.get("by_epoch", True)]
    if not warm:
        raise InputError(
            "schedule.warmup_iters is set, but the detector config has no iteration-based LinearLR warm-up"
        )
    for s in warm:
        s["end"] = iters
    cfg.param_scheduler = [s for s in scheds if not (s in warm and iters == 0)]


def _set_dataset(loader: ConfigDict, ann_file: Path, img_root: Path, classes: list[str]) -> None:
    ds = loader.dataset
    while "dataset" in ds and ds.get("type") in ("RepeatDataset", "ClassBalancedDataset"):
        ds = ds.dataset
    ds.type = "CocoDataset"
    ds.data_root = ""
    ds.ann_file = str(ann_file)
    ds.data_prefix = dict(img=str(img_root) + "/")
    ds.metainfo = dict(classes=tuple(classes))


def _fit_synthetic_scale(cfg: Config, grid: dict, dataset: str) -> None:
    """Tiny detectors train and test synthetic images at the images' own side.

    The tiny configs resize to 160 px, the generator's default; a grid that draws smaller images
    (the embedded default's 128 px) would otherwise be upsampled, paying for pixels that hold no
    information.
    """
    ds = grid["datasets"][dataset]
    if grid["size"] != "tiny" or ds["source"] != "synthetic":
        return
    side = int(ds["synthetic"]["size"])
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for step in loader.dataset.pipeline:
            if step.get("type") == "Resize":
                step["scale"] = (side, side)


def build_cell_config(
    grid: dict, cell: G.Cell, *, probes: bool | None = None, device: str = "cpu", identity: dict | None = None
) -> Config:
    """The complete training config of ``cell`` (see the module docstring for the order).

    ``identity`` (:func:`benchmarks.grids.spec.cell_identity`) is recorded in ``cfg.ndr_cell``, so the
    dumped ``config.py`` names the spec and cell hash it was trained under.
    """
    det = get_detector(cell.detector)
    cfg = Config.fromfile(str(det.config_path(grid["size"])))
    data_dir = G.dataset_dir(grid, cell.dataset)
    train_ann = G.train_ann_file(grid, cell)
    classes = class_names(data_dir / "train.json")
    cdir = G.cell_dir(grid, cell)

    _set_dataset(cfg.train_dataloader, train_ann, data_dir / "images", classes)
    _set_dataset(cfg.test_dataloader, data_dir / "val.json", data_dir / "images", classes)
    cfg.test_dataloader.dataset.test_mode = True
    _fit_synthetic_scale(cfg, grid, cell.dataset)
    # Evaluation is done by the suite (analysis.coco_eval on clean val), not by mmengine loops.
    cfg.ndr_val_dataloader = cfg.test_dataloader
    for key in ("val_dataloader", "val_cfg", "val_evaluator", "test_dataloader", "test_cfg", "test_evaluator"):
        cfg[key] = None

    for dotted in det.num_classes_at:
        _set_dotted(cfg.model, dotted, "num_classes", len(classes))

    sched = G.schedule_for(grid, cell.detector)
    if sched["epochs"]:
        _scale_schedule(cfg, int(sched["epochs"]))
    if sched["batch_size"]:
        cfg.train_dataloader.batch_size = int(sched["batch_size"])
    if sched["lr"]:
        cfg.optim_wrapper.optimizer.lr = float(sched["lr"])
    if sched.get("warmup_iters") is not None:
        _set_warmup(cfg, int(sched["warmup_iters"]))
    cfg.train_cfg.val_interval = 10**6
    if sched.get("amp"):
        if device != "cuda":
            raise InputError(
                f"{cell.id}: schedule amp is on, but this job runs on {device}: mixed precision needs a CUDA "
                "device (set schedule.amp: false, or per_detector.<detector>.amp: false, for CPU runs)"
            )
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"

    pretrained = grid["pretrained_backbone"]
    init_from = None
    if pretrained in ("none", G.PRETRAINING):
        cfg.model.backbone.init_cfg = None
        if pretrained == G.PRETRAINING:  # the whole detector, loaded over its fresh init (see train.py)
            pre_cell = G.pretraining_cell(grid, cell)
            init_from = G.weights_file(grid, pre_cell)
            if grid["pretraining"]["class_layers"] == "transfer":
                source = class_names(G.dataset_dir(grid, pre_cell.dataset) / "train.json")
                cfg.ndr_init_classes = dict(source=source, target=list(classes))
    elif pretrained != "default":
        if not Path(pretrained).is_file():
            raise InputError("pretrained_backbone checkpoint not found", path=pretrained)
        cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(pretrained))

    cfg.work_dir = str(cdir / "checkpoint")
    cfg.randomness = dict(seed=init_seed(cell), deterministic=device == "cpu")
    cfg.launcher = "none"
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", interval=1, max_keep_ckpts=2, save_last=True)
    cfg.default_hooks.logger = dict(type="LoggerHook", interval=10)
    cfg.default_hooks.visualization = dict(type="DetVisualizationHook", draw=False)
    cfg.log_processor = dict(type="LogProcessor", window_size=20, by_epoch=True)
    # no fixed name: mmengine then names the visualizer after the timestamped experiment, so a second
    # run in the same process (a --fresh rerun) does not reuse the first one's deleted directory.
    # Backends: the local scalars.json, plus the grid's live view (logging.backend) when asked for.
    cfg.visualizer = dict(type="DetLocalVisualizer", vis_backends=vis_backends(grid, cell.id, G.results_root(grid)))
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
        dist_cfg=dict(backend="nccl" if device == "cuda" else "gloo"),
    )
    # A fresh run starts from the pretraining stage's weights (strict=False: the layers whose shape
    # depends on the class count keep their fresh init, mmengine logs them as size mismatches); a
    # resumed one from its own checkpoint. benchmarks/train.py picks one of the two once the
    # checkpoint guard has decided.
    cfg.ndr_init_from = str(init_from) if init_from else None
    cfg.load_from = None
    cfg.resume = True

    hooks = [
        dict(type="RandomStateHook"),
        dict(type="DivergenceGuardHook", cell=cell.id),
        dict(type="CostMeterHook", out_json=str(cdir / "checkpoint" / "cost_partial.json")),
    ]
    method = get_method(G.method_module(grid, cell.method))
    probe = grid["probe"]
    if probes_enabled(grid, cell, probes):
        probe_batch = int(probe.get("batch_size") or cfg.ndr_val_dataloader.batch_size)
        hooks.append(
            dict(
                type="TrainSetProbeHook",
                noisy_ann=str(train_ann),
                clean_ann=str(data_dir / "train.json"),
                img_root=str(data_dir / "images"),
                classes=tuple(classes),
                subset=int(probe["subset"]),
                subset_seed=derive_seed(cell.dataset, cell.setting, "probe-subset"),
                interval=int(probe["interval"]),
                iou_tau=float(probe["iou_tau"]),
                out_csv=str(cdir / "checkpoint" / "probe_partial.csv"),
                pipeline=cfg.ndr_val_dataloader.dataset.pipeline,
                batch_size=probe_batch,
            )
        )
        if det.family == "detr":  # DN-DETR's IS and OD-DETR's consistency, for every DETR-family cell
            hooks.append(
                dict(
                    type="MatchingStabilityHook",
                    ann_file=str(train_ann),
                    img_root=str(data_dir / "images"),
                    classes=tuple(classes),
                    subset=int(probe["subset"]),
                    subset_seed=derive_seed(cell.dataset, cell.setting, "probe-subset"),
                    pipeline=cfg.ndr_val_dataloader.dataset.pipeline,
                    subset_file=str(cdir / "checkpoint" / "matching_subset.json"),
                    batch_size=probe_batch,
                    ema_decay=float(probe["ema_decay"]),
                    ema_tau=float(probe["ema_tau"]),
                )
            )
    for hook in hooks:
        add_hook(cfg, hook)
    register(cfg, HOOK_MODULE, *([MATCHING_HOOK_MODULE] if det.family == "detr" else []))

    if det.family not in method.FAMILIES:
        raise InputError(f"method '{cell.method}' does not support the {det.family} detector '{cell.detector}'")
    params = resolve_params(method, G.method_params(grid, cell.method))
    teacher = G.teacher_cell(grid, cell)
    if teacher is not None:
        tdir = G.cell_dir(grid, teacher)
        teacher = {"cell": teacher.id, "weights": str(G.weights_file(grid, teacher)), "config": str(tdir / "config.py")}
    ctx = MethodContext(
        cell_id=cell.id,
        detector=cell.detector,
        family=det.family,
        cell_dir=cdir,
        num_classes=len(classes),
        epochs=int(cfg.train_cfg.max_epochs),
        extra={"grid": grid["name"]},
        teacher=teacher,
    )
    cfg = method.apply(cfg, params, ctx)
    cfg.ndr_cell = dict(
        cell.identity(),
        method_module=method.NAME,
        method_params=json.loads(json.dumps(params)),
        teacher=teacher["cell"] if teacher else None,
        size=grid["size"],
        spec_hash=identity["spec_hash"] if identity else None,
        cell_hash=identity["cell_hash"] if identity else None,
    )
    return format_once(cfg)
