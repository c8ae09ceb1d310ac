"""The `slurm` profile against a real one-node SLURM (benchmarks/slurm/testcluster.sh).

Runs when Debian's slurm-wlm and munge are installed (`apt-get install -y slurm-wlm munge`) and is
skipped otherwise; `pytest -m slurm tests/test_slurm.py` runs only these, `-m "not slurm"` leaves them
out. A few minutes on 2 cores:

1. the smoke grid (benchmarks/grids/smoke.yaml, results under a temporary directory) through
   `snakemake --profile slurm all`: every job but the target rule `all` is submitted with sbatch and
   appears COMPLETED in SLURM's job-completion log, and every result equals a local run
   (`--profile local`) of the same grid;
2. a 4-epoch cell is cancelled with `scancel` after its first checkpoint; the next
   `snakemake --profile slurm all` resubmits only that cell (and the analysis that reads it), which
   resumes from its checkpoint;
3. a job in the higher-priority `urgent` partition preempts a running cell; SLURM requeues it
   (`sbatch --requeue` from the profile) and the same Snakemake session sees it resume and finish.

The status command is `squeue` here: the test cluster has no accounting database (sacct needs
slurmdbd), and MinJobAge=3600 keeps finished jobs visible to `squeue --states=all`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "srun")
MISSING = [b for b in DAEMONS if shutil.which(b) is None]
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        bool(MISSING), reason=f"SLURM test cluster needs {', '.join(MISSING)} (apt-get install -y slurm-wlm munge)"
    ),
]

SCRIPT = REPO / "benchmarks" / "slurm" / "testcluster.sh"
# the test cluster: statuses polled often, not the profile's polite 10 s
FAST_STATUS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "3",
    "--max-status-checks-per-second",
    "1",
]
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "n_dets")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running test cluster (own directory and ports); the environment to talk to it."""
    d = tmp_path_factory.mktemp("slurm")
    env = dict(
        os.environ,
        NDR_SLURM_DIR=str(d),
        NDR_SLURM_CTLD_PORT=str(_free_port()),
        NDR_SLURM_SLURMD_PORT=str(_free_port()),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    for var in ("NDR_SLURM_PARTITION", "NDR_SLURM_GPU_PARTITION", "NDR_SLURM_ACCOUNT", "SLURM_JOB_ID"):
        env.pop(var, None)
    up = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    env["SLURM_CONF"] = str(d / "slurm.conf")
    env["PATH"] = f"{d / 'bin'}:{REPO / '.venv' / 'bin'}:{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)
    yield env, d
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


def _grid(tmp: Path, name: str, results: Path, **over) -> Path:
    """The smoke grid, with results under ``results`` (and ``over`` applied)."""
    grid = yaml.safe_load((REPO / "benchmarks" / "grids" / "smoke.yaml").read_text())
    grid["results_dir"] = str(results)
    # one core per cell: the 2-CPU node runs two cells at a time (threads do not change results:
    # the local run uses the same grid)
    grid["resources"] = {"threads": 1, "mem_mb": 2000, "runtime": 20, "gpu": 0}
    grid.update(over)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def _snakemake(env, profile: str, grid: Path, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "--profile", profile, "all", "--configfile", str(grid), *extra]
    if profile == "slurm":
        cmd += FAST_STATUS
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _planned(env, grid: Path) -> list[str]:
    """The rules of the jobs a `snakemake all` of ``grid`` would run now (dry run), one per job,
    sorted; the target rule `all` left out (it runs in the Snakemake process, not via sbatch)."""
    dry = subprocess.run(
        ["snakemake", "-n", "--cores", "1", "--rerun-incomplete", "all", "--configfile", str(grid)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-3000:]
    stats = (dry.stdout + dry.stderr).split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rules = []
    for line in stats.splitlines()[3:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("all", "total"):
            rules += [parts[0]] * int(parts[1])
    return sorted(rules)


def _jobcomp(d: Path) -> dict[str, dict]:
    """SLURM's job-completion log (jobcomp/filetxt): JobId -> fields, one line per finished job."""
    path = d / "jobcomp.log"
    jobs = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        jobs[fields["JobId"]] = fields
    return jobs


def _cells(results: Path) -> dict[str, Path]:
    return {str(p.parent.relative_to(results)): p.parent for p in sorted(results.glob("smoke/runs/**/metrics.json"))}


def test_smoke_grid_through_sbatch_equals_a_local_run(cluster, tmp_path):
    env, d = cluster
    g_slurm = _grid(tmp_path, "smoke_slurm", tmp_path / "slurm")
    g_local = _grid(tmp_path, "smoke_local", tmp_path / "local")

    planned = _planned(env, g_slurm)
    assert planned.count("train_cell") == 4 and "dataset" in planned, planned
    t0 = time.perf_counter()
    run = _snakemake(env, "slurm", g_slurm)
    slurm_seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr[-4000:]
    log = run.stdout + run.stderr
    submitted = SUBMITTED.findall(log)
    rules = sorted(r for _, _, r in submitted)
    # every job of the DAG but the target rule went through sbatch
    assert rules == planned, rules
    finished = _jobcomp(d)
    for _, slurm_id, rule in submitted:
        assert finished[slurm_id]["JobState"] == "COMPLETED", (rule, finished[slurm_id])
        assert finished[slurm_id]["ExitCode"] == "0:0"
    # and ran with the resources of the grid: one CPU, 2000 MB for a training cell
    train_ids = [j for _, j, r in submitted if r == "train_cell"]
    assert all("cpu=1,mem=2000M" in finished[j]["Tres"] for j in train_ids), [finished[j]["Tres"] for j in train_ids]

    local = _snakemake(env, "local", g_local, "--cores", "2")
    assert local.returncode == 0, local.stderr[-4000:]

    cells_s, cells_l = _cells(tmp_path / "slurm"), _cells(tmp_path / "local")
    assert len(cells_s) == 4 and cells_s.keys() == cells_l.keys()
    for cell, ds in cells_s.items():
        dl = cells_l[cell]
        ms, ml = (json.loads((x / "metrics.json").read_text()) for x in (ds, dl))
        assert {k: ms[k] for k in METRICS} == {k: ml[k] for k in METRICS}, cell
        assert (ds / "dets_val.json").read_text() == (dl / "dets_val.json").read_text(), cell
        ps, pl = (list(csv.DictReader((x / "probe.csv").open())) for x in (ds, dl))
        drop = {"probe_seconds"}
        assert [{k: v for k, v in r.items() if k not in drop} for r in ps] == [
            {k: v for k, v in r.items() if k not in drop} for r in pl
        ], cell
    for rel in ("smoke/data/synth/noisy/combined-0.4/train.json", "smoke/tables/transition.csv"):
        assert (tmp_path / "slurm" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    print(f"\nsmoke grid via SLURM: {len(submitted)} sbatch jobs, all COMPLETED, {slurm_seconds:.0f} s; equal to local")


def _wait_for(predicate, timeout: float, what: str, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"snakemake exited ({proc.returncode}) while waiting for {what}:\n{out[-4000:]}")
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_cancelled_cell_resumes_from_its_checkpoint(cluster, tmp_path):
    env, d = cluster
    epochs = 4
    grid = _grid(
        tmp_path,
        "resume",
        tmp_path / "res",
        noise=[{"type": "clean", "rate": 0.0}],
        detectors=["retinanet"],
        schedule={"epochs": epochs},
    )
    cell = "synth/clean-0/retinanet/baseline/seed0"
    cdir = tmp_path / "res" / "smoke" / "runs" / cell
    train_log = tmp_path / "res" / "smoke" / "logs" / "train" / f"{cell}.log"

    # first session: no retries, as if the submitting session had died with the job
    cmd = ["snakemake", "--profile", "slurm", "all", "--configfile", str(grid), "--retries", "0", *FAST_STATUS]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: (cdir / "checkpoint" / "epoch_1.pth").is_file(), 600, "the first checkpoint", proc)
        queue = subprocess.run(
            ["squeue", "-h", "-t", "running", "-o", "%i %k"], env=env, capture_output=True, text=True, check=True
        ).stdout
        job = [line.split()[0] for line in queue.splitlines() if "rule_train_cell" in line]
        assert len(job) == 1, queue
        subprocess.run(["scancel", job[0]], env=env, check=True)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    assert proc.returncode != 0, out[-3000:]
    assert _jobcomp(d)[job[0]]["JobState"] == "CANCELLED"
    assert not (cdir / "metrics.json").exists()
    done_before = sorted(int(p.stem.split("_")[1]) for p in (cdir / "checkpoint").glob("epoch_*.pth"))
    assert done_before and max(done_before) < epochs, done_before

    planned = _planned(env, grid)
    rerun = _snakemake(env, "slurm", grid)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    rules = sorted(r for _, _, r in SUBMITTED.findall(rerun.stdout + rerun.stderr))
    # only the unfinished cell and the analysis that reads it; the data stage is not redone
    assert rules == planned and rules.count("train_cell") == 1, rules
    assert "dataset" not in rules and "corrupt" not in rules, rules
    text = train_log.read_text()
    resumed = re.search(r"resuming from (\S+epoch_(\d+)\.pth)", text)
    assert resumed, text[-3000:]
    assert int(resumed.group(2)) == max(done_before)
    cost = json.loads((cdir / "cost.json").read_text())
    assert cost["resumes"] == 1 and cost["epochs"] == epochs
    rows = list(csv.DictReader((cdir / "probe.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    print(
        f"\ncancelled job {job[0]} after epoch {max(done_before)}; rerun {resumed.group(0)}; resumes={cost['resumes']}"
    )


def test_preempted_cell_is_requeued_by_slurm_and_resumes(cluster, tmp_path):
    """A job in the higher-priority `urgent` partition preempts the training cell (PreemptMode=REQUEUE);
    thanks to the profile's `sbatch --requeue`, SLURM puts the same job back in the queue, and the same
    Snakemake session sees it finish; the cell resumes from its checkpoint."""
    env, d = cluster
    epochs = 4
    grid = _grid(
        tmp_path,
        "preempt",
        tmp_path / "pre",
        noise=[{"type": "clean", "rate": 0.0}],
        detectors=["retinanet"],
        schedule={"epochs": epochs},
    )
    cell = "synth/clean-0/retinanet/baseline/seed0"
    cdir = tmp_path / "pre" / "smoke" / "runs" / cell
    cmd = ["snakemake", "--profile", "slurm", "all", "--configfile", str(grid), *FAST_STATUS]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: (cdir / "checkpoint" / "epoch_1.pth").is_file(), 600, "the first checkpoint", proc)
        queue = subprocess.run(
            ["squeue", "-h", "-t", "running", "-o", "%i %k"], env=env, capture_output=True, text=True, check=True
        ).stdout
        job = [line.split()[0] for line in queue.splitlines() if "rule_train_cell" in line]
        assert len(job) == 1, queue
        # every CPU of the node, in the urgent partition: only possible by preempting the cell
        cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=env, capture_output=True, text=True).stdout.split()[0]
        urgent = subprocess.run(
            ["sbatch", "--parsable", "-p", "urgent", f"--cpus-per-task={cpus}", "--mem", "100", "-t", "5",
             "-o", "/dev/null", "--wrap", "sleep 3"],
            env=env, capture_output=True, text=True, check=True, cwd=tmp_path,
        ).stdout.strip()  # fmt: skip
        show = lambda j: subprocess.run(["scontrol", "show", "job", j], env=env, capture_output=True, text=True).stdout  # noqa: E731
        ctld_log = d / "log" / "slurmctld.log"
        preempted = f"preempted JobId={job[0]} has been requeued to reclaim resources for JobId={urgent}"
        _wait_for(lambda: preempted in ctld_log.read_text(), 120, f"the preemption of job {job[0]}: {show(urgent)}")
        # a requeued job is eligible again 2 minutes later (SLURM's fixed delay), then resumes
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    assert proc.returncode == 0, out[-4000:]
    finished = _jobcomp(d)
    assert finished[urgent]["JobState"] == "COMPLETED" and finished[job[0]]["JobState"] == "COMPLETED"
    assert "Restarts=1" in show(job[0])  # the same SLURM job ran twice
    # SLURM requeued the same job: Snakemake submitted the cell once, no retry of its own
    assert [r for _, _, r in SUBMITTED.findall(out)].count("train_cell") == 1, out[-3000:]
    cost = json.loads((cdir / "cost.json").read_text())
    assert cost["resumes"] == 1 and cost["epochs"] == epochs
    log = (tmp_path / "pre" / "smoke" / "logs" / "train" / f"{cell}.log").read_text()
    assert re.search(r"resuming from \S+epoch_\d+\.pth", log), log[-3000:]
    print(f"\npreempted job {job[0]} by {urgent}: requeued, resumed, completed")
