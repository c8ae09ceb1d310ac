"""Time two training runs of one synthetic cell side by side, repeatedly, and report their ratio.

Why side by side: the embedded default trains two one-thread cells at a time on two cores, and this
machine's speed drifts by tens of percent within minutes (shared virtual CPUs). Two runs started
together, one core each, see the same drift and the same memory-bandwidth contention as in
``all``, so their *ratio* is stable where two runs one after the other are not. Each repeat starts
both again; the median of the per-repeat ratios is the figure.

Each side gets its own results root (the data stage is shared through a symlink), so the same cell
can be trained twice at once, e.g. with and without probes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Side:
    """One of the two runs: a label, the cell id and extra ``benchmarks.train`` arguments."""

    label: str
    cell: str
    extra: tuple[str, ...] = ()


@dataclass
class SideResult:
    train_seconds: list[float] = field(default_factory=list)
    probe_seconds: list[float] = field(default_factory=list)
    cell_dir: Path | None = None


def build_synthetic_data(data_dir: Path, *, n_train: int, size: int, combined_rate: float | None = None) -> None:
    """``data_dir/synth/clean`` (5 classes, 16 val images, seed 0) like the embedded default's set and,
    with ``combined_rate``, its combined-noise copy under ``data_dir/synth/noisy/combined-<rate>``."""
    synth = data_dir / "synth"
    run = dict(check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.data.synthetic", "--out", str(synth / "clean"), "--seed", "0",
         "--n-train", str(n_train), "--n-val", "16", "--size", str(size), "--classes", "5"], **run,
    )  # fmt: skip
    if combined_rate is None:
        return
    noisy = synth / "noisy" / f"combined-{combined_rate:g}"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.data.corrupt", "--in", str(synth / "clean" / "train.json"),
         "--out", str(noisy / "train.json"), "--noise", "combined", "--rate", str(combined_rate), "--seed", "0",
         "--manifest", str(noisy / "manifest.csv"), "--stats", str(noisy / "stats.json")], **run,
    )  # fmt: skip


def _side_grid(tmp: Path, grid: dict, data_dir: Path, index: int) -> tuple[Path, Path]:
    """A copy of ``grid`` whose results root is side ``index``'s own, with the shared data linked in."""
    root = tmp / f"side{index}"
    g = dict(grid, results_dir=str(root))
    grid_root = root / g["name"]
    grid_root.mkdir(parents=True, exist_ok=True)
    link = grid_root / "data"
    if not link.exists():
        link.symlink_to(data_dir, target_is_directory=True)
    path = tmp / f"grid_side{index}.yaml"
    path.write_text(yaml.safe_dump(g))
    return path, grid_root


def run_side_by_side(
    tmp: Path, grid: dict, data_dir: Path, sides: tuple[Side, Side], *, repeats: int, threads: int
) -> dict[str, SideResult]:
    """Train both sides ``repeats`` times, started together (one after the other when the machine
    has fewer than ``2 * threads`` cores); every run is ``--fresh``. A failing run raises with its
    log's tail."""
    paths = [_side_grid(tmp, grid, data_dir, i) for i in range(2)]
    together = (os.cpu_count() or 1) >= 2 * threads
    out = {s.label: SideResult() for s in sides}
    for rep in range(repeats):
        procs = []
        for (grid_file, root), side in zip(paths, sides):
            log = open(tmp / f"{side.label.replace(' ', '_')}_{rep}.log", "w")  # noqa: SIM115 (closed below)
            cmd = [sys.executable, "-m", "benchmarks.train", "--grid", str(grid_file), "--cell", side.cell,
                   "--fresh", "--threads", str(threads), *side.extra]  # fmt: skip
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            procs.append((proc, log, root, side))
            if not together:
                proc.wait()
        for proc, log, root, side in procs:
            rc = proc.wait()
            log.close()
            if rc != 0:
                tail = Path(log.name).read_text().splitlines()[-15:]
                raise RuntimeError(f"{side.label} ({side.cell}) failed with exit {rc}:\n" + "\n".join(tail))
            cdir = root / "runs" / side.cell
            cost = json.loads((cdir / "cost.json").read_text())
            res = out[side.label]
            res.train_seconds.append(float(cost["train_seconds"]))
            res.probe_seconds.append(float(cost.get("probe_seconds") or 0.0))
            res.cell_dir = cdir
    return out


def ratios(results: dict[str, SideResult], num: str, den: str) -> list[float]:
    """Per-repeat ratio of side ``num``'s training time to side ``den``'s."""
    return [a / b for a, b in zip(results[num].train_seconds, results[den].train_seconds)]


def median_ratio(values: list[float]) -> float:
    return statistics.median(values)


def format_times(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + " s"
