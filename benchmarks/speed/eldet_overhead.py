"""ELDET's overhead over the baseline: per iteration (alternating steps) or as whole cells.

    python -m benchmarks.speed.eldet_overhead --grid G.yaml --detector retinanet [--iters 20]
    python -m benchmarks.speed.eldet_overhead --whole-cell [--detector retinanet] [--epochs E]

``--whole-cell`` trains the baseline and the ELDET cell of the same default-like cell (synthetic
set as the embedded default's, 40 % combined noise, from scratch) side by side, one core each, as
``all`` runs its cells (``benchmarks.speed.paired_cells``: a drifting machine slows both alike),
``--repeats`` times, and prints both training times (cost.json, probes included) and the median of
the per-repeat ratios, last. ELDET runs at
the paper setting: both parts, ``kd_interval`` 1, and the parts on no later than the rebuttal's VOC
mean transition epochs (CA 3.92, GTBA 8.67 of 12: cutoffs and fallbacks at 0.33 / 0.72 of the
schedule, so a curve that does not bend on the tiny set still switches its part on where the
paper's would have).

Builds the baseline and the ELDET training config of the same cell (the grid must list both
methods and its data stage must exist), takes the same training batches, and alternates one
optimiser step of each model (baseline, ELDET with both distillation parts on, ELDET before any
switch-on = EMA update only, only the localization part on, both parts on, both parts with
``kd_interval = 2``) so that machine load hits all of them alike. Prints the median step
times and their ratios to the baseline. Whole-cell ratios (probes, switch-on epochs) come from the
cost table of real cells (``analysis.cost_table``); this script isolates the per-iteration cost of
the teacher forward, the cross head and the EMA update.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.errors import run_cli
from benchmarks.speed.paired_cells import (
    Side,
    build_synthetic_data,
    format_times,
    median_ratio,
    ratios,
    run_side_by_side,
)
from benchmarks.speed.regime import default_regime


def _setup(grid, cell_id):
    from mmengine.runner import Runner

    from benchmarks.grids import grid as G
    from benchmarks.training.config_builder import build_cell_config

    cell = G.parse_cell_id(grid, cell_id)
    cfg = build_cell_config(grid, cell, probes=False)
    cfg.custom_hooks = []  # the step is timed alone; the EMA update is called by hand
    runner = Runner.from_cfg(cfg)
    optim = runner.build_optim_wrapper(cfg.optim_wrapper)
    return runner, runner.model, optim, cfg


WHOLE_CELL_TARGET = 1.25
# the paper setting of the switch-on epochs (see the module docstring)
PAPER_TIMING = {"cutoff_ca": 0.33, "fallback_ca": 0.33, "cutoff_gtba": 0.72, "fallback_gtba": 0.72, "kd_interval": 1}


def whole_cell(args) -> int:
    """Train the baseline and ELDET cells of one temporary grid side by side; print times and the ratio last."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synth = {"seed": 0, "n_train": args.n_train, "n_val": 16, "size": args.size, "classes": 5}
        grid = {
            "name": "eldetbench",
            "datasets": {"synth": {"source": "synthetic", "synthetic": synth}},
            "noise": [{"type": "combined", "rate": 0.4}],
            "detectors": [args.detector],
            "pretrained_backbone": "none",
            "methods": {"baseline": {}, "eldet": {"params": PAPER_TIMING}},
            "schedule": {"epochs": args.epochs, "batch_size": 8, "lr": 0.001},
            "probe": {"subset": args.subset, "batch_size": args.probe_batch_size},
            "resources": {"threads": args.threads},
        }
        build_synthetic_data(tmp / "data", n_train=args.n_train, size=args.size, combined_rate=0.4)
        cells = {m: f"synth/combined-0.4/{args.detector}/{m}/seed0" for m in ("baseline", "eldet")}
        sides = (Side("baseline", cells["baseline"]), Side("eldet", cells["eldet"]))
        res = run_side_by_side(tmp, grid, tmp / "data", sides, repeats=args.repeats, threads=args.threads)
        state = json.loads((res["eldet"].cell_dir / "method_state.json").read_text())
    r = ratios(res, "eldet", "baseline")
    on = {task: (d or {}).get("switch_on_epoch") for task, d in state.get("tasks", {}).items()}
    print(
        f"tiny {args.detector}, {args.n_train} images of {args.size} px, {args.epochs} epochs, 40 % combined noise, "
        f"{args.threads} thread(s) per cell, {args.repeats} side-by-side pair(s)"
    )
    print(
        f"  baseline: {format_times(res['baseline'].train_seconds)} (probes {format_times(res['baseline'].probe_seconds)})"
    )
    print(
        f"  eldet:    {format_times(res['eldet'].train_seconds)} (probes {format_times(res['eldet'].probe_seconds)}; "
        f"parts on from epochs {on})"
    )
    print(f"  per-pair ratios: {', '.join(f'{x:.3f}' for x in r)}")
    print(f"  whole-cell ratio: {median_ratio(r):.3f}x (target <= {WHOLE_CELL_TARGET}x)")
    return 0


def main(argv=None) -> int:
    d = default_regime()
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.eldet_overhead",
        description=__doc__.split("\n\n")[0],
        epilog="--whole-cell trains two cells; without it, --grid names a grid whose data stage exists.",
    )
    p.add_argument("--grid", help="per-iteration mode: a grid listing baseline and eldet")
    p.add_argument("--detector", default="retinanet")
    p.add_argument("--setting", default="combined-0.4")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=d["threads"], help=f"threads per cell (default grid: {d['threads']})")
    p.add_argument("--repeats", type=int, default=2, help="--whole-cell: side-by-side pairs to run (default 2)")
    p.add_argument("--whole-cell", action="store_true", help="train baseline and ELDET cells; ratio of their times")
    p.add_argument(
        "--epochs", type=int, default=d["epochs"], help=f"--whole-cell: epochs per cell (default grid: {d['epochs']})"
    )
    p.add_argument(
        "--n-train",
        type=int,
        default=d["n_train"],
        help=f"--whole-cell: training images (default grid: {d['n_train']})",
    )
    p.add_argument("--size", type=int, default=d["size"], help=f"--whole-cell: image side (default grid: {d['size']})")
    p.add_argument(
        "--subset", type=int, default=d["subset"], help=f"--whole-cell: probed images (default grid: {d['subset']})"
    )
    args = p.parse_args(argv)
    args.probe_batch_size = d["probe_batch_size"]
    if args.whole_cell:
        return whole_cell(args)
    if not args.grid:
        p.error("--grid is required without --whole-cell")

    import torch

    from benchmarks.grids import grid as G
    from benchmarks.methods.eldet.hooks import warm_decay

    torch.set_num_threads(args.threads)
    grid = G.load_grid(args.grid)
    ds = next(iter(grid["datasets"]))
    runner_b, base, opt_b, cfg = _setup(grid, f"{ds}/{args.setting}/{args.detector}/baseline/seed0")
    _, eld, opt_e, _ = _setup(grid, f"{ds}/{args.setting}/{args.detector}/eldet/seed0")
    eld.load_state_dict({**eld.state_dict(), **base.state_dict()}, strict=False)
    for i in range(len(eld.eldet_teachers)):
        eld.eldet_copy_student_to(i)
    loader = runner_b.build_dataloader(copy.deepcopy(cfg.train_dataloader))
    batches = []
    while len(batches) < args.iters:
        for b in loader:
            batches.append(b)
            if len(batches) >= args.iters:
                break
    base.train()
    eld.train()

    def step_base(b):
        base.train_step(b, opt_b)

    def step_eldet(on, interval=1):
        def fn(b):
            eld.eldet_cfg["kd_interval"] = interval
            eld.eldet_on[0], eld.eldet_on[1] = on
            eld.eldet_frozen[:] = True
            eld.train_step(b, opt_e)

        return fn

    def step_eldet_ema(b):
        eld.eldet_on[:] = False
        eld.eldet_frozen[:] = False
        eld.train_step(b, opt_e)
        eld.eldet_ema_step(warm_decay(0.98, 100))

    fns = {
        "baseline": step_base,
        "eldet (EMA only)": step_eldet_ema,
        "eldet (loc part)": step_eldet((False, True)),
        "eldet (both parts)": step_eldet((True, True)),
        "eldet (both, k=2)": step_eldet((True, True), 2),
    }
    times = {k: [] for k in fns}
    for b in batches[:2]:  # warm-up
        for fn in fns.values():
            fn(b)
    for b in batches:  # an even number of steps per function keeps kd_interval = 2 balanced
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(b)
            times[name].append(time.perf_counter() - t0)
    # means, not medians: with kd_interval = 2 half of the steps distil and half do not
    mean = {k: statistics.fmean(v) for k, v in times.items()}
    for k, v in mean.items():
        print(f"{k:22s} mean {v * 1000:8.1f} ms/iter   ratio {v / mean['baseline']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
