"""The Snakemake profiles without a cluster: `--profile slurm|local` resolve from the repository root,
and the sbatch-relevant resources of each rule come from the grid, the environment and the attempt.
Also the per-grid cost table. (The real-SLURM run is tests/test_slurm.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, manifest

from analysis import cost_summary


def _profile_config(name: str) -> Path:
    from snakemake.cli import get_profile_dir

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        entry = get_profile_dir(name)
    finally:
        os.chdir(cwd)
    assert entry is not None, f"--profile {name} does not resolve from {REPO}"
    return Path(REPO / entry[1]).resolve()


@pytest.mark.parametrize("name", ["slurm", "local"])
def test_profile_name_resolves_from_the_repo_root(name):
    assert _profile_config(name) == REPO / "workflow" / "profiles" / name / "config.v9+.yaml"


def _dry_run(tmp_path: Path, profile: str, grid_over: dict, env_over: dict, *extra: str) -> str:
    grid = yaml.safe_load((REPO / "benchmarks" / "grids" / "smoke.yaml").read_text())
    grid["results_dir"] = str(tmp_path / "results")
    grid.update(grid_over)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDR_SLURM")}
    env.update(env_over)
    # a dry run caps threads at --cores (default 1); a cluster run does not
    cmd = ["snakemake", "-n", "--cores", "64", "--profile", profile, "all", "--configfile", str(path), *extra]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


def _jobs(text: str) -> list[dict]:
    """(rule, threads, resources) of every job in a dry run's listing."""
    jobs = []
    for block in re.split(r"\nrule |\nlocalrule ", text)[1:]:
        rule = block.split(":", 1)[0]
        res = re.search(r"resources: (.*)", block)
        threads = re.search(r"threads: (\d+)", block)
        fields = dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {}
        jobs.append({"rule": rule, "threads": int(threads.group(1)) if threads else 1, **fields})
    return jobs


def test_slurm_profile_takes_partition_and_account_from_the_environment(tmp_path):
    text = _dry_run(
        tmp_path,
        "slurm",
        {},
        {"NDR_SLURM_PARTITION": "cpu", "NDR_SLURM_GPU_PARTITION": "gpu", "NDR_SLURM_ACCOUNT": "proj42"},
    )
    assert "Using profiles slurm and workflow specific profile profiles/default" in text
    jobs = _jobs(text)
    train = [j for j in jobs if j["rule"] == "train_cell"]
    other = [j for j in jobs if j["rule"] in ("dataset", "corrupt", "tide_report")]
    assert len(train) == 4 and other
    assert all(j["slurm_partition"] == "gpu" and j["slurm_account"] == "proj42" for j in train)
    assert all(j["slurm_partition"] == "cpu" and j["slurm_account"] == "proj42" for j in other)
    # the smoke grid's resources: 2 threads, 4000 MB, 20 min, no GPU
    assert all((j["threads"], j["mem_mb"], j["runtime"], j["gpu"]) == (2, "4000", "20", "0") for j in train)


def test_unset_environment_leaves_partition_to_the_cluster(tmp_path):
    jobs = _jobs(_dry_run(tmp_path, "slurm", {}, {}))
    assert jobs and not any("slurm_partition" in j or "slurm_account" in j for j in jobs)


def test_gpu_cell_is_one_task_with_n_gpus_of_the_grid_type(tmp_path):
    res = {"threads": 2, "mem_mb": 30000, "runtime": 600, "gpu": 8, "gpu_type": "a100", "cpus_per_gpu": 6}
    text = _dry_run(tmp_path, "slurm", {"resources": res, "size": "paper"}, {}, "-p")
    train = [j for j in _jobs(text) if j["rule"] == "train_cell"]
    assert train and all(
        (j["gpu"], j["gpu_model"], j["cpus_per_gpu"], j["tasks_per_gpu"]) == ("8", "a100", "6", "0") for j in train
    )
    assert all(j["threads"] == 48 for j in train)  # 8 GPUs x 6 cores
    assert "--processes 8" in text  # torchrun with one process per GPU


def test_retries_grow_runtime_and_memory():
    """The resource functions of train_cell, evaluated as Snakemake does on attempts 1..3."""
    ns: dict = {"GRID": {"resources": {"runtime": 60, "mem_mb": 6000, "gpu": 0, "threads": 2, "cpus_per_gpu": 4}}}
    src = (REPO / "workflow" / "rules" / "common.smk").read_text()
    start = src.index("def train_threads")
    exec(compile(src[start:], "common.smk", "exec"), ns)
    assert [ns["scaled_resource"]("runtime", a) for a in (1, 2, 3)] == [60, 120, 180]
    assert [ns["scaled_resource"]("mem_mb", a) for a in (1, 2, 3)] == [6000, 9000, 12000]
    assert ns["train_threads"]() == 2 and ns["gpu_resources"]() == {}


def test_local_profile_dry_run(tmp_path):
    text = _dry_run(tmp_path, "local", {}, {})
    assert "Using profiles local and workflow specific profile profiles/default" in text
    assert sum(j["rule"] == "train_cell" for j in _jobs(text)) == 4


def test_cost_summary_totals(tmp_path):
    runs = tmp_path / "runs"
    cells = {
        "synth/clean-0/retinanet/baseline/seed0": dict(
            gpus=8, processes=8, threads=6, train_seconds=3000.0, eval_seconds=600.0, gpu_hours=8.0, resumes=1
        ),
        "synth/clean-0/fcos/baseline/seed0": dict(
            gpus=0, processes=1, threads=2, train_seconds=1800.0, eval_seconds=0.0, gpu_hours=0.0, resumes=0
        ),
    }
    for cell, cost in cells.items():
        (runs / cell).mkdir(parents=True)
        (runs / cell / "cost.json").write_text(json.dumps({"cell": cell, "device": "x", "epochs": 12, **cost}))
    out, md = tmp_path / "cost.csv", tmp_path / "cost.md"
    assert cost_summary.main(["--cells", str(manifest(runs)), "--out", str(out), "--markdown", str(md)]) == 0
    rows = {r["cell"]: r for r in cost_summary.read_costs(manifest(runs))}
    # 8 GPUs x (3000 + 600) s = 8 GPU-hours; 6 threads x 8 processes x 1 h = 48 core-hours
    assert rows["synth/clean-0/retinanet/baseline/seed0"]["gpu_hours"] == 8.0
    assert rows["synth/clean-0/retinanet/baseline/seed0"]["cpu_core_hours"] == 48.0
    # 2 threads x 0.5 h = 1 core-hour
    assert rows["synth/clean-0/fcos/baseline/seed0"]["cpu_core_hours"] == 1.0
    assert "| **all** | 2 | 8.00 | 49.00 | 1.50 | 1 |" in md.read_text()
    assert out.read_text().splitlines()[0].split(",") == cost_summary.COLUMNS


def test_cost_summary_without_cells_is_an_input_error(tmp_path):
    (tmp_path / "runs").mkdir()
    from benchmarks.errors import run_cli

    assert (
        run_cli(cost_summary.main, ["--cells", str(manifest(tmp_path / "runs")), "--out", str(tmp_path / "c.csv")]) != 0
    )
    assert not (tmp_path / "c.csv").exists()
