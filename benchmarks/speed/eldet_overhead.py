"""ELDET's per-iteration overhead over the baseline, measured in one process with alternating steps.

    python -m benchmarks.speed.eldet_overhead --grid G.yaml --detector retinanet [--iters 20]

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
import statistics
import sys
import time

from benchmarks.errors import run_cli


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.eldet_overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", required=True)
    p.add_argument("--detector", default="retinanet")
    p.add_argument("--setting", default="combined-0.4")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

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
