"""Estimated GPU-hours of a grid, per method, from the training costs the papers report.

    python -m benchmarks.grids.cost benchmarks/grids/eldet_voc.yaml

Why from the papers: before booking a cluster for a paper grid one wants its order of magnitude,
and the only measured costs for the papers' settings are the ones they print (all numbers come
from ``analysis/references``, so they carry their sources):

* ELDET's training-cost tables (1x A100, 12 epochs): RetinaNet/FCOS baseline, ORSOD, ADELE and
  ELDET on VOC, RetinaNet baseline/ELDET on COCO, in hours;
* DN-DETR Sec. 5.6.4: DAB-DETR R50 on COCO, 51.1 (baseline) / 57.7 (5 denoising groups) minutes per
  epoch on 8 A100, i.e. 8 x minutes / 60 GPU-hours per epoch.

Per cell: GPU-hours per epoch x the cell's epochs. The per-epoch cost is, in order of preference,
(1) the paper's number for (dataset, detector, method); (2) the paper's baseline for (dataset,
detector) x the method's cost ratio (method / baseline, averaged over the detectors that report
both); (3) a proxy detector of the same dataset: the dense/two-stage detectors use RetinaNet, the
DETR family uses DAB-DETR (for VOC scaled by the VOC/COCO RetinaNet ratio). Methods without a
reported cost use ratio 1 (flagged). Datasets no paper costs (Pets, VinDr-CXR, synthetic) are
"unknown". The grid is read without importing the method modules, so the estimate works for grids
whose methods are still being written; the method families below mirror their FAMILIES.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from analysis.references import load_references
from benchmarks.errors import InputError, run_cli

ELDET_COST = "rebuttal: training cost vs ORSOD/ADELE (1x A100)"
ELDET_COST_COCO = "rebuttal: training cost (1x A100)"
ELDET_EPOCHS = 12  # the tables are the 1x schedule
DN_DETR_GPUS = 8
DETR_FAMILY = frozenset({"deformable_detr", "deformable_detr_refine", "dino"})
#: method module -> detector families it trains (mirrors each module's FAMILIES; None = all)
FAMILIES = {"dn_detr": DETR_FAMILY, "od_detr": DETR_FAMILY}
DEFAULT_EPOCHS = 12


@dataclass(frozen=True)
class Estimate:
    gpu_hours_per_epoch: float | None
    basis: str


def reported_costs(refs: pd.DataFrame | None = None) -> dict[tuple[str, str, str], float]:
    """(dataset, detector, method) -> GPU-hours per epoch, from the papers."""
    refs = load_references(["eldet", "dn_detr"]) if refs is None else refs
    out = {}
    hours = refs[(refs["metric"] == "hours") & refs["table"].isin([ELDET_COST, ELDET_COST_COCO])]
    for r in hours.to_dict("records"):
        out[(r["dataset"], r["detector"], r["method"])] = r["value"] / ELDET_EPOCHS
    per_epoch = refs[(refs["metric"] == "minutes_per_epoch") & (refs["detector"] == "dab_detr")]
    for r in per_epoch.to_dict("records"):
        out[(r["dataset"], "dab_detr", r["method"])] = r["value"] * DN_DETR_GPUS / 60.0
    return out


def method_ratios(costs: dict) -> dict[str, float]:
    """method -> mean over (dataset, detector) of method cost / baseline cost."""
    ratios: dict[str, list[float]] = {}
    for (ds, det, method), v in costs.items():
        base = costs.get((ds, det, "baseline"))
        if method != "baseline" and base:
            ratios.setdefault(method, []).append(v / base)
    return {m: sum(v) / len(v) for m, v in ratios.items()}


def estimate(costs: dict, ratios: dict, dataset: str, detector: str, method: str) -> Estimate:
    if (dataset, detector, method) in costs:
        return Estimate(costs[(dataset, detector, method)], "reported")
    ratio, why = ratios.get(method, 1.0), ""
    if method != "baseline" and method not in ratios:
        why = f"; no reported cost for {method}: ratio 1"
    if (dataset, detector, "baseline") in costs:
        return Estimate(costs[(dataset, detector, "baseline")] * ratio, f"baseline x {ratio:.2f}{why}")
    if detector in DETR_FAMILY and ("coco", "dab_detr", "baseline") in costs:
        base = costs[("coco", "dab_detr", "baseline")]
        if dataset != "coco":
            if ("voc", "retinanet", "baseline") not in costs or dataset != "voc":
                return Estimate(None, f"no reported cost on {dataset}")
            base *= costs[("voc", "retinanet", "baseline")] / costs[("coco", "retinanet", "baseline")]
        return Estimate(base * ratio, f"proxy DAB-DETR (DN-DETR) x {ratio:.2f}{why}")
    if (dataset, "retinanet", "baseline") in costs:
        return Estimate(costs[(dataset, "retinanet", "baseline")] * ratio, f"proxy RetinaNet x {ratio:.2f}{why}")
    return Estimate(None, f"no reported cost on {dataset}")


def grid_cells(grid: dict) -> list[dict]:
    """The grid's cells (dataset source, detector, entry, module, epochs) without importing methods."""
    sched = grid.get("schedule") or {}
    per_det = sched.get("per_detector") or {}
    noise = [f"{n['type']}-{float(n.get('rate', 0.0)):g}" for n in grid.get("noise") or [{"type": "clean"}]]
    cells = []
    for ds in grid["datasets"].values():
        for setting in noise:
            for det in grid["detectors"]:
                for entry, spec in (grid.get("methods") or {"baseline": {}}).items():
                    spec = spec or {}
                    module = spec.get("method", entry)
                    if FAMILIES.get(module) is not None and det not in FAMILIES[module]:
                        continue
                    if spec.get("detectors") and det not in spec["detectors"]:
                        continue
                    if spec.get("noise") and setting not in spec["noise"]:
                        continue
                    epochs = (per_det.get(det) or {}).get("epochs") or sched.get("epochs") or DEFAULT_EPOCHS
                    for seed in grid.get("seeds") or [0]:
                        cells.append({"dataset": ds["source"], "detector": det, "entry": entry, "module": module,
                                      "epochs": int(epochs), "seed": seed})  # fmt: skip
    return cells


def cost_table(grid: dict, refs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per method entry: cells, epochs, GPU-hours (NaN where no paper reports a usable cost), basis."""
    costs = reported_costs(refs)
    ratios = method_ratios(costs)
    rows = []
    for c in grid_cells(grid):
        est = estimate(costs, ratios, c["dataset"], c["detector"], c["module"])
        gpu_h = None if est.gpu_hours_per_epoch is None else est.gpu_hours_per_epoch * c["epochs"]
        rows.append({**c, "gpu_hours": gpu_h, "basis": f"{c['detector']}: {est.basis}"})
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["method", "cells", "epochs", "gpu_hours", "unknown_cells", "basis"])
    g = df.groupby("entry", sort=False)
    return pd.DataFrame({
        "cells": g.size(),
        "epochs": g["epochs"].sum(),
        "gpu_hours": g["gpu_hours"].sum(min_count=1),
        "unknown_cells": g["gpu_hours"].apply(lambda s: int(s.isna().sum())),
        "basis": g["basis"].apply(lambda s: "; ".join(dict.fromkeys(s))),
    }).rename_axis("method").reset_index()  # fmt: skip


def load_plain(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError("grid file not found", path=path)
    with open(path, encoding="utf-8") as fh:
        grid = yaml.safe_load(fh)
    if not isinstance(grid, dict) or "datasets" not in grid or "detectors" not in grid:
        raise InputError("not a grid (needs datasets and detectors)", path=path)
    return grid


def format_table(table: pd.DataFrame, grid_name: str) -> str:
    lines = [f"grid {grid_name}: estimated GPU-hours (A100) from the papers' reported costs", ""]
    lines.append(f"{'method':<18}{'cells':>6}{'epochs':>8}{'GPU-h':>10}  basis")
    for r in table.to_dict("records"):
        gh = "unknown" if pd.isna(r["gpu_hours"]) else f"{r['gpu_hours']:.0f}"
        if r["unknown_cells"] and not pd.isna(r["gpu_hours"]):
            gh += "+"
        lines.append(f"{r['method']:<18}{r['cells']:>6}{r['epochs']:>8}{gh:>10}  {r['basis']}")
    total = table["gpu_hours"].sum(min_count=1)
    unknown = int(table["unknown_cells"].sum())
    lines += ["", f"total: {'unknown' if pd.isna(total) else f'{total:.0f}'} GPU-hours"
              + (f" (+ {unknown} cells with no reported cost)" if unknown else "")]  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grids.cost", description=__doc__.split("\n")[0])
    p.add_argument("grid", help="grid YAML")
    args = p.parse_args(argv)
    grid = load_plain(args.grid)
    print(format_table(cost_table(grid), grid.get("name", Path(args.grid).stem)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
