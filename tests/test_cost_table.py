"""Cost table: ratios to the paired baseline cell, means over seeds, the papers' published rows."""

from __future__ import annotations

import csv
import json
import math

import pytest
from conftest import manifest

from analysis.cost_table import build_table, main


def _cell(runs, method, seed, seconds, host_mb, gpu_mb=None, noise="combined", rate=0.4):
    d = runs / "synth" / f"{noise}-{rate}" / "retinanet" / method / f"seed{seed}"
    d.mkdir(parents=True)
    ident = {"dataset": "synth", "noise": noise, "rate": rate, "detector": "retinanet", "method": method, "seed": seed}
    (d / "metrics.json").write_text(json.dumps({**ident, "AP": 0.1}))
    (d / "cost.json").write_text(
        json.dumps({"train_seconds": seconds, "peak_host_mb": host_mb, "peak_gpu_mb": gpu_mb, "device": "cpu"})
    )


def test_ratios_are_to_the_paired_baseline_and_averaged_over_seeds(tmp_path):
    runs = tmp_path / "runs"
    _cell(runs, "baseline", 0, 100.0, 1000.0)
    _cell(runs, "baseline", 1, 200.0, 1000.0)
    _cell(runs, "eldet", 0, 120.0, 1500.0)
    _cell(runs, "eldet", 1, 300.0, 1100.0)
    _cell(runs, "eldet", 2, 50.0, 900.0)  # no baseline of seed 2: no ratio
    rows = build_table(manifest(runs), published=False)
    cells = {(r["method"], r["seed"]): r for r in rows if r["level"] == "cell"}
    assert cells[("eldet", 0)]["time_ratio"] == pytest.approx(1.2)
    assert cells[("eldet", 1)]["time_ratio"] == pytest.approx(1.5)
    assert cells[("eldet", 0)]["memory_ratio"] == pytest.approx(1.5)
    assert math.isnan(cells[("eldet", 2)]["time_ratio"])
    mean = next(r for r in rows if r["level"] == "mean" and r["method"] == "eldet")
    assert mean["n"] == 3 and mean["time_ratio"] == pytest.approx(1.35)  # mean of 1.2 and 1.5
    assert mean["train_seconds"] == pytest.approx((120 + 300 + 50) / 3)
    base = next(r for r in rows if r["level"] == "mean" and r["method"] == "baseline")
    assert base["time_ratio"] == pytest.approx(1.0)


def test_gpu_memory_is_preferred_and_published_rows_follow(tmp_path):
    runs = tmp_path / "runs"
    _cell(runs, "baseline", 0, 100.0, 5000.0, gpu_mb=800.0)
    _cell(runs, "eldet", 0, 110.0, 5000.0, gpu_mb=1000.0)
    out = tmp_path / "cost.csv"
    assert main(["--cells", str(manifest(runs)), "--out", str(out), "--markdown", str(tmp_path / "cost.md")]) == 0
    rows = list(csv.DictReader(out.open()))
    eldet = next(r for r in rows if r["level"] == "cell" and r["method"] == "eldet")
    assert eldet["memory_kind"] == "gpu" and float(eldet["memory_ratio"]) == pytest.approx(1.25)
    pub = [r for r in rows if r["level"] == "published" and r["dataset"] == "voc" and r["detector"] == "retinanet"]
    eldet_pub = next(r for r in pub if r["method"] == "eldet" and "vs ORSOD" in r["source"])
    assert float(eldet_pub["time_ratio"]) == pytest.approx(4.23 / 2.51, rel=1e-4)  # the discussion's 1.69x
    assert float(eldet_pub["memory_ratio"]) == pytest.approx(17967 / 11418, rel=1e-4)
    md = (tmp_path / "cost.md").read_text()
    assert "## Published (papers)" in md and "| synth | combined | 0.4 | retinanet | eldet |" in md
