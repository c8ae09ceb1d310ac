"""Headline grids: each paper's fewest cells still give every headline claim paired cells on its dataset.

The grids' cells are planned (expanded from the YAML as the DAG does) and given made-up values;
what is checked is only which cells each claim pairs, so a claim whose cells the grid lacks shows
"not run" here exactly as it would in the grid's claims table.
"""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

from analysis import claims, reproduction
from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids.spec import probes_enabled

GRIDS = REPO / "benchmarks" / "grids"
PAPERS = sorted(claims.HEADLINE)


def _path(paper: str) -> Path:
    return GRIDS / f"{paper}_headline.yaml"


def _planned_context(grid: dict) -> reproduction.Context:
    """A context holding every planned cell of ``grid``: AP for all, transition epochs for the probed
    cells, IS / consistency means for the probed DETR-family cells (what the hooks would write)."""
    from benchmarks.detectors import get_detector

    cells, trans, probes = [], [], []
    for i, c in enumerate(G.expand_cells(grid)):
        epochs = G.schedule_for(grid, c.detector)["epochs"]
        ident = {"dataset": c.dataset, "noise": c.noise, "rate": c.rate, "detector": c.detector,
                 "method": c.method, "seed": c.seed}  # fmt: skip
        ap = 30.0 + 5 * math.sin(1.7 * i)  # any values that differ: only the pairing is checked
        cells.append({"cell": c.id, **ident, "epochs": epochs, **{m: ap for m in reproduction.AP_METRICS},
                      "hours": math.nan, "memory_mb": math.nan})  # fmt: skip
        if probes_enabled(grid, c):
            trans.append(
                {**ident, "CA": 3.0 + math.sin(i), "GTBA": 5.0 + math.cos(i), "diff": 2.0 + math.cos(i) - math.sin(i)}
            )
            if get_detector(c.detector).family == "detr":
                probes.append(
                    {"cell": c.id, "IS": 1.5 + math.sin(2.3 * i) / 2, "match_consistency": 0.9 + math.cos(i) / 20}
                )
    return reproduction.Context(
        grid["name"], Path("/nonexistent"), {k: v["source"] for k, v in grid["datasets"].items()},
        pd.DataFrame(cells, columns=reproduction.CELL_COLUMNS),
        pd.DataFrame(trans, columns=reproduction.TRANSITION_COLUMNS), grid["methods"],
        pd.DataFrame(probes, columns=reproduction.PROBE_COLUMNS),
    )  # fmt: skip


def _headline_rows(grid: dict, paper: str) -> pd.DataFrame:
    table = claims.evaluate(_planned_context(grid), tuple(claims.BY_ID[c] for c in claims.HEADLINE[paper]))
    return table.set_index("claim")


def test_every_paper_has_a_headline_grid_and_its_claims_are_its_own():
    assert PAPERS == ["bckd", "dn_detr", "eldet", "od_detr", "sssd"]
    for paper, ids in claims.HEADLINE.items():
        assert _path(paper).is_file(), paper
        assert ids and all(claims.BY_ID[c].paper == paper for c in ids), paper


@pytest.mark.parametrize("paper", PAPERS)
def test_headline_grid_validates_with_three_seeds_and_an_explicit_schedule(paper):
    grid = G.load_grid(_path(paper))
    assert grid["name"] == f"{paper}_headline" and grid["seeds"] == [0, 1, 2]
    assert all(G.schedule_for(grid, d)["epochs"] for d in grid["detectors"])  # claims filter on epochs
    own = {claims.BY_ID[c].datasets for c in claims.HEADLINE[paper]}
    assert all(ds["source"] in {d for t in own for d in t} for ds in grid["datasets"].values())


@pytest.mark.parametrize("paper", PAPERS)
def test_every_headline_claim_pairs_planned_cells_of_every_seed(paper):
    rows = _headline_rows(G.load_grid(_path(paper)), paper)
    for cid, r in rows.iterrows():
        assert not r["stand_in"], cid
        assert r["holds"] != "not run" and r["n_pairs"] >= 3, (cid, r["n_pairs"])
        seeds = {int(s) for s in re.findall(r"seed(\d+)", r["pairs"])}
        assert seeds == {0, 1, 2}, (cid, r["pairs"])


def _without(raw: dict, kind: str, item) -> dict:
    out = copy.deepcopy(raw)
    if kind == "detectors":
        out["detectors"] = [d for d in out["detectors"] if d != item]
        per = (out.get("schedule") or {}).get("per_detector") or {}
        per.pop(item, None)
    elif kind == "methods":
        out["methods"].pop(item)
    else:
        out["noise"] = [n for n in out["noise"] if n != item]
    return out


@pytest.mark.parametrize("paper", PAPERS)
def test_every_detector_method_and_noise_setting_is_needed(paper):
    """Fewest cells: dropping any detector, method entry or noise setting leaves a headline claim
    without pairs (or the grid invalid: a teacher's detector, a grid's only setting)."""
    raw = yaml.safe_load(_path(paper).read_text())
    for kind in ("detectors", "methods", "noise"):
        for item in raw[kind]:
            try:
                grid = G.validate_grid(_without(raw, kind, item))
            except InputError:
                continue
            rows = _headline_rows(grid, paper)
            assert (rows["holds"] == "not run").any(), f"{paper}: {kind} {item} is not needed by a headline claim"


def test_a_missing_method_shows_as_not_run():
    # the check above can fail: the ELDET grid without ADELE loses exactly the ADELE claim
    raw = yaml.safe_load(_path("eldet").read_text())
    rows = _headline_rows(G.validate_grid(_without(raw, "methods", "adele")), "eldet")
    assert list(rows.index[rows["holds"] == "not run"]) == ["eldet_beats_adele"]


@pytest.mark.parametrize("paper", PAPERS)
def test_headline_grid_dry_runs(paper, tmp_path):
    """The DAG plans every cell and the claims table; the /data paths need not exist for a dry run."""
    grid = G.load_grid(_path(paper))
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "all", "--configfile", str(_path(paper)),
         "--config", f"results_dir={tmp_path}"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, flags=re.M))
    assert int(counts["train_cell"]) == len(G.expand_cells(grid))
    assert counts["claims_table"] == "1" and int(counts["notebook_html"]) > 0
    assert not any(tmp_path.iterdir())  # a dry run writes nothing
