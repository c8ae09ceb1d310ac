"""The claims table CLI (analysis/claims_table.py) on hand-made cell files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import claims_table
from benchmarks.errors import InputError


def _cell(runs: Path, ds: str, det: str, method: str, seed: int, ap: float, *, epochs=12, probe=None) -> Path:
    cid = f"{ds}/clean-0/{det}/{method}/seed{seed}"
    d = runs / cid
    d.mkdir(parents=True)
    ident = {"cell": cid, "dataset": ds, "noise": "clean", "rate": 0.0, "detector": det, "method": method,
             "seed": seed}  # fmt: skip
    (d / "metrics.json").write_text(json.dumps({**ident, "AP": ap, "AP50": ap}))
    (d / "cost.json").write_text(json.dumps({"epochs": epochs, "train_seconds": 1.0}))
    (d / "probe.csv").write_text(probe or "epoch,CA,GTBA\n1,0.1,0.1\n")
    return d


def _grid_file(root: Path, source: str) -> Path:
    """A cells.json (rule cell_manifest) naming no cell: the tests give the cells with --metrics."""
    from analysis.cell_files import write_manifest

    grid = {"name": "g", "datasets": {"coco" if source == "coco" else "synth": {"source": source}}}
    path = root / "cells.json"
    write_manifest(path, [], grid=grid)
    return path


def _files(dirs: list[Path], name: str) -> list[str]:
    return [str(d / name) for d in dirs]


def _read(path: Path) -> dict[str, dict]:
    return {r["claim"]: r for r in csv.DictReader(path.open())}


def test_claims_table_from_exactly_the_given_files(tmp_path):
    runs = tmp_path / "runs"
    base, bckd = [40.1, 40.5, 39.8], [43.0, 43.9, 42.6]
    dirs = []
    for s in range(3):
        dirs.append(_cell(runs, "coco", "gfl", "baseline", s, base[s] / 100))
        dirs.append(_cell(runs, "coco", "gfl", "bckd", s, bckd[s] / 100))
    for s, (b_is, m_is) in enumerate([(2.0, 1.0), (2.5, 1.1), (2.2, 1.4)]):
        dirs.append(_cell(runs, "coco", "deformable_detr", "baseline", s, 0.3,
                          probe=f"epoch,IS,match_consistency\n1,,0.5\n2,{b_is},0.6\n"))  # fmt: skip
        dirs.append(_cell(runs, "coco", "deformable_detr", "dn_detr", s, 0.3,
                          probe=f"epoch,IS,match_consistency\n1,,0.7\n2,{m_is},0.8\n"))  # fmt: skip
    _cell(runs, "coco", "gfl", "bckd", 7, 0.99)  # on disk but not given: must not count
    out, md = tmp_path / "claims.csv", tmp_path / "claims.md"
    argv = ["--metrics", *_files(dirs, "metrics.json"), "--probes", *_files(dirs, "probe.csv"),
            "--costs", *_files(dirs, "cost.json"), "--cells", str(_grid_file(tmp_path, "coco")),
            "--out", str(out), "--markdown", str(md)]  # fmt: skip
    assert claims_table.main(argv) == 0
    rows = _read(out)
    r = rows["bckd_beats_baseline"]
    d = np.array(bckd) - np.array(base)
    assert int(r["n_pairs"]) == 3 and float(r["mean_diff"]) == pytest.approx(d.mean(), abs=1e-4)
    assert float(r["p_t"]) == pytest.approx(stats.ttest_rel(bckd, base, alternative="greater").pvalue, rel=1e-4)
    assert float(r["published"]) == pytest.approx(3.1) and r["stand_in"] == "False"
    inst = rows["dn_detr_lowers_instability"]
    assert float(inst["mean_diff"]) == pytest.approx(np.mean([1.0, 1.4, 0.8]), abs=1e-4) and inst["published"] == ""
    assert rows["eldet_beats_baseline_voc"]["holds"] == "not run"
    text = md.read_text()
    assert text.startswith("# Headline claims") and "| bckd_beats_baseline | bckd |" in text
    assert "+3.1" in text and "none printed" in text and "Stand-in" not in text
    back = claims_table.read_table(out)
    assert list(claims_table.display_table(back)["claim"]) == list(rows)


def test_synthetic_grid_claims_go_to_the_stand_in_section(tmp_path):
    runs = tmp_path / "runs"
    dirs = [_cell(runs, "synth", "gfl", m, 0, ap, epochs=3) for m, ap in (("baseline", 0.29), ("bckd", 0.33))]
    out, md = tmp_path / "claims.csv", tmp_path / "claims.md"
    claims_table.main(["--metrics", *_files(dirs, "metrics.json"), "--cells", str(_grid_file(tmp_path, "synthetic")),
                       "--out", str(out), "--markdown", str(md)])  # fmt: skip
    r = _read(out)["bckd_beats_baseline"]
    assert r["stand_in"] == "True" and r["dataset"] == "synth (stand-in for coco)" and r["holds"].startswith("n<2")
    own, stand = md.read_text().split("## Stand-in", 1)
    assert "| bckd_beats_baseline |" in stand and "| bckd_beats_baseline |" not in own


def test_missing_input_fails_naming_it_and_writes_nothing(tmp_path):
    out = tmp_path / "claims.csv"
    with pytest.raises(InputError, match="metrics.json not found") as err:
        claims_table.main(["--metrics", str(tmp_path / "nope" / "metrics.json"), "--out", str(out)])
    assert "nope" in str(err.value) and not out.exists()
