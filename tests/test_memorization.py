"""Memorization table: the clean-label peak, its drop and the noisy-label fit, against hand-made curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import manifest

from analysis import memorization as M
from benchmarks.errors import run_cli

HEADER = "epoch,iter,lr,loss,AP,CA,GTBA,AP_clean,CA_clean,GTBA_clean"


def test_peak_drop_and_rising_noisy_fit_is_memorization():
    # clean AP peaks at epoch 3 (0.40) and ends at 0.30: drop 25 %; noisy AP 0.20 at epoch 3 -> 0.35
    r = M.memorization([1, 2, 3, 4, 5], [0.2, 0.35, 0.40, 0.36, 0.30], [0.1, 0.15, 0.20, 0.28, 0.35])
    assert r["peak_epoch"] == 3 and r["epochs"] == 5
    assert r["ap_clean_peak"] == pytest.approx(0.40) and r["drop"] == pytest.approx(0.25)
    assert r["ap_noisy_at_peak"] == pytest.approx(0.20) and r["ap_noisy_last"] == pytest.approx(0.35)
    assert r["memorized"] is True


@pytest.mark.parametrize(
    "clean, noisy, why",
    [
        ([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "peak at the last epoch"),
        ([0.1, 0.40, 0.38, 0.37], [0.1, 0.2, 0.3, 0.4], "drop 7.5 % < 10 %"),
        ([0.1, 0.40, 0.30, 0.30], [0.1, 0.3, 0.3, 0.25], "noisy fit falls too"),
    ],
)
def test_no_memorization(clean, noisy, why):
    assert M.memorization([1, 2, 3, 4], clean, noisy)["memorized"] is False, why


def test_unprobed_epochs_are_skipped_and_order_does_not_matter():
    r = M.memorization([4, 1, 2, 3], [0.3, 0.2, float("nan"), 0.5], [0.4, 0.1, 0.2, 0.3])
    assert r["peak_epoch"] == 3 and r["drop"] == pytest.approx(0.4) and r["memorized"] is True


def test_per_task_test_separates_localization_from_classification():
    """The regime the default shows: localization keeps improving against the clean labels (CA clean
    peaks at the end), classification memorizes (GTBA clean 0.50 at epoch 2 -> 0.40, drop 20 %, while
    GTBA against the noisy labels rises 0.30 -> 0.60)."""
    probe = {
        "epoch": [1, 2, 3, 4],
        "CA": [0.2, 0.3, 0.4, 0.5], "CA_clean": [0.3, 0.35, 0.4, 0.45],
        "GTBA": [0.2, 0.3, 0.45, 0.6], "GTBA_clean": [0.45, 0.5, 0.44, 0.4],
    }  # fmt: skip
    r = M.task_memorization(probe)
    assert (r["ca_peak_epoch"], r["ca_drop"], r["ca_memorized"]) == (4, 0.0, False)
    assert r["gtba_peak_epoch"] == 2 and r["gtba_drop"] == pytest.approx(0.2) and r["gtba_memorized"] is True
    assert M.task_cell(r, "gtba") == "20 % (ep 2) *" and M.task_cell(r, "ca") == "0 % (ep 4)"
    # a probe without the clean-label CA curve (a real noisy dataset has no clean labels): CA unknown
    r = M.task_memorization({k: v for k, v in probe.items() if k != "CA_clean"})
    assert r["ca_memorized"] is None and r["ca_drop"] is None and M.task_cell(r, "ca") == "-"
    assert r["gtba_memorized"] is True
    summary = M.task_summary([M.task_memorization(probe), r, {"ca_memorized": None, "gtba_memorized": False}])
    assert summary == "localization (CA) in 0 of 1, classification (GTBA) in 2 of 3"


def _cell(runs: Path, noise: str, det: str, method: str, clean, noisy) -> None:
    rate = 0.0 if noise == "clean" else 0.4
    d = runs / "synth" / f"{noise}-{rate:g}" / det / method / "seed0"
    d.mkdir(parents=True)
    rows = [HEADER] + [
        f"{e},{10 * e},0.01,0.5,{n},0.1,0.1,{c},0.1,0.1" for e, (c, n) in enumerate(zip(clean, noisy), 1)
    ]
    (d / "probe.csv").write_text("\n".join(rows) + "\n")
    ident = {"cell": "x", "dataset": "synth", "noise": noise, "rate": rate, "detector": det, "method": method,
             "seed": 0, "AP": 0.3}  # fmt: skip
    (d / "metrics.json").write_text(json.dumps(ident))


def test_cli_writes_one_row_per_noisy_cell_and_counts_baselines(tmp_path, capsys):
    runs = tmp_path / "runs"
    _cell(runs, "combined", "retinanet", "baseline", [0.2, 0.4, 0.3], [0.1, 0.2, 0.3])  # memorized
    _cell(runs, "combined", "fcos", "baseline", [0.2, 0.3, 0.4], [0.1, 0.2, 0.3])  # still learning
    _cell(runs, "combined", "retinanet", "eldet", [0.2, 0.4, 0.39], [0.1, 0.2, 0.3])  # a method cell
    _cell(runs, "clean", "retinanet", "baseline", [0.2, 0.4, 0.3], [0.2, 0.4, 0.3])  # clean: left out
    out = tmp_path / "m.csv"
    assert (
        run_cli(M.main, ["--cells", str(manifest(runs)), "--out", str(out), "--markdown", str(tmp_path / "m.md")]) == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0].split(",") == M.COLUMNS and len(lines) == 4
    flag = M.COLUMNS.index("memorized")
    by = {(r.split(",")[3], r.split(",")[4]): r.split(",")[flag] for r in lines[1:]}
    assert by == {("retinanet", "baseline"): "True", ("fcos", "baseline"): "False", ("retinanet", "eldet"): "False"}
    assert "**1 of 2**" in (tmp_path / "m.md").read_text()
    # _cell's CA / GTBA curves are flat at 0.1: peak at epoch 1, no drop, not memorized, per task
    row = dict(zip(M.COLUMNS, lines[1].split(",")))
    assert (row["ca_peak_epoch"], row["ca_drop"], row["ca_memorized"]) == ("1", "0.0000", "False")
    assert "localization (CA) in 0 of 2, classification (GTBA) in 0 of 2" in (tmp_path / "m.md").read_text()
    assert "1 of 2 noisy baselines" in capsys.readouterr().err


def test_cli_without_noisy_cells_is_an_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    _cell(runs, "clean", "retinanet", "baseline", [0.2, 0.4], [0.2, 0.4])
    out = tmp_path / "m.csv"
    assert run_cli(M.main, ["--cells", str(manifest(runs)), "--out", str(out)]) != 0
    assert "no noisy cell" in capsys.readouterr().err and not out.exists()


def test_index_shows_pretraining_transitions_and_memorization(tmp_path):
    """The index's early-learning section reads the three tables and lines the epochs up per seed."""
    from analysis import report_html as R

    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "pretraining.csv").write_text(
        "detector,used_by,source,AP,AP50,epochs,train_seconds\nretinanet,retinanet faster_rcnn,src,0.2060,0.3730,12,181\n"
    )
    (tables / "memorization.csv").write_text(
        ",".join(M.COLUMNS) + "\n"
        "synth,combined,0.4,retinanet,baseline,0,12,5,0.3000,0.2400,0.2000,0.1000,0.3000,True\n"
        "synth,combined,0.4,retinanet,baseline,1,12,12,0.3000,0.3000,0.0000,0.3000,0.3000,False\n"
        "synth,combined,0.4,retinanet,eldet,0,12,12,0.3000,0.3000,0.0000,0.3000,0.3000,False\n"
        "synth,combined,0.4,fcos,baseline,0,12,3,0.3000,0.2000,0.3333,0.1000,0.3000,True,12,0.0000,False,3,0.2500,True\n"
    )
    (tables / "transition.csv").write_text(
        "level,dataset,method,noise,rate,detector,labels,ca_epochs,gtba_epochs\n"
        "setting,synth,baseline,combined,0.4,retinanet,noisy,seed0:4;seed1:-,seed0:7;seed1:9\n"
    )
    html = "\n".join(R.early_learning_section(tmp_path))
    assert "retinanet faster_rcnn" in html and "20.6" in html
    assert "<b>2 of 3</b>" in html  # baselines only
    # per task: only the fcos row has the CA / GTBA columns (the others are from an older table: "-")
    assert "localization (CA) in 0 of 1, classification (GTBA) in 1 of 1" in html
    fcos = next(line for line in html.splitlines() if "<td>fcos</td>" in line)
    assert "<td>0 % (ep 12)</td><td>25 % (ep 3) *</td>" in fcos
    assert "<td>yes</td><td>-</td><td>-</td><td>4</td><td>7</td>" in next(
        line for line in html.splitlines() if "30.0 (5/12)" in line
    )
    row1 = next(line for line in html.splitlines() if "(12/12)" in line)
    assert "<td>no</td><td>-</td><td>-</td><td>-</td><td>9</td>" in row1
    assert R.early_learning_section(tmp_path / "missing") == []
