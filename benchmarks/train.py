"""Train, evaluate and record one cell of a grid.

    python -m benchmarks.train --grid benchmarks/grids/default.yaml \\
        --cell synth/combined-0.4/retinanet/baseline/seed0
    python -m benchmarks.train --spec results/default/runs/<cell>/spec.json     # what Snakemake runs

Writes into ``results/<grid>/runs/<cell>/``: ``config.py`` (the resolved mmengine config, exactly
what was trained), ``probe.csv`` (per-epoch train-set probes), ``dets_val.json`` (COCO detections
on clean val), ``cost.json`` (wall time, peak memory, device, epochs) and, last, ``metrics.json``
(clean-val COCO metrics, the cell's identity and the host, ``benchmarks/training/host_info.py``), each atomically. ``checkpoint/`` holds the
resumable state under the cell's hash (``benchmarks/grids/spec.py``): rerunning a killed cell
resumes from its last epoch checkpoint, bit-identically on CPU; a cell whose spec, data or teacher
changed, or whose last run had finished (a forced rerun), starts from scratch and the log says why
(``benchmarks/training/checkpoint_guard.py``). A NaN/inf loss
stops the cell with an error naming it and the epoch (exit 3), and no ``metrics.json`` is written.

``--processes N`` trains on N processes (N GPUs, or N CPU processes on gloo): the script re-launches
itself under torchrun and rank 0 writes the files (see ``benchmarks/training/distributed.py``).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.errors import InputError, run_cli
from benchmarks.training.host_info import host_info

EXIT_DIVERGED = 3


INIT_WEIGHTS = "init_weights.pth"  # the pretraining weights with the cell's class rows (class_layers: transfer)


def _class_transferred_weights(cfg, ckpt: Path) -> None:
    """The pretraining weights with their class layers cut to the cell's classes, written into the
    cell's checkpoint directory at each fresh start (never on a resume, which loads its own checkpoint)."""
    import torch

    from benchmarks.atomic import atomic_path
    from benchmarks.training.class_transfer import transfer_class_tensors

    record = torch.load(cfg.ndr_init_from, map_location="cpu", weights_only=True)
    classes = cfg.ndr_init_classes
    state, sliced = transfer_class_tensors(record["state_dict"], list(classes["source"]), list(classes["target"]))
    out = ckpt / INIT_WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({"state_dict": state, "meta": {**record.get("meta", {}), "class_rows": classes["target"]}}, tmp)
    print(
        f"[train] class layers: {len(sliced)} tensors keep the pretrained rows of {', '.join(classes['target'])}"
        if sliced
        else "[train] class layers: the cell's classes are not all source classes; they start fresh",
        file=sys.stderr,
        flush=True,
    )


def _parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.train",
        description="Train one cell of a grid (see the module docstring for what it writes).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--grid", default=None, help="grid YAML (e.g. benchmarks/grids/default.yaml); with --cell")
    p.add_argument(
        "--cell",
        default=None,
        help="cell id <dataset>/<noise>-<rate>/<detector>/<method>/seed<k>; `snakemake -n all` lists them",
    )
    p.add_argument(
        "--spec",
        default=None,
        help="a cell's spec.json (what Snakemake hands the job: the cell and the part of the grid that decides "
        "it); instead of --grid/--cell",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to train")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: the grid's resources.threads)"
    )
    p.add_argument(
        "--no-probes", action="store_true", help="skip the per-epoch train-set probes (probe.csv is then empty)"
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="training processes on this node (DDP under torchrun; one per GPU on CUDA, gloo on CPU); "
        "the grid's batch size is per process",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start from epoch 1 even when checkpoint/ holds an unfinished run of the same cell hash",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit without training")
    return p.parse_args(argv)


def _package_versions() -> dict:
    import mmcv
    import mmdet
    import mmengine
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mmengine": mmengine.__version__,
        "mmcv": mmcv.__version__,
        "mmdet": mmdet.__version__,
        "numpy": numpy.__version__,
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _peak_host_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main(argv=None) -> int:
    """Train one cell; the process-wide determinism switches mmengine turns on for a CPU cell
    (``randomness.deterministic``) are put back afterwards, so a second cell or a test run in the
    same process is not silently deterministic (and slower)."""
    import torch

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    try:
        return _train(argv)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


def _train(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)
    from benchmarks.grids import grid as G
    from benchmarks.training import distributed as D

    if args.processes < 1:
        raise InputError(f"--processes must be >= 1, got {args.processes}")

    if args.spec is not None:
        if args.grid or args.cell:
            raise InputError("give either --spec or --grid and --cell, not both")
        from benchmarks.grids.spec import read_spec_file

        grid, cell, _ = read_spec_file(args.spec)
    elif args.grid and args.cell:
        grid = G.load_grid(args.grid)
        cell = G.parse_cell_id(grid, args.cell)
    else:
        raise InputError("name the cell: --spec runs/<cell>/spec.json, or --grid G.yaml --cell ID")
    cdir = G.cell_dir(grid, cell)
    data_dir = G.dataset_dir(grid, cell.dataset)
    needs = [G.train_ann_file(grid, cell), data_dir / "val.json", data_dir / "train.json"]
    for source in (G.teacher_cell(grid, cell), G.pretraining_cell(grid, cell)):
        if source is not None:
            needs.append(G.weights_file(grid, source))
    for needed in needs:
        if not needed.is_file():
            raise InputError(
                f"input of cell {cell.id} is missing; run the stage that makes it first "
                f"(snakemake --cores 2 {needed.relative_to(G.REPO_ROOT) if needed.is_relative_to(G.REPO_ROOT) else needed})",
                path=needed,
            )

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA device")
    if device == "cuda" and args.processes > torch.cuda.device_count():
        raise InputError(f"--processes {args.processes} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    from benchmarks.grids.spec import cell_identity
    from benchmarks.training import checkpoint_guard

    identity = cell_identity(grid, cell, probes=False if args.no_probes else None)
    ckpt = cdir / "checkpoint"
    if not D.under_torchrun():  # once per cell, before any training process looks at checkpoint/
        decision = checkpoint_guard.prepare(cdir, ckpt, identity, fresh=args.fresh)
        print(
            f"[train] cell {cell.id} | spec {identity['spec_hash']} | cell hash {identity['cell_hash']} | "
            f"{'resuming' if decision.resume else 'starting fresh'}: {decision.reason}",
            file=sys.stderr,
            flush=True,
        )
    if args.processes > 1 and not D.under_torchrun():
        return D.relaunch(args.processes, [a for a in argv if a != "--fresh"])
    nproc = D.init_process_group(device)
    # the cell's CPU threads are shared by its processes
    threads = max(1, (args.threads or grid["resources"]["threads"]) // nproc)
    torch.set_num_threads(threads)

    from mmengine.runner import Runner

    from benchmarks.atomic import atomic_path, write_json
    from benchmarks.training.config_builder import build_cell_config
    from benchmarks.training.hooks import TrainingDiverged

    cfg = build_cell_config(grid, cell, probes=False if args.no_probes else None, device=device, identity=identity)
    D.configure(cfg, device, nproc)
    if args.print_config:
        print(cfg.pretty_text)
        return 0
    if Path(cfg.work_dir) != ckpt:
        raise AssertionError(f"config work_dir {cfg.work_dir} is not the cell's checkpoint/ {ckpt}")
    D.barrier()
    resuming = (ckpt / "last_checkpoint").is_file()
    if cfg.get("ndr_init_from") and not resuming:  # a fresh run starts from the pretraining stage
        cfg.load_from, cfg.resume = cfg.ndr_init_from, False
        if cfg.get("ndr_init_classes"):  # class_layers: transfer
            if D.is_main():
                _class_transferred_weights(cfg, ckpt)
            D.barrier()
            cfg.load_from = str(ckpt / INIT_WEIGHTS)
    batch = D.batch_record(cfg, nproc, device)
    if D.is_main():
        print(
            f"[train] cell {cell.id} | {grid['size']} {cell.detector} | {cfg.train_cfg.max_epochs} epochs | "
            f"device {device}, {nproc} process(es) x {threads} threads | batch {batch['batch_per_process']} x "
            f"{nproc} = {batch['total_batch']}, lr {batch['lr']:.4g} (x{batch['lr_scale']:g}) | "
            f"{'resuming from ' + (ckpt / 'last_checkpoint').read_text().strip() if resuming else 'fresh start'}"
            f"{'' if resuming or not cfg.load_from else ', initialised from ' + cfg.load_from}",
            file=sys.stderr,
            flush=True,
        )

    from benchmarks.training import inference_pool, uninit_fill
    from benchmarks.training.gc_policy import frozen_startup_objects

    t_start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    inference_pool.install(runner.model)  # the stem max-pools: same numbers, less time
    try:
        with frozen_startup_objects(), uninit_fill.without_uninitialized_fill():
            runner.train()
    except TrainingDiverged as exc:
        print(f"error: {exc}; no metrics.json written (checkpoints of earlier epochs kept in {ckpt})", file=sys.stderr)
        return EXIT_DIVERGED
    if D.world_size() > 1:
        runner.logger.info("DDP: %s", batch)

    # ---- final evaluation on clean val ---------------------------------------------------
    from analysis.coco_eval import evaluate
    from benchmarks.data.coco import read_json
    from benchmarks.training.hooks import PROBE_TIMING_FILE, read_probe_rows, write_probe_rows
    from benchmarks.training.predict import label_to_category, predict_coco

    t_eval = time.perf_counter()
    val_loader = runner.build_dataloader(cfg.ndr_val_dataloader)
    # every rank scores its shard of val with rank 0's model; rank 0 writes the files
    D.sync_buffers(runner.model)
    dets = D.gather_detections(predict_coco(runner.model, val_loader, label_to_category(val_loader.dataset)))
    if not D.is_main():
        D.destroy_process_group()
        return 0
    val_ann = data_dir / "val.json"
    val_gt = read_json(val_ann)
    metrics = evaluate(val_gt, dets)
    eval_seconds = time.perf_counter() - t_eval
    logging.getLogger("benchmarks.train").info("clean-val metrics of %s: %s", cell.id, metrics)

    cost_partial = read_json(ckpt / "cost_partial.json") if (ckpt / "cost_partial.json").is_file() else {}
    probe_rows = read_probe_rows(ckpt / "probe_partial.csv")
    timing_file = ckpt / PROBE_TIMING_FILE
    probe_seconds = sum(float(v) for v in (read_json(timing_file) if timing_file.is_file() else {}).values())
    cost = {
        "cell": cell.id,
        "spec_hash": identity["spec_hash"],
        "cell_hash": identity["cell_hash"],
        "train_seconds": round(float(cost_partial.get("train_seconds", time.perf_counter() - t_start)), 3),
        "probe_seconds": round(probe_seconds, 3),
        "eval_seconds": round(eval_seconds, 3),
        "wall_seconds_this_run": round(time.perf_counter() - t_start, 3),
        "resumes": int(cost_partial.get("resumes", 0)),
        "epochs": int(cfg.train_cfg.max_epochs),
        "iters": int(runner.iter),
        "batch_size": int(cfg.train_dataloader.batch_size),
        **batch,
        "device": device,
        "device_name": torch.cuda.get_device_name(0)
        if device == "cuda"
        else platform.processor() or platform.machine(),
        "threads": threads,
        "peak_host_mb": round(_peak_host_mb(), 1),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device == "cuda" else None,
    }

    # GPU-hours charged to the cell: every GPU held for the training (probes included) and the evaluation
    cost["gpu_hours"] = round(batch["gpus"] * (cost["train_seconds"] + cost["eval_seconds"]) / 3600.0, 4)

    with atomic_path(cdir / "config.py") as tmp:
        cfg.dump(str(tmp))
    write_probe_rows(cdir / "probe.csv", probe_rows)
    write_json(cdir / "dets_val.json", dets, indent=None)
    write_json(cdir / "cost.json", cost)
    record = {
        **cell.identity(),
        "grid": grid["name"],
        "size": grid["size"],
        "method_module": cfg.ndr_cell["method_module"],
        "method_params": cfg.ndr_cell["method_params"],
        "teacher": cfg.ndr_cell["teacher"],
        # NaN (a size range without ground truth) is written as null: strict JSON
        **{k: (None if math.isnan(float(v)) else float(v)) for k, v in metrics.items()},
        "val_ann_file": os.path.relpath(val_ann, G.REPO_ROOT),
        "n_val_images": len(val_gt["images"]),
        "n_dets": len(dets),
        "init_seed": int(cfg.randomness["seed"]),
        "git_commit": _git_commit(),
        "versions": _package_versions(),
        "host": host_info(),
        "spec_hash": identity["spec_hash"],
        "cell_hash": identity["cell_hash"],
        "identity": identity,
    }
    write_json(cdir / "metrics.json", record)
    checkpoint_guard.mark_complete(ckpt, identity)
    print(
        f"[train] {cell.id}: AP {record['AP']:.4f} AP50 {record['AP50']:.4f} | "
        f"train {cost['train_seconds']:.0f} s, probes {probe_seconds:.0f} s | {cdir / 'metrics.json'}",
        file=sys.stderr,
    )
    D.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
