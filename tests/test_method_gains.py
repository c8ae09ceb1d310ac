"""Method gains over the paired baseline (analysis/method_gains.py) on hand-made cells."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from conftest import manifest
from scipy import stats

from analysis.method_gains import main
from benchmarks.errors import InputError


def _cell(runs: Path, method: str, seed: int, ap: float, ap50: float, *, detector="retinanet", probe=None):
    d = runs / "synth" / "combined-0.4" / detector / method / f"seed{seed}"
    d.mkdir(parents=True)
    meta = {"dataset": "synth", "noise": "combined", "rate": 0.4, "detector": detector, "method": method}
    (d / "metrics.json").write_text(json.dumps({**meta, "seed": seed, "AP": ap, "AP50": ap50}))
    if probe is not None:
        with open(d / "probe.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(probe[0]))
            w.writeheader()
            w.writerows(probe)


def _run(tmp_path: Path, runs: Path) -> dict[tuple, dict]:
    out, md = tmp_path / "gains.csv", tmp_path / "gains.md"
    assert main(["--cells", str(manifest(runs)), "--out", str(out), "--markdown", str(md)]) == 0
    assert md.read_text().startswith("# Method gains")
    return {(r["detector"], r["method"]): r for r in csv.DictReader(out.open())}


def test_gain_wins_and_paired_t_match_hand_computation(tmp_path):
    runs = tmp_path / "runs"
    base = {0: 0.040, 1: 0.050, 2: 0.045}
    meth = {0: 0.046, 1: 0.049, 2: 0.055}  # d = +0.6, -0.1, +1.0 points
    for s in base:
        _cell(runs, "baseline", s, base[s], 0.1)
        _cell(runs, "eldet", s, meth[s], 0.12)
    _cell(runs, "orsod", 5, 0.03, 0.1)  # no paired baseline (seed 5): kept, with empty baseline columns
    rows = _run(tmp_path, runs)
    r = rows[("retinanet", "eldet")]
    d = [0.6, -0.1, 1.0]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    t = mean / (sd / math.sqrt(3))
    p = 2 * stats.t.sf(abs(t), df=2)
    assert float(r["dAP"]) == pytest.approx(mean, abs=1e-6)
    assert float(r["dAP_std"]) == pytest.approx(sd, abs=1e-6)
    assert float(r["p_t"]) == pytest.approx(p, rel=1e-5)
    assert r["wins"] == "2/3" and r["n"] == "3" and r["seeds"] == "0 1 2"
    assert float(r["AP"]) == pytest.approx(100 * sum(meth.values()) / 3, abs=1e-6)
    assert float(r["AP_base"]) == pytest.approx(100 * sum(base.values()) / 3, abs=1e-6)
    assert float(r["dAP50"]) == pytest.approx(2.0, abs=1e-6)
    lone = rows[("retinanet", "orsod")]
    assert lone["AP_base"] == "" and lone["wins"] == "0/0" and lone["p_t"] == ""
    assert ("retinanet", "baseline") not in rows


def test_detr_matching_stability_columns_are_epoch_means(tmp_path):
    runs = tmp_path / "runs"
    base_probe = [{"epoch": 1, "IS": "", "match_consistency": 0.5}, {"epoch": 2, "IS": 4.0, "match_consistency": 0.7}]
    dn_probe = [{"epoch": 1, "IS": "", "match_consistency": 0.8}, {"epoch": 2, "IS": 1.0, "match_consistency": 0.9}]
    _cell(runs, "baseline", 0, 0.02, 0.05, detector="deformable_detr", probe=base_probe)
    _cell(runs, "dn_detr", 0, 0.03, 0.06, detector="deformable_detr", probe=dn_probe)
    r = _run(tmp_path, runs)[("deformable_detr", "dn_detr")]
    assert float(r["IS"]) == 1.0 and float(r["IS_base"]) == 4.0  # epoch 1 has no previous epoch: skipped
    assert float(r["consistency"]) == pytest.approx(0.85) and float(r["consistency_base"]) == pytest.approx(0.6)
    assert r["p_t"] == "" and r["wins"] == "1/1"  # one seed: no test


def test_bad_runs_fail_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="file not found") as exc:
        main(["--cells", str(tmp_path / "nope.json"), "--out", str(tmp_path / "g.csv")])
    assert "nope.json" in str(exc.value)
    d = tmp_path / "runs" / "synth" / "combined-0.4" / "retinanet" / "baseline" / "seed0"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"dataset": "synth"}))
    with pytest.raises(InputError, match="lacks") as exc:
        main(["--cells", str(manifest(tmp_path / "runs")), "--out", str(tmp_path / "g.csv")])
    assert "metrics.json" in str(exc.value)
    assert not (tmp_path / "g.csv").exists()


def test_report_index_section_shows_each_method_row(tmp_path):
    from analysis.report_html import gains_section

    assert gains_section(tmp_path / "absent.csv") == []
    runs = tmp_path / "runs"
    for s, (b, m) in enumerate([(0.040, 0.046), (0.050, 0.049)]):
        _cell(runs, "baseline", s, b, 0.1)
        _cell(runs, "eldet", s, m, 0.1)
    _run(tmp_path, runs)
    text = "\n".join(gains_section(tmp_path / "gains.csv"))
    assert text.count("<tr>") == 2 and "<td>eldet</td>" in text  # header + one method row
    assert "<td>0.25</td>" in text and "<td>1/2</td>" in text  # dAP = (0.6 - 0.1) / 2 points


def test_markdown_names_the_hosts_the_cells_were_trained_on(tmp_path):
    runs = tmp_path / "runs"
    for s in (0, 1):
        _cell(runs, "baseline", s, 0.04, 0.1)
        _cell(runs, "eldet", s, 0.05, 0.1)
    host = {"cpu": "Example CPU", "machine": "x86_64", "cpu_capability": "AVX512"}
    for f in sorted(runs.glob("**/seed0/metrics.json")):  # seed 0 records its host, seed 1 (older code) none
        f.write_text(json.dumps({**json.loads(f.read_text()), "host": host}))
    rows = _run(tmp_path, runs)
    md = (tmp_path / "gains.md").read_text()
    named = "Trained on Example CPU (x86_64, AVX512 kernels)"
    assert named + " (2 cells record no host)" in md
    assert rows[("retinanet", "eldet")]["host"] == "Example CPU (x86_64, AVX512 kernels)"
    from analysis.report_html import gains_section

    assert named in "\n".join(gains_section(tmp_path / "gains.csv"))  # the report index says it too
    for f in runs.glob("**/metrics.json"):  # no cell records a host: no claim about one
        m = json.loads(f.read_text())
        m.pop("host", None)
        f.write_text(json.dumps(m))
    rows = _run(tmp_path, runs)
    assert "Trained on" not in (tmp_path / "gains.md").read_text() and rows[("retinanet", "eldet")]["host"] == ""
