"""Transition table and plots on a fake runs directory whose probe curves come from known parameters."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import manifest
from scipy import stats

from analysis import transition_plots as P
from analysis import transition_table as TT
from analysis.cell_files import discover
from benchmarks.errors import run_cli

REPO = Path(__file__).resolve().parents[1]
LN10 = math.log(10.0)
HEADER = "epoch,iter,lr,loss,AP,CA,GTBA,AP_clean,CA_clean,GTBA_clean,probe_seconds"


def curve(x, a, c):
    """b = 1 curves: a (1 - exp(-x / c)); their transition (r = 0.9) is floor(1 + c ln 10) + 1."""
    return a * (1.0 - np.exp(-np.asarray(x, float) / c))


def t_of(c: float) -> int:
    return math.floor(1.0 + c * LN10) + 1


def write_cell(runs: Path, dataset, noise, rate, det, method, seed, ca_c, gtba_c, *, epochs=12, metrics=True,
               clean=True, cost_epochs=None) -> Path:  # fmt: skip
    d = runs / dataset / f"{noise}-{rate:g}" / det / method / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    x = np.arange(1, epochs + 1)
    ca, gt = curve(x, 0.6, ca_c), curve(x, 0.45, gtba_c)
    ca_cl, gt_cl = curve(x, 0.7, 1.0), curve(x, 0.55, 1.5)
    rows = [HEADER]
    for i, e in enumerate(x):
        cl = f"{ca_cl[i]:.8f},{gt_cl[i]:.8f}" if clean else ","
        rows.append(f"{e},{100 * e},0.01,0.5,0.3,{ca[i]:.8f},{gt[i]:.8f},,{cl},0.2")
    (d / "probe.csv").write_text("\n".join(rows) + "\n")
    if metrics:
        ident = {"cell": "x", "dataset": dataset, "noise": noise, "rate": rate, "detector": det, "method": method,
                 "seed": seed, "AP": 0.3}  # fmt: skip
        (d / "metrics.json").write_text(json.dumps(ident))
    if cost_epochs:
        (d / "cost.json").write_text(json.dumps({"epochs": cost_epochs}))
    return d


# CA / GTBA time constants per (detector, rate) and seed -> transitions t_of(c)
CA_C = {("retinanet", 0.2): [1.0, 1.2, 1.6], ("retinanet", 0.4): [1.1, 1.1, 1.9],
        ("fcos", 0.2): [1.0, 1.4, 1.6], ("fcos", 0.4): [1.2, 1.5, 2.0]}  # fmt: skip
GTBA_C = {("retinanet", 0.2): [2.5, 2.9, 2.5], ("retinanet", 0.4): [3.3, 2.0, 4.0],
          ("fcos", 0.2): [2.0, 2.8, 10.3], ("fcos", 0.4): [3.6, 4.2, 2.5]}  # fmt: skip
# all c chosen so that 1 + c ln 10 is >= 0.2 away from an integer (no rounding knife-edge);
# fcos 0.2 seed2 GTBA: c = 10.3 -> transition 25 > 12 epochs -> null


@pytest.fixture()
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    for (det, rate), cs in CA_C.items():
        for seed, (ca_c, g_c) in enumerate(zip(cs, GTBA_C[(det, rate)])):
            write_cell(root, "voc", "combined", rate, det, "baseline", seed, ca_c, g_c, metrics=seed != 1)
    return root


def expected(det=None, rate=None):
    """Per-run expected (ca, gtba) epochs of a group, None where the transition lies past epoch 12."""
    out = []
    for (d, r), cs in CA_C.items():
        if (det is None or d == det) and (rate is None or r == rate):
            for ca_c, g_c in zip(cs, GTBA_C[(d, r)]):
                g = t_of(g_c)
                out.append((t_of(ca_c), g if g <= 12 else None))
    return out


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_closed_form_values(tmp_path):
    """The table's per-run analysis (project code) on written probe curves gives the hand-computed
    epochs: b = 1 -> first t > 1 + c ln 10 = 3.30, 3.76, 6.76, 24.72 for c = 1.0, 1.2, 2.5, 10.3."""
    hand = {1.0: 4, 1.2: 4, 2.5: 7, 10.3: None}  # 25 lies past the 12-epoch schedule: null
    assert [t_of(c) for c in hand] == [4, 4, 7, 25]
    root = tmp_path / "runs"
    for seed, (ca_c, gtba_c) in enumerate([(1.0, 2.5), (1.2, 10.3)]):
        write_cell(root, "voc", "combined", 0.2, "retinanet", "baseline", seed, ca_c, gtba_c, cost_epochs=12)
        (ref,) = [r for r in discover(root) if r.cell.seed == seed]
        run = TT.analyse_run(ref)
        assert run["horizon"] == 12
        assert run["fits"]["CA"]["epoch"] == hand[ca_c]
        assert run["fits"]["GTBA"]["epoch"] == hand[gtba_c]
    assert "no transition by epoch 12" in run["fits"]["GTBA"]["reason"]


def test_table_values(runs, tmp_path):
    out, md = tmp_path / "tables" / "transition.csv", tmp_path / "tables" / "transition.md"
    code = run_cli(TT.main, ["--cells", str(manifest(runs)), "--out", str(out), "--markdown", str(md), "--no-progress"])
    assert code == 0
    rows = read_rows(out)
    assert [r["level"] for r in rows] == ["setting"] * 4 + ["rate_mean"] * 2 + ["dataset_mean"]
    assert [(r["detector"], r["rate"]) for r in rows[:4]] == [
        ("retinanet", "0.2"), ("retinanet", "0.4"), ("fcos", "0.2"), ("fcos", "0.4")
    ]  # the paper's detector order, then rate  # fmt: skip
    groups = [("retinanet", 0.2), ("retinanet", 0.4), ("fcos", 0.2), ("fcos", 0.4), (None, 0.2), (None, 0.4), (None, None)]  # fmt: skip
    for row, (det, rate) in zip(rows, groups):
        pairs = expected(det, rate)
        ca = [c for c, _ in pairs]
        gt = [g for _, g in pairs if g is not None]
        d = [g - c for c, g in pairs if g is not None]
        assert row["labels"] == "noisy" and int(row["n_runs"]) == len(pairs)
        assert float(row["ca_mean"]) == pytest.approx(np.mean(ca), abs=1e-4)
        assert float(row["ca_std"]) == pytest.approx(np.std(ca, ddof=1), abs=1e-4)
        assert int(row["ca_n"]) == len(ca) and int(row["gtba_n"]) == len(gt)
        assert float(row["gtba_mean"]) == pytest.approx(np.mean(gt), abs=1e-4)
        assert float(row["diff_mean"]) == pytest.approx(np.mean(d), abs=1e-4)
        assert int(row["n_pairs"]) == len(d)

    # retinanet 0.2: CA (4, 4, 5), GTBA (7, 8, 7) -> d = (3, 4, 2): paired one-sided t by hand
    r = rows[0]
    assert r["ca_epochs"] == "seed0:4;seed1:4;seed2:5" and r["gtba_epochs"] == "seed0:7;seed1:8;seed2:7"
    t = 3.0 / (1.0 / math.sqrt(3))  # mean 3, sd 1
    assert r["test"] == "paired t-test, one-sided"
    assert float(r["statistic"]) == pytest.approx(t, rel=1e-5)
    assert float(r["p_value"]) == pytest.approx(stats.t.sf(t, df=2), rel=1e-4)

    # fcos 0.2: GTBA of seed2 is past the schedule -> 2 pairs, null reason recorded
    r = rows[2]
    assert r["gtba_epochs"].endswith("seed2:-") and int(r["n_pairs"]) == 2
    assert "GTBA seed2: no transition by epoch 12" in r["null_reasons"]

    # pooled averages: rate 0.2 has 5 pairs (one null) -> t-test; 0.4 (6) and all (11) -> Wilcoxon,
    # where every difference is positive so W+ = n(n+1)/2
    assert [int(r["n_pairs"]) for r in rows[4:]] == [5, 6, 11]
    d = np.array([g - c for c, g in expected(None, 0.2) if g is not None], float)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    assert rows[4]["test"] == "paired t-test, one-sided" and float(rows[4]["statistic"]) == pytest.approx(t, rel=1e-5)
    for r in rows[5:]:
        n = int(r["n_pairs"])
        assert r["test"] == "wilcoxon signed-rank, one-sided"
        assert float(r["statistic"]) == pytest.approx(n * (n + 1) / 2)
        assert float(r["p_value"]) < 0.05
    assert rows[4]["rate"] == "0.2" and rows[4]["detector"] == "all" and rows[6]["rate"] == "all"

    text = md.read_text()
    assert "| retinanet | 20% | 4.33 ± 0.58 (n=3) | 7.33 ± 0.58 (n=3) | +3.00 | 3 | t (5.2) |" in text
    assert "**Average (voc)**" in text and "fcos 20%, GTBA seed2: no transition by epoch 12" in text


def test_clean_labels_option(runs, tmp_path):
    out = tmp_path / "clean.csv"
    assert (
        run_cli(TT.main, ["--cells", str(manifest(runs)), "--out", str(out), "--labels", "clean", "--no-progress"]) == 0
    )
    row = read_rows(out)[0]
    # clean curves: CA c = 1.0 -> 4, GTBA c = 1.5 -> 5 for every seed: constant difference, no test
    assert row["labels"] == "clean" and row["ca_mean"] == "4.0000" and row["gtba_mean"] == "5.0000"
    assert row["test"] == "none" and "differences equal (+1)" in row["test_note"]


@pytest.mark.parametrize(
    "ca,gtba,test,stat,p",
    [
        ([1] * 6, [2, 3, 4, 5, 6, 7], "wilcoxon", 21.0, 1 / 64),  # all six d > 0: exact p = 1/2^6
        ([0] * 6, [1, 2, 3, 4, 5, -6], "wilcoxon", 15.0, 14 / 64),  # W+ = 15; 14 of 64 sign patterns reach it
        ([3, 4], [5, 7], "t-test", 5.0, stats.t.sf(5.0, 1)),  # d = (2, 3): mean 2.5, sd 0.707 -> t = 5
    ],
)
def test_paired_test_hand_values(ca, gtba, test, stat, p):
    res = TT.paired_test(ca, gtba)
    assert test in res["test"]
    assert res["statistic"] == pytest.approx(stat, rel=1e-6)
    assert res["p_value"] == pytest.approx(p, rel=1e-6)


def test_paired_test_degenerate():
    assert "n=1 pair(s) < 2" in TT.paired_test([3], [5])["test_note"]
    assert TT.paired_test([], [])["test"] == "none"
    res = TT.paired_test([3, 4, 5], [5, 6, 7])
    assert res["test"] == "none" and "all 3 differences equal (+2)" in res["test_note"]
    # 7 pairs but only 3 non-zero differences: too few for Wilcoxon -> t-test, and it says so
    res = TT.paired_test([4] * 7, [4, 4, 4, 4, 5, 6, 7])
    assert res["test"] == "paired t-test, one-sided" and "3 non-zero" in res["test_note"]


def test_discovery_identity_and_horizon(tmp_path):
    root = tmp_path / "runs"
    # no metrics.json: identity from the path; cost.json says 30 epochs -> c = 10.3 transition (25) is found
    write_cell(root, "coco", "loc", 0.3, "gfl", "eldet", 4, 1.0, 10.3, metrics=False, cost_epochs=30)
    # a cell trained without probes (header only) is skipped
    empty = write_cell(root, "coco", "loc", 0.3, "gfl", "eldet", 5, 1.0, 2.0)
    (empty / "probe.csv").write_text(HEADER + "\n")
    # no clean labels: those curves are absent, not an error
    write_cell(root, "coco", "loc", 0.3, "gfl", "eldet", 6, 1.0, 2.0, clean=False)
    runs = TT.collect_runs(manifest(root), progress=False)
    assert [(r["dataset"], r["noise"], r["rate"], r["detector"], r["method"], r["seed"]) for r in runs] == [
        ("coco", "loc", 0.3, "gfl", "eldet", 4), ("coco", "loc", 0.3, "gfl", "eldet", 6)
    ]  # fmt: skip
    assert runs[0]["horizon"] == 30 and runs[0]["fits"]["GTBA"]["epoch"] == 25
    assert runs[0]["fits"]["GTBA"]["beyond_last_probe"] is True
    assert runs[1]["horizon"] == 12 and set(runs[1]["fits"]) == {"CA", "GTBA"}


def test_table_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli(TT.main, ["--cells", str(manifest(tmp_path / "empty")), "--out", str(tmp_path / "t.csv")]) == 2
    assert "no cell with probe rows" in capsys.readouterr().err
    d = write_cell(tmp_path / "runs", "voc", "cls", 0.2, "fcos", "baseline", 0, 1.0, 2.0)
    (d / "probe.csv").write_text(HEADER + "\n1,100,0.01,0.5,0.3,0.2,oops,,,,0.2\n")
    assert run_cli(TT.main, ["--cells", str(manifest(tmp_path / "runs")), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "probe.csv (line 2)" in err and "'oops' is not a number" in err
    assert not (tmp_path / "t.csv").exists()


# ------------------------------------------------------------------------------------- plots
def _is_png(p: Path) -> bool:
    return p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots(tmp_path):
    root = tmp_path / "runs"
    for det in ("retinanet", "fcos"):
        for seed, (ca_c, g_c) in enumerate([(1.0, 2.5), (1.2, 10.3)]):  # seed1 GTBA: no transition (note)
            write_cell(root, "voc", "combined", 0.4, det, "baseline", seed, ca_c, g_c, clean=seed == 0)
    out = tmp_path / "fig"
    assert run_cli(P.main, ["--cells", str(manifest(root)), "--out-dir", str(out), "--no-progress"]) == 0
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == 8  # 4 cells x (png, svg)
    for p in cells:
        assert p.stat().st_size > 5000
        assert _is_png(p) if p.suffix == ".png" else p.read_text().lstrip().startswith("<?xml")
    assert (out / "cells" / "voc__combined-0.4__fcos__baseline__seed1.png").is_file()
    summary = out / "summary__voc__baseline__combined.png"
    assert _is_png(summary) and summary.stat().st_size > 5000
    assert "<svg" in (out / "summary__voc__baseline__combined.svg").read_text()
    assert not list(out.rglob(".tmp-*"))  # atomic writes leave no temporaries


def test_plots_summary_only_and_frame(runs, tmp_path):
    out = tmp_path / "fig"
    assert run_cli(P.main, ["--cells", str(manifest(runs)), "--out-dir", str(out), "--no-cells", "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["summary__voc__baseline__combined.png", "summary__voc__baseline__combined.svg"]  # fmt: skip
    df = P.transitions_frame(TT.collect_runs(manifest(runs), progress=False))
    sub = df[(df.detector == "fcos") & (df.rate == 0.2)]
    assert sorted(sub[sub.metric == "CA"]["epoch"]) == sorted(c for c, _ in expected("fcos", 0.2))
    assert sorted(sub[sub.metric == "GTBA"]["epoch"]) == sorted(g for _, g in expected("fcos", 0.2) if g)


def test_module_entry_points_help():
    for mod in ("analysis.transition_table", "analysis.transition_plots"):
        run = subprocess.run([sys.executable, "-m", mod, "--help"], capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 0 and "--cells" in run.stdout
