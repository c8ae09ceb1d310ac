"""Where the wall time of a real ``snakemake ... all`` goes, stage by stage.

    python -m benchmarks.speed.stage_times [--log .snakemake/log/<run>.snakemake.log] [--results results/default]
    python -m benchmarks.speed.stage_times --run            # runs `snakemake --cores 2 all` first

Reads Snakemake's own log of the run (the newest under ``.snakemake/log/`` unless ``--log``): every
job's start and finish stamp and its rule. Prints, per stage (rule), the number of jobs, their
summed busy seconds and the stage's wall span (first start to last finish); for the training cells
also the split of their busy time, from each cell's ``cost.json``, into training loop, probes,
evaluation and the rest (process start-up, imports, config building, writing outputs), grouped by
the pretraining stage and by detector. The last line is the whole run's wall time in seconds.
Timings mean something only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from benchmarks.errors import InputError, run_cli

REPO = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
OUTPUT = re.compile(r"^\s+output: (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def parse_log(path: Path) -> list[dict]:
    """Jobs of a Snakemake log: rule, first output, start and finish (datetimes)."""
    jobs: dict[int, dict] = {}
    stamp = None
    pending = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            pending = {"rule": m.group(1), "start": stamp, "output": ""}
        elif pending is not None and (m := OUTPUT.match(line)):
            pending["output"] = m.group(1).split(",")[0].strip()
        elif pending is not None and (m := JOBID.match(line)):
            jobs[int(m.group(1))] = pending
            pending = None
        elif m := FINISHED.match(line):
            job = jobs.get(int(m.group(1)))
            if job is not None:
                job["end"] = stamp
    done = [j for j in jobs.values() if j.get("end") and j.get("start")]
    if not done:
        raise InputError("no finished job in this Snakemake log", path=path)
    return done


def newest_log(root: Path) -> Path:
    logs = sorted((root / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise InputError("no Snakemake log: run the workflow first (or pass --log)", path=root / ".snakemake" / "log")
    return logs[-1]


def cell_costs(jobs: list[dict]) -> dict[str, dict]:
    """Busy time of each training job split by its cost.json (training loop / probes / eval / rest)."""
    import json

    out = {}
    for job in jobs:
        if job["rule"] != "train_cell":
            continue
        cost = Path(job["output"]).parent / "cost.json"
        if not cost.is_absolute():
            cost = REPO / cost
        busy = (job["end"] - job["start"]).total_seconds()
        rec = json.loads(cost.read_text()) if cost.is_file() else {}
        parts = {k: float(rec.get(f"{k}_seconds") or 0.0) for k in ("train", "probe", "eval")}
        parts["rest"] = max(0.0, busy - sum(parts.values()))
        out[job["output"]] = {"busy": busy, **parts}
    return out


def _group(output: str, pretraining: set[str]) -> str:
    parts = Path(output).parts
    if "runs" not in parts:
        return "?"
    cell = parts[parts.index("runs") + 1 :]
    kind = "pretraining" if cell[0] in pretraining else cell[3]
    return f"{kind}: {cell[2]}"


def report(jobs: list[dict], pretraining: set[str]) -> float:
    t0 = min(j["start"] for j in jobs)
    t1 = max(j["end"] for j in jobs)
    by_rule = defaultdict(list)
    for j in jobs:
        by_rule[j["rule"]].append(j)
    print(f"{'stage (rule)':28s} {'jobs':>5s} {'busy s':>9s} {'wall span s':>12s}")
    for rule, js in sorted(by_rule.items(), key=lambda kv: min(j["start"] for j in kv[1])):
        busy = sum((j["end"] - j["start"]).total_seconds() for j in js)
        span = (max(j["end"] for j in js) - min(j["start"] for j in js)).total_seconds()
        print(f"{rule:28s} {len(js):5d} {busy:9.0f} {span:12.0f}")
    costs = cell_costs(jobs)
    if costs:
        groups = defaultdict(lambda: defaultdict(float))
        for out, c in costs.items():
            g = groups[_group(out, pretraining)]
            g["cells"] += 1
            for k, v in c.items():
                g[k] += v
        print()
        print(f"{'training jobs (method: detector)':34s} {'cells':>5s} {'busy s':>8s} {'loop':>7s} {'probes':>7s} "
              f"{'eval':>6s} {'rest':>6s}")  # fmt: skip
        for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["busy"]):
            print(f"{name:34s} {int(g['cells']):5d} {g['busy']:8.0f} {g['train']:7.0f} {g['probe']:7.0f} "
                  f"{g['eval']:6.0f} {g['rest']:6.0f}")  # fmt: skip
        tot = {k: sum(c[k] for c in costs.values()) for k in ("busy", "train", "probe", "eval", "rest")}
        print(f"{'all training jobs':34s} {len(costs):5d} {tot['busy']:8.0f} {tot['train']:7.0f} {tot['probe']:7.0f} "
              f"{tot['eval']:6.0f} {tot['rest']:6.0f}")  # fmt: skip
    wall = (t1 - t0).total_seconds()
    print(f"\nall: {wall:.0f} s wall ({wall / 60:.1f} min), {len(jobs)} jobs")
    return wall


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.stage_times",
        description="Per-stage wall time of a real `snakemake ... all` run, from Snakemake's log.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--log", type=Path, default=None, help="Snakemake log (default: the newest in .snakemake/log)")
    p.add_argument("--run", action="store_true", help="run `snakemake --cores 2 all` (the embedded default) first")
    p.add_argument("--configfile", default=None, help="with --run: a grid other than the default")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.run:
        cmd = ["snakemake", "--cores", "2", "all"] + (["--configfile", args.configfile] if args.configfile else [])
        t = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True)
        print(f"[stage_times] {' '.join(cmd)}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    log = args.log or newest_log(REPO)
    if not log.is_file():
        raise InputError("Snakemake log not found", path=log)
    from benchmarks.grids import grid as G

    default = G.load_grid(args.configfile or REPO / "benchmarks" / "grids" / "default.yaml")
    pretraining = {default["pretraining"]["dataset"]} if default.get("pretraining") else set()
    print(f"[stage_times] {log}", file=sys.stderr)
    report(parse_log(log), pretraining)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
