"""Pretraining-stage table: one row per run, AP from its metrics.json, who starts from it."""

from __future__ import annotations

import json

from analysis import pretraining_table as P
from benchmarks.errors import run_cli


def _run(tmp_path, det, ap, secs=None):
    d = tmp_path / "runs" / "src" / "clean-0" / det / "baseline" / "seed0"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"detector": det, "dataset": "src", "AP": ap, "AP50": 2 * ap}))
    if secs is not None:
        (d / "cost.json").write_text(json.dumps({"epochs": 12, "train_seconds": secs}))
    return d / "metrics.json"


def test_used_by_follows_the_shared_mapping():
    from benchmarks.grids.grid import pretraining_users

    grid = {"detectors": ["retinanet", "fcos", "gfl", "faster_rcnn"],
            "pretraining": {"shared": {"gfl": "fcos", "faster_rcnn": "retinanet"}}}  # fmt: skip
    assert pretraining_users(grid) == {"retinanet": ["retinanet", "faster_rcnn"], "fcos": ["fcos", "gfl"]}


def test_cli_rows_and_markdown(tmp_path):
    a, b = _run(tmp_path, "retinanet", 0.2, 181.0), _run(tmp_path, "fcos", 0.15)
    out = tmp_path / "p.csv"
    argv = ["--metrics", str(a), str(b), "--used-by", "retinanet=retinanet,faster_rcnn", "--out", str(out),
            "--markdown", str(tmp_path / "p.md")]  # fmt: skip
    assert run_cli(P.main, argv) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split(",") == P.COLUMNS
    assert lines[1] == "retinanet,retinanet faster_rcnn,src,0.2000,0.4000,12,181.0"
    assert lines[2].startswith("fcos,fcos,src,0.1500,0.3000")  # not mapped: used by itself
    assert "| retinanet | retinanet faster_rcnn | src | 20.0 | 40.0 | 12 | 181 |" in (tmp_path / "p.md").read_text()


def test_missing_run_and_bad_used_by_are_errors(tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert run_cli(P.main, ["--metrics", str(tmp_path / "nope.json"), "--out", str(out)]) != 0
    assert "no metrics.json" in capsys.readouterr().err and not out.exists()
    a = _run(tmp_path, "retinanet", 0.2)
    assert run_cli(P.main, ["--metrics", str(a), "--used-by", "retinanet", "--out", str(out)]) != 0
    assert "DET=A,B" in capsys.readouterr().err
