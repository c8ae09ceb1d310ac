"""benchmarks/speed/stage_times.py reads a Snakemake log: jobs, busy seconds, spans, training split."""

from __future__ import annotations

import json

import pytest

from benchmarks.errors import InputError
from benchmarks.speed import stage_times as T

LOG = """Building DAG of jobs...
[Tue Dec  1 13:00:00 2026]
localrule cell_spec:
    output: {runs}/synth/clean-0/retinanet/baseline/seed0/spec.json
    jobid: 3
Select jobs to execute...
[Tue Dec  1 13:00:02 2026]
Finished jobid: 3 (Rule: cell_spec)
[Tue Dec  1 13:00:02 2026]
rule train_cell:
    input: x
    output: {runs}/synth/clean-0/retinanet/baseline/seed0/metrics.json, {runs}/synth/clean-0/retinanet/baseline/seed0/probe.csv
    jobid: 1
[Tue Dec  1 13:00:03 2026]
rule train_cell:
    output: {runs}/src/clean-0/retinanet/baseline/seed0/metrics.json
    jobid: 2
[Tue Dec  1 13:01:42 2026]
Finished jobid: 1 (Rule: train_cell)
[Tue Dec  1 13:03:03 2026]
Finished jobid: 2 (Rule: train_cell)
"""


def test_jobs_spans_and_the_training_split(tmp_path, capsys):
    runs = tmp_path / "results" / "g" / "runs"
    cell = runs / "synth/clean-0/retinanet/baseline/seed0"
    cell.mkdir(parents=True)
    (cell / "cost.json").write_text(json.dumps({"train_seconds": 80.0, "probe_seconds": 10.0, "eval_seconds": 1.0}))
    log = tmp_path / "run.snakemake.log"
    log.write_text(LOG.format(runs=runs))
    jobs = T.parse_log(log)
    assert sorted((j["rule"], (j["end"] - j["start"]).total_seconds()) for j in jobs) == [
        ("cell_spec", 2.0), ("train_cell", 100.0), ("train_cell", 180.0)
    ]  # fmt: skip
    costs = T.cell_costs(jobs)
    key = str(cell / "metrics.json")
    assert costs[key] == {"busy": 100.0, "train": 80.0, "probe": 10.0, "eval": 1.0, "rest": 9.0}
    wall = T.report(jobs, {"src"})
    out = capsys.readouterr().out
    assert wall == 183.0 and out.strip().splitlines()[-1].startswith("all: 183 s wall")
    assert "pretraining: retinanet" in out and "baseline: retinanet" in out


def test_a_log_without_finished_jobs_is_an_error(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("Building DAG of jobs...\n")
    with pytest.raises(InputError, match="no finished job"):
        T.parse_log(log)
