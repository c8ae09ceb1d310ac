"""The Snakemake workflow: lint/format clean, dry runs, schema errors, and the smoke grid end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, **kw)


def test_snakemake_lint_is_clean():
    out = run([*SNAKEMAKE, "--lint"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakefmt_and_ruff_are_clean():
    fmt = run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"])
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = run([sys.executable, "-m", "ruff", "check", "."])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    form = run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert form.returncode == 0, form.stdout + form.stderr


def test_dry_run_of_the_default_grid_lists_every_cell(tmp_path):
    out = run([*SNAKEMAKE, "-n", "--quiet", "rules", "--config", f"results_dir={tmp_path}"])
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    # 6 pretraining runs (retinanet, fcos, faster_rcnn, gfl, deformable_detr, gfl_r101); baseline: 6 detectors x
    # (clean, combined-0.4) on seed 0 + gfl_r101 clean (BCKD's one teacher), and seeds 1-2 of the 5
    # paired baselines (10); seeds 0-2 of eldet, adele, orsod on retinanet and fcos (18), of bckd, sssd,
    # dn_detr, od_detr (12): 6 + 13 + 10 + 18 + 12 = 59
    assert any(line.split()[:2] == ["train_cell", "59"] for line in text.splitlines()), text
    # the 6 pretraining runs' weights and the one gfl_r101 teacher cell's (seed 0, for all 3 students)
    assert any(line.split()[:2] == ["export_weights", "7"] for line in text.splitlines()), text
    assert any(line.split()[:2] == ["corrupt", "1"] for line in text.splitlines()), text
    assert any(line.split()[:2] == ["dataset", "2"] for line in text.splitlines()), text  # synth + its source set
    assert list(tmp_path.iterdir()) == []  # a dry run writes no file (no job can read a planner's file)


def test_invalid_config_fails_with_a_clear_message(tmp_path):
    out = run([*SNAKEMAKE, "-n", "--config", "size=huge", f"results_dir={tmp_path}"])
    assert out.returncode != 0
    assert "invalid grid" in out.stdout + out.stderr and "size" in out.stdout + out.stderr


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    res = tmp_path_factory.mktemp("smoke")
    out = run(
        [
            *SNAKEMAKE,
            "--cores",
            "2",
            "all",
            "--configfile",
            "benchmarks/grids/smoke.yaml",
            "--config",
            f"results_dir={res}",
        ],
        timeout=1500,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    return res / "smoke"


def test_smoke_grid_runs_end_to_end(smoke_results):
    cells = sorted(smoke_results.glob("runs/*/*/*/*/*/metrics.json"))
    assert len(cells) == 4  # retinanet + faster_rcnn, clean + combined-0.4
    for m in cells:
        rec = json.loads(m.read_text())
        assert 0.0 <= rec["AP"] <= 1.0
        for name in ("probe.csv", "dets_val.json", "cost.json", "config.py"):
            assert (m.parent / name).is_file()
    stats = json.loads((smoke_results / "data/synth/noisy/combined-0.4/stats.json").read_text())
    assert stats["rate"] == 0.4


def test_one_cell_is_a_target_and_reruns_alone(smoke_results):
    """The README's redo: --forcerun retrains the cell from scratch (not a reload of its last epoch)."""
    target = smoke_results / "runs/synth/clean-0/retinanet/baseline/seed0/metrics.json"
    before = json.loads(target.read_text())
    others = {p: p.stat().st_mtime for p in smoke_results.glob("runs/*/*/*/*/*/metrics.json") if p != target}
    out = run(
        [*SNAKEMAKE, "--cores", "2", "--configfile", "benchmarks/grids/smoke.yaml", "--config",
         f"results_dir={smoke_results.parent}", "--forcerun", "train_cell", "--", str(target)],
        timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    log = (smoke_results / "logs/train/synth/clean-0/retinanet/baseline/seed0.log").read_text()
    assert "starting fresh: the run of cell hash" in log and "a rerun retrains" in log, log[-2000:]
    assert "resuming from" not in log
    cost = json.loads((target.parent / "cost.json").read_text())
    assert cost["resumes"] == 0 and cost["cell_hash"] == before["cell_hash"]
    assert all(p.stat().st_mtime == t for p, t in others.items())


def _job_counts(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) == 2 and w[1].isdigit():
            counts[w[0]] = int(w[1])
    return counts


def test_analysis_reads_only_the_cells_of_the_dag(smoke_results):
    """A cell directory left on disk but not in the grid never reaches a table."""
    import shutil

    src = smoke_results / "runs/synth/clean-0/retinanet/baseline/seed0"
    stray = smoke_results / "runs/synth/clean-0/retinanet/dropped/seed0"
    shutil.copytree(src, stray)
    try:
        targets = [str(smoke_results / t) for t in ("tables/cost.csv", "tables/compute.csv", "tables/gains.csv",
                                                    "tables/transition.csv", "tide")]  # fmt: skip
        out = run(
            [*SNAKEMAKE, "--cores", "2", "--configfile", "benchmarks/grids/smoke.yaml", "--config",
             f"results_dir={smoke_results.parent}", "--forcerun", "cell_manifest", "--", *targets],
            timeout=900,
        )  # fmt: skip
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        listed = [c["id"] for c in json.loads((smoke_results / "cells.json").read_text())["cells"]]
        assert len(listed) == 4 and not any("dropped" in c for c in listed)
        for table in ("tables/cost.csv", "tables/compute.csv", "tables/gains.csv", "tables/transition.csv",
                      "tide/tide_cells.csv"):  # fmt: skip
            text = (smoke_results / table).read_text()
            assert "dropped" not in text, table
        assert "baseline" in (smoke_results / "tables/cost.csv").read_text()
    finally:
        shutil.rmtree(stray)


def test_dag_benchmark_builds_a_2000_cell_dag():
    """The speed script itself (its timing is printed, not asserted: speed is not a unit test)."""
    out = run([sys.executable, "-m", "benchmarks.speed.dag", "--cells", "2000"], timeout=300)
    assert "snakemake -n all: 2000 training cells" in out.stdout, out.stdout + out.stderr


def test_a_teacher_cell_feeds_its_student_through_exported_weights(smoke_results, tmp_path):
    """A method entry naming a teacher: the DAG exports the teacher's weights before the student trains."""
    import torch
    import yaml

    grid = yaml.safe_load((REPO / "benchmarks/grids/smoke.yaml").read_text())
    grid["results_dir"] = str(smoke_results.parent)
    grid["methods"]["kd"] = {
        "method": "baseline",  # the baseline ignores its teacher: this checks the DAG edge only
        "detectors": ["retinanet"],
        "noise": ["combined-0.4"],
        "teacher": {"detector": "faster_rcnn", "noise": "clean-0"},
    }
    cfg = tmp_path / "kd.yaml"
    cfg.write_text(yaml.safe_dump(grid))
    dry = run([*SNAKEMAKE, "-n", "--quiet", "rules", "--configfile", str(cfg)])
    assert dry.returncode == 0, dry.stdout + dry.stderr
    counts = {w[0]: w[1] for w in (line.split() for line in (dry.stdout + dry.stderr).splitlines()) if len(w) >= 2}
    assert counts.get("export_weights") == "1" and counts.get("train_cell") == "1", dry.stdout + dry.stderr
    out = run([*SNAKEMAKE, "--cores", "2", "all", "--configfile", str(cfg)], timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    teacher = smoke_results / "runs/synth/clean-0/faster_rcnn/baseline/seed0"
    student = smoke_results / "runs/synth/combined-0.4/retinanet/kd/seed0"
    exported = torch.load(teacher / "weights.pth", map_location="cpu", weights_only=True)
    last = (teacher / "checkpoint" / "last_checkpoint").read_text().strip()
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert exported["meta"]["cell"] == "synth/clean-0/faster_rcnn/baseline/seed0"
    assert set(exported["state_dict"]) == set(ckpt["state_dict"]) and "optimizer" not in exported
    assert all(torch.equal(exported["state_dict"][k], v) for k, v in ckpt["state_dict"].items())
    rec = json.loads((student / "metrics.json").read_text())
    assert rec["teacher"] == "synth/clean-0/faster_rcnn/baseline/seed0" and rec["method_module"] == "baseline"
    assert (teacher / "weights.pth").stat().st_mtime < (student / "metrics.json").stat().st_mtime


def test_an_edited_grid_reruns_exactly_the_changed_cells_fresh(smoke_results, tmp_path):
    """Last in this module: it changes the smoke grid's faster_rcnn cells for the tests after it."""
    import yaml

    grid = yaml.safe_load((REPO / "benchmarks/grids/smoke.yaml").read_text())
    grid["results_dir"] = str(smoke_results.parent)
    grid["schedule"]["per_detector"] = {"faster_rcnn": {"epochs": 2}}
    cfg = tmp_path / "smoke.yaml"  # an edited copy with the same name: the same results
    cfg.write_text(yaml.safe_dump(grid))
    dry = run([*SNAKEMAKE, "all", "-n", "--quiet", "rules", "--configfile", str(cfg)])
    assert dry.returncode == 0, dry.stdout + dry.stderr
    counts = _job_counts(dry.stdout + dry.stderr)
    assert counts["cell_spec"] == 2 and counts["train_cell"] == 2, counts  # the two faster_rcnn cells only
    assert "dataset" not in counts and "corrupt" not in counts
    retina = {p: p.stat().st_mtime for p in smoke_results.glob("runs/*/*/retinanet/*/*/metrics.json")}
    cells = [
        smoke_results / f"runs/synth/{s}/faster_rcnn/baseline/seed0/metrics.json" for s in ("clean-0", "combined-0.4")
    ]
    out = run([*SNAKEMAKE, "--cores", "2", "--configfile", str(cfg), "--", *map(str, cells)], timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    for m in cells:
        rec = json.loads(m.read_text())
        assert rec["identity"]["spec"]["schedule"]["epochs"] == 2
        setting = m.parts[-5]
        log = (smoke_results / f"logs/train/synth/{setting}/faster_rcnn/baseline/seed0.log").read_text()
        assert "starting fresh: checkpoint is of cell hash" in log and "schedule.epochs: 1 -> 2" in log, log[-2000:]
    assert all(p.stat().st_mtime == t for p, t in retina.items())
    again = run([*SNAKEMAKE, "-n", "--quiet", "rules", "--configfile", str(cfg), "--", *map(str, cells)])
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr
