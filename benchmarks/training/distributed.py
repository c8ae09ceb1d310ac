"""Multi-process (DDP) training of one cell: launch, process group, rank-0 output, batch record.

A cell that asks for N processes (N GPUs on a cluster, or N CPU processes on the gloo backend for
testing) is run as ``torchrun --standalone --nproc-per-node N -m benchmarks.train ...``: the
training script re-launches itself through :func:`relaunch` when ``--processes`` > 1 and it is not
already a torchrun worker. Inside a SLURM job this is one task holding all N GPUs of one node
(``tasks_per_gpu=0`` in ``workflow/rules/train.smk``), so torchrun, not srun, starts the workers;
multi-node cells are not supported (the papers' 8 GPUs fit one node).

What changes with N processes, and why:

- the process group is created here, before mmengine's Runner, because mmengine's
  ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` unconditionally and fails on CPU-only
  torch builds; the Runner then finds the group initialised and uses it (``launcher='pytorch'``).
- on CPU, DDP must get ``device_ids=None`` (mmengine passes ``[LOCAL_RANK]``, which is only valid
  for CUDA modules), set through ``model_wrapper_cfg``.
- the batch in the grid/config is per process; the total batch is N times it. The learning rate
  follows mmengine's ``auto_scale_lr`` (linear scaling, Goyal et al. 2017): when the detector config
  enables it (the paper configs do, with ``base_batch_size=16`` = 8 GPUs x 2 images), the lr is
  multiplied by ``total_batch / base_batch_size`` by the Runner itself; :func:`batch_record`
  computes the same ratio for ``cost.json`` so the record states the batch and lr actually used.
  The tiny CPU configs disable it (AdamW, tuned at their batch), so there 2 processes x 4 images
  train with the same lr as 1 process x 8.
- BN running statistics are per process (no SyncBN, ``broadcast_buffers=False`` as in mmdet), so
  before every evaluation rank 0's buffers are broadcast (:func:`sync_buffers`): all ranks then hold
  exactly the model that rank 0 checkpoints, and each scores its shard of the images.
- every rank predicts its shard of the val/probe images (mmengine's DefaultSampler splits them);
  :func:`gather_detections` joins the shards on every rank, and only rank 0 writes files.
"""

from __future__ import annotations

import os
import subprocess
import sys

ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


def under_torchrun() -> bool:
    """True inside a worker started by torchrun (it sets RANK, LOCAL_RANK and WORLD_SIZE)."""
    return all(v in os.environ for v in ENV_VARS)


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def torchrun_argv(nproc: int, train_args: list[str]) -> list[str]:
    """The command that runs ``python -m benchmarks.train train_args`` as ``nproc`` workers on this node.

    ``--standalone`` makes torchrun pick a free local rendezvous port, so two cells sharing a node
    (two SLURM jobs on one machine) do not collide on MASTER_PORT.
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "benchmarks.train",
        *train_args,
    ]


def relaunch(nproc: int, train_args: list[str]) -> int:
    """Run the cell as ``nproc`` torchrun workers and return torchrun's exit status.

    The workers inherit stdout/stderr (the rule's log). If SLURM preempts or cancels the job,
    SIGTERM reaches torchrun, which stops its workers; the cell resumes from its checkpoint later.
    """
    cmd = torchrun_argv(nproc, train_args)
    print(f"[train] launching {nproc} processes: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    env = dict(os.environ)
    # torchrun sets OMP_NUM_THREADS=1 per worker unless it is set; keep the caller's value visible
    return subprocess.call(cmd, env=env)


def init_process_group(device: str) -> int:
    """Create the process group of a torchrun worker (gloo on CPU, nccl on CUDA); return the world size."""
    if not under_torchrun():
        return 1
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_world_size()
    if device == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return dist.get_world_size()


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def configure(cfg, device: str, nproc: int) -> None:
    """Make the resolved config of a cell run under torchrun with ``nproc`` processes."""
    if nproc <= 1:
        return
    cfg.launcher = "pytorch"
    if device != "cuda":
        cfg.model_wrapper_cfg = dict(
            type="MMDistributedDataParallel",
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=bool(cfg.get("find_unused_parameters", False)),
        )


def batch_record(cfg, nproc: int, device: str) -> dict:
    """Batch, lr and GPUs actually used, as mmengine's ``Runner.scale_lr`` computes them.

    ``lr`` is the optimizer's base lr after scaling (before warm-up/step schedules), i.e. what the
    paper calls the learning rate of the run.
    """
    per_proc = int(cfg.train_dataloader.batch_size)
    total = per_proc * nproc
    auto = cfg.get("auto_scale_lr") or {}
    enabled = bool(auto.get("enable", False))
    base = int(auto["base_batch_size"]) if enabled and auto.get("base_batch_size") else None
    scale = total / base if base else 1.0
    lr = float(cfg.optim_wrapper.optimizer.lr)
    return {
        "processes": nproc,
        "gpus": nproc if device == "cuda" else 0,
        "batch_per_process": per_proc,
        "total_batch": total,
        "auto_scale_lr_base_batch": base,
        "lr_config": lr,
        "lr_scale": round(scale, 6),
        "lr": lr * scale,
    }


def sync_buffers(model) -> None:
    """Copy rank 0's buffers (BN running statistics) to every rank; no-op with one process."""
    if world_size() <= 1:
        return
    import torch.distributed as dist

    module = getattr(model, "module", model)
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def gather_detections(dets: list[dict]) -> list[dict]:
    """Join every rank's detections of its image shard; the same list on every rank.

    mmengine's DefaultSampler pads the last shard by repeating images, so an image can be scored
    by two ranks; its detections are taken once (from the lowest rank). The result is ordered by
    image id (stable within an image), independent of the number of processes.
    """
    if world_size() <= 1:
        return sorted(dets, key=lambda d: d["image_id"])
    import torch.distributed as dist

    parts: list = [None] * world_size()
    dist.all_gather_object(parts, dets)
    seen: set[int] = set()
    out: list[dict] = []
    for part in parts:
        ids = {d["image_id"] for d in part}
        fresh = ids - seen
        out.extend(d for d in part if d["image_id"] in fresh)
        seen |= ids
    return sorted(out, key=lambda d: d["image_id"])


def all_reduce_sum(*values: float) -> list[float]:
    """Sum scalars over ranks (e.g. a loss sum and its count); the values themselves with one process."""
    if world_size() <= 1:
        return list(values)
    import torch
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
