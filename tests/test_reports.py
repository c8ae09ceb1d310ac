"""Reproduction maths, reference-row mapping, claims, notebooks, HTML without network, paper grids."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from analysis import claims, reproduction
from analysis import report_html as R
from analysis.notebook_specs import NOTEBOOKS
from analysis.references import load_references
from benchmarks.methods import method_names

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "results" / "default"
CHROMIUM = Path("/usr/bin/chromium")


# ------------------------------------------------------------------------- hand-made cells
def _cell(root: Path, det: str, method: str, noise: str, rate: float, seed: int, ap: float, *, epochs: int = 12):
    cid = f"voc/{noise}-{rate:g}/{det}/{method}/seed{seed}"
    d = root / "g" / "runs" / cid
    d.mkdir(parents=True)
    ident = {
        "cell": cid,
        "dataset": "voc",
        "noise": noise,
        "rate": rate,
        "detector": det,
        "method": method,
        "seed": seed,
    }
    metrics = {**ident, **{m: ap for m in reproduction.AP_METRICS}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "cost.json").write_text(json.dumps({"epochs": epochs, "train_seconds": 7200.0, "peak_gpu_mb": None}))


def _manifest(root, datasets: dict) -> None:
    """The grid's cells.json (rule cell_manifest): the cells on disk and the datasets' sources."""
    from analysis.cell_files import discover, write_manifest

    runs = root / "g" / "runs"
    grid = {"name": "g", "datasets": {k: {"source": v} for k, v in datasets.items()}}
    write_manifest(root / "g" / "cells.json", discover(runs), grid=grid)


@pytest.fixture()
def voc_grid(tmp_path):
    """A 'voc' grid: DINO baseline/ELDET at combined-0.4 (3 seeds) and clean baseline (2 seeds)."""
    base = {0: 0.60, 1: 0.64, 2: 0.65}
    eldet = {0: 0.655, 1: 0.67, 2: 0.68}
    for s in range(3):
        _cell(tmp_path, "dino", "baseline", "combined", 0.4, s, base[s])
        _cell(tmp_path, "dino", "eldet", "combined", 0.4, s, eldet[s])
    for s in range(2):
        _cell(tmp_path, "dino", "baseline", "clean", 0.0, s, 0.75 + 0.01 * s)
    _manifest(tmp_path, {"voc": "voc"})
    return reproduction.load_context(tmp_path, "g"), base, eldet


def test_describe_matches_scipy_t_interval():
    v = [60.0, 64.0, 65.0]
    got = reproduction.describe(v, 62.0)
    lo, hi = stats.t.interval(0.95, df=2, loc=np.mean(v), scale=stats.sem(v))
    assert got["n"] == 3 and got["mean"] == pytest.approx(63.0)
    assert got["std"] == pytest.approx(np.std(v, ddof=1))
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert got["diff"] == pytest.approx(1.0) and got["inside_ci"] is True
    assert reproduction.describe(v, 80.0)["inside_ci"] is False
    one = reproduction.describe([5.0], 4.0)
    assert one["n"] == 1 and math.isnan(one["ci_low"]) and one["inside_ci"] is pd.NA


def test_compare_maps_rows_to_cells(voc_grid):
    ctx, base, eldet = voc_grid
    table = "rebuttal: DINO query denoising vs ELDET (VOC, 40% noise)"
    f = reproduction.compare(ctx, "eldet", [table])
    row = f[(f["method"] == "eldet") & (f["noise"] == "combined")].iloc[0]
    assert row["status"] == "reproduced" and row["n"] == 3 and row["seeds"] == "0,1,2"
    assert row["mean"] == pytest.approx(100 * np.mean(list(eldet.values())))  # fractions -> AP points
    lo, hi = stats.t.interval(0.95, df=2, loc=100 * np.mean(list(eldet.values())), scale=100 * stats.sem(list(eldet.values())))  # fmt: skip
    assert row["ci_low"] == pytest.approx(lo) and row["inside_ci"] == (lo <= row["published"] <= hi)
    clean = f[(f["method"] == "baseline") & (f["noise"] == "clean")].iloc[0]
    assert clean["n"] == 2 and clean["mean"] == pytest.approx(75.5)
    # rows the grid has not run read "not run" (the DINO cls/loc settings), never an error
    assert set(f[f["noise"].isin(["cls", "loc"])]["status"]) == {"not run"}
    assert not f["stand_in"].any()


def test_compare_epochs_must_match(tmp_path):
    _cell(tmp_path, "dino", "baseline", "clean", 0.0, 0, 0.5, epochs=24)
    _manifest(tmp_path, {"coco": "coco"})
    # the cell is 'voc' on disk; the OD-DETR DINO rows are coco, 12 or 24 epochs
    ctx = reproduction.load_context(tmp_path, "g")
    assert reproduction.dataset_map(ctx.datasets)["voc"] == ("voc", False)
    shutil.move(tmp_path / "g" / "runs" / "voc", tmp_path / "g" / "runs" / "coco")
    mpath = next((tmp_path / "g" / "runs").glob("coco/*/*/*/*/metrics.json"))
    rec = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**rec, "dataset": "coco"}))
    _manifest(tmp_path, {"coco": "coco"})
    f = reproduction.compare(reproduction.load_context(tmp_path, "g"), "od_detr", ["Table 1"])
    dino = f[
        (f["detector"] == "dino") & (f["method"] == "baseline") & (f["metric"] == "AP") & (f["setting"] == "4scale")
    ]
    by_epochs = dict(zip(dino["epochs"], dino["status"]))
    assert by_epochs == {12: "not run", 24: "reproduced"}


def test_dataset_map_rules():
    assert reproduction.dataset_map({"voc": "voc"})["voc"] == ("voc", False)
    assert reproduction.dataset_map({"voc07": "voc"})["voc"] == ("voc07", False)
    m = reproduction.dataset_map({"synth": "synthetic"})
    assert m["voc"] == ("synth", True) and m["coco"] == ("synth", True)
    assert reproduction.dataset_map({"voc": "voc"}).get("coco") is None


@pytest.mark.parametrize(
    ("criteria", "outside", "method"),
    [
        (
            {"paper": "dn_detr", "table": "Table 1", "detector": "dab_detr"},
            "detector 'dab_detr' not in the suite",
            None,
        ),
        ({"paper": "bckd", "table": "Table 1", "student_backbone": "r18", "method": "bckd"}, "backbone r18", None),
        ({"paper": "bckd", "table": "Table 1", "method": "ld+bckd", "student_backbone": "r50"}, "combination", None),
        ({"paper": "bckd", "table": "Table 3", "method": "bckd", "setting": "cls"}, "", "bckd_cls_only"),
        ({"paper": "bckd", "table": "Table 2", "method": "bckd", "detector": "fcos"}, "", "bckd_fcos"),
        ({"paper": "od_detr", "table": "Table 2", "method": "od_detr", "setting": "MD+PD"}, "", "od_detr_md_pd"),
        ({"paper": "eldet", "table": "rebuttal text (paper Tab. 2)"}, "dataset not stated", None),
    ],
)
def test_map_row_explicit_mapping(criteria, outside, method):
    refs = load_references()
    mask = pd.Series(True, index=refs.index)
    for k, v in criteria.items():
        mask &= refs[k] == v
    row = refs[mask].iloc[0].to_dict()
    t = reproduction.map_row(row, {"voc": ("voc", False), "coco": ("coco", False)})
    assert outside in t.outside if outside else t.outside == ""
    if method:
        assert t.method == method


def test_def_detr_plus_rows_map_to_the_refinement_detector():
    """OD-DETR's Def-DETR+ rows (setting 'iterative box refinement') compare with the cells of the
    suite's deformable_detr_refine; before, they were 'outside the suite' (no grid entry)."""
    refs = load_references("od_detr")
    rows = refs[
        (refs["table"] == "Table 1") & (refs["setting"] == "iterative box refinement") & (refs["metric"] == "AP")
    ]
    assert set(rows["method"]) == {"baseline", "od_detr"}
    for row in rows.to_dict("records"):
        t = reproduction.map_row(row, {"coco": ("coco", False)})
        assert t.outside == "" and t.detector == "deformable_detr_refine" and t.method == row["method"]
    plain = refs[(refs["table"] == "Table 2") & (refs["setting"] == "MD+PD")].iloc[0].to_dict()
    assert reproduction.map_row(plain, {"coco": ("coco", False)}).detector is None  # ablations: plain Def-DETR
    cells = pd.DataFrame(
        [{"dataset": "coco", "noise": "clean", "rate": 0.0, "detector": d, "method": "od_detr", "seed": s,
          "epochs": 24, "AP": 0.47 + 0.01 * (d == "deformable_detr_refine")}
         for d in ("deformable_detr", "deformable_detr_refine") for s in range(2)]
    )  # fmt: skip
    ctx = SimpleNamespace(cells=cells)
    od = rows[rows["method"] == "od_detr"].iloc[0].to_dict()
    values = reproduction.seed_values(ctx, od, reproduction.map_row(od, {"coco": ("coco", False)}))
    assert list(values) == pytest.approx([0.48, 0.48])  # the refinement detector's cells, not the plain ones


def test_termination_rows_read_as_combined_baseline():
    refs = load_references("eldet")
    row = refs[(refs["table"] == "rebuttal: early-learning termination epochs") & (refs["detector"] == "fcos")].iloc[0]
    t = reproduction.map_row(row.to_dict(), {"voc": ("voc", False)})
    assert (t.method, t.noise) == ("baseline", "combined") and "noise type not stated" in t.caveat


# ----------------------------------------------------------------------------------- claims
def test_claim_test_matches_scipy(voc_grid):
    ctx, base, eldet = voc_grid
    claim = claims.Claim("x", "eldet", "ELDET beats baseline", claims.Side("eldet"), claims.Side("baseline"), None,
                         "test", ("voc",), ("dino",), ("combined-0.4",))  # fmt: skip
    row = claims.evaluate(ctx, (claim,)).iloc[0]
    d = 100 * (np.array(list(eldet.values())) - np.array(list(base.values())))
    ref = stats.ttest_rel(100 * np.array(list(eldet.values())), 100 * np.array(list(base.values())), alternative="greater")  # fmt: skip
    assert row["n_pairs"] == 3 and row["mean_diff"] == pytest.approx(d.mean())
    assert row["p_t"] == pytest.approx(ref.pvalue) and row["p_sign"] == pytest.approx(0.125)
    assert row["holds"] == ("yes" if ref.pvalue < 0.05 else "not significant")


def test_claim_verdicts():
    assert claims.test_pairs(np.array([]))["holds"] == "not run"
    assert claims.test_pairs(np.array([1.5]))["holds"].startswith("n<2")
    assert claims.test_pairs(np.array([-1.0, -2.0, -1.5]))["holds"] == "no"
    assert claims.test_pairs(np.array([3.0, 2.9, 3.1, 3.2]))["holds"] == "yes"


# -------------------------------------------------------------------------------- notebooks
def test_notebooks_are_built_from_the_specs(tmp_path):
    res = subprocess.run(["python", str(REPO / "notebooks" / "build.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb")) == sorted(nb.name for nb in NOTEBOOKS)
    for nb in NOTEBOOKS:
        node = nbformat.read(REPO / "notebooks" / f"{nb.name}.ipynb", as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in node.cells)
        assert all(not c.get("outputs") for c in node.cells if c.cell_type == "code")


def _run_inprocess(name: str, results_dir: Path, grid: str) -> list:
    """Execute a notebook's code cells in this process (fast; the papermill test covers the kernel)."""
    shown = []
    node = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    ns: dict = {}
    for cell in node.cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        if "parameters" in cell.metadata.get("tags", []):
            src += f"\ngrid = {grid!r}\nresults_dir = {str(results_dir)!r}"
        src = src.replace("from IPython.display import Markdown, display", "from IPython.display import Markdown")
        ns["display"] = shown.append
        exec(compile(src, f"{name}.ipynb", "exec"), ns)
    return shown


def _texts(shown: list) -> str:
    out = []
    for obj in shown:
        out.append(obj.data if hasattr(obj, "data") and isinstance(obj.data, str) else (obj.to_html() if hasattr(obj, "to_html") else repr(obj)))  # fmt: skip
    return "\n".join(out)


@pytest.mark.parametrize("name", [nb.name for nb in NOTEBOOKS])
def test_notebook_on_empty_results_says_not_run(tmp_path, name):
    text = _texts(_run_inprocess(name, tmp_path, "nothing"))
    assert "not run" in text


@pytest.mark.skipif(not (DEFAULT_RESULTS / "runs").is_dir(), reason="no results/default (run `snakemake all` first)")
@pytest.mark.parametrize("name", ["summary", "eldet_detr", "eldet_main", "bckd_tide", "eldet_transition"])
def test_notebook_on_default_results(name):
    shown = _run_inprocess(name, DEFAULT_RESULTS.parent, "default")
    text = _texts(shown)
    finished = len(list((DEFAULT_RESULTS / "runs").glob("*/*/*/*/*/metrics.json")))
    assert f"{finished} finished cells" in text
    if name == "eldet_detr":  # the default's DINO / Deformable DETR baselines stand in for VOC rows, apart
        assert "Stand-in results" in text and "(n=1)" in text
    if name in ("summary", "eldet_detr", "eldet_main", "bckd_tide"):  # a figure was drawn (inline or in the page)
        assert any(type(o).__name__ == "Image" for o in shown) or "data:image/png;base64," in text


@pytest.mark.skipif(not (DEFAULT_RESULTS / "runs").is_dir(), reason="no results/default")
def test_papermill_and_html_without_network(tmp_path):
    out_nb, out_html = tmp_path / "summary.ipynb", tmp_path / "summary.html"
    subprocess.run(["papermill", str(REPO / "notebooks/summary.ipynb"), str(out_nb), "-p", "grid", "default",
                    "-p", "results_dir", str(DEFAULT_RESULTS.parent), "--cwd", str(REPO), "-k", "python3",
                    "--no-progress-bar"], check=True, capture_output=True)  # fmt: skip
    R.export_html(out_nb, out_html)
    text = out_html.read_text()
    assert R.network_refs(text) == [] and "noise_hurts" in text and "data:image/png;base64," in text


def test_network_refs_detects_loads_not_links():
    page = ('<a href="https://x.org">x</a><script src="https://cdn/x.js"></script><img src="//h/i.png">'
            '<style>@import "http://s/s.css"; b{background:url(https://b/b.png)}</style>')  # fmt: skip
    assert R.network_refs(page) == ["//h/i.png", "http://s/s.css", "https://b/b.png", "https://cdn/x.js"]
    assert R.network_refs(R.strip_network('<script src="https://cdn/x.js"></script>')) == []


@pytest.mark.skipif(not (DEFAULT_RESULTS / "runs").is_dir(), reason="no results/default")
def test_index_counts(tmp_path):
    out = tmp_path / "index.html"
    R.build_index(DEFAULT_RESULTS.parent, "default", out)
    text = out.read_text()
    assert R.network_refs(text) == [] and "eldet_detr" in text and "synthetic stand-in" in text
    rows = R.index_rows(reproduction.load_context(DEFAULT_RESULTS.parent, "default"))
    detr = rows[rows["table"] == "rebuttal: Deformable DETR (VOC, AP50)"].iloc[0]
    assert (detr["published"], detr["reproduced"], detr["testable"]) == (8, 0, 0)  # synthetic stand-ins: never counted


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (apt-get install -y chromium)")
@pytest.mark.skipif(not (DEFAULT_RESULTS / "reports" / "index.html").is_file(), reason="no reports (snakemake all)")
def test_chromium_renders_reports_offline(tmp_path):
    for page in ("index.html", "summary.html"):
        res = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--proxy-server=127.0.0.1:9", "--dump-dom", f"file://{DEFAULT_RESULTS / 'reports' / page}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
        assert "</table>" in res.stdout and "Traceback" not in res.stdout


# ------------------------------------------------------------------------------ paper grids
# (the headline grids' dry runs are in tests/test_headline_grids.py)
PAPER_GRIDS = sorted(
    p
    for p in (REPO / "benchmarks" / "grids").glob("*.yaml")
    if p.stem not in ("default", "smoke") and not p.stem.endswith("_headline")
)


def test_cost_estimate_from_reported_costs():
    from benchmarks.grids import cost

    grid = cost.load_plain(REPO / "benchmarks/grids/eldet_voc.yaml")
    table = cost.cost_table(grid).set_index("method")
    # RetinaNet/FCOS ELDET on VOC: 4.23 / 3.59 h per 12 epochs (rebuttal), x 10 settings x 3 seeds, plus the
    # proxy-estimated detectors; the RetinaNet share alone must be there
    refs = load_references("eldet")
    hours = refs[(refs["table"] == cost.ELDET_COST) & (refs["metric"] == "hours")]
    h = {(r.detector, r.method): r.value for r in hours.itertuples()}
    assert table.loc["eldet_ca_only", "gpu_hours"] == pytest.approx(
        3 * (h[("retinanet", "eldet")] + h[("fcos", "eldet")])
    )
    assert table.loc["eldet", "cells"] == 6 * 10 * 3
    res = subprocess.run(["python", "-m", "benchmarks.grids.cost", str(REPO / "benchmarks/grids/dn_detr_coco.yaml")],
                         capture_output=True, text=True, check=True, cwd=REPO)  # fmt: skip
    assert "GPU-hours" in res.stdout and "dn_detr" in res.stdout


def _methods_exist(grid: dict) -> list[str]:
    missing = []
    for entry, spec in grid["methods"].items():
        module = (spec or {}).get("method", entry)
        if module not in method_names():
            missing.append(module)
    return sorted(set(missing))


@pytest.mark.parametrize("path", PAPER_GRIDS, ids=lambda p: p.stem)
def test_paper_grid_dry_runs(path):
    grid = yaml.safe_load(path.read_text())
    missing = _methods_exist(grid)
    if missing:
        pytest.skip(f"methods not on this branch yet: {missing}")
    res = subprocess.run(["snakemake", "-n", "--quiet", "rules", "all", "--configfile", str(path)],
                         capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "train_cell" in res.stdout and "notebook_html" in res.stdout


# ------------------------------------------------------------ probe-curve reports (point 11)
def _hook_columns() -> set[str]:
    """probe.csv columns the hooks write, read from their source (hooks.PROBE_COLUMNS, the matching row)."""
    import ast

    cols: set[str] = set()
    for name in ("hooks.py", "matching_hooks.py"):
        tree = ast.parse((REPO / "benchmarks" / "training" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("PROBE_COLUMNS", "row") for t in node.targets):  # fmt: skip
                elts = node.value.elts if isinstance(node.value, ast.List) else getattr(node.value, "keys", [])
                cols |= {e.value for e in elts if isinstance(e, ast.Constant)}
    return cols


def test_probe_curve_specs_name_columns_a_hook_writes():
    written = _hook_columns()
    assert {"IS", "IS_ema", "match_consistency", "CA", "GTBA"} <= written
    for spec in NOTEBOOKS:
        if spec.kind == "probe_curve":
            assert spec.columns and set(spec.columns) <= written, (spec.name, set(spec.columns) - written)
    assert "match_consistency" in {c for s in NOTEBOOKS if s.name == "od_detr_matching" for c in s.columns}


def _detr_cell(root: Path, method: str, probe: str) -> None:
    _cell(root, "deformable_detr", method, "combined", 0.4, 0, 0.02)
    (root / "g" / "runs" / f"voc/combined-0.4/deformable_detr/{method}/seed0" / "probe.csv").write_text(probe)


def test_probe_frame_plots_every_named_column_and_a_missing_one_is_an_error(tmp_path):
    from analysis.notebook_specs import BY_NAME
    from benchmarks.errors import InputError

    spec = BY_NAME["od_detr_matching"]
    _detr_cell(tmp_path, "baseline", "epoch,IS,match_consistency\n1,,0.5\n2,3.0,0.6\n")
    _detr_cell(tmp_path, "od_detr", "epoch,IS,match_consistency\n1,,0.8\n2,1.0,0.9\n")
    _cell(tmp_path, "retinanet", "baseline", "combined", 0.4, 0, 0.05)  # no DETR: not asked for IS
    _manifest(tmp_path, {"voc": "voc"})
    ctx = reproduction.load_context(tmp_path, "g")
    long = R.probe_frame(ctx, spec.columns, spec.methods, spec.detectors)
    got = long.groupby(["method", "column"])["value"].apply(list).to_dict()
    assert got == {("baseline", "IS"): [3.0], ("baseline", "match_consistency"): [0.5, 0.6],
                   ("od_detr", "IS"): [1.0], ("od_detr", "match_consistency"): [0.8, 0.9]}  # fmt: skip
    _detr_cell(tmp_path, "dn_detr", "epoch,IS\n1,\n2,1.0\n")  # no consistency column
    _manifest(tmp_path, {"voc": "voc"})
    ctx = reproduction.load_context(tmp_path, "g")
    with pytest.raises(InputError, match="no column") as err:
        R.probe_frame(ctx, spec.columns, ("baseline", "dn_detr"), spec.detectors)
    assert "dn_detr/seed0/probe.csv" in str(err.value)


# ------------------------------------------------------------ stand-in cells (point 12)
def _synth_cell(root: Path, det: str, method: str, noise: str, rate: float, seed: int, ap: float) -> None:
    cid = f"synth/{noise}-{rate:g}/{det}/{method}/seed{seed}"
    d = root / "g" / "runs" / cid
    d.mkdir(parents=True)
    ident = {"cell": cid, "dataset": "synth", "noise": noise, "rate": rate, "detector": det, "method": method,
             "seed": seed}  # fmt: skip
    (d / "metrics.json").write_text(json.dumps({**ident, **{m: ap for m in reproduction.AP_METRICS}}))
    (d / "cost.json").write_text(json.dumps({"epochs": 12, "train_seconds": 60.0, "peak_gpu_mb": None}))


@pytest.fixture()
def synth_grid(tmp_path):
    """The default's shape: a synthetic set only; FCOS baseline/ELDET at 40 % combined, GFL clean, 2 seeds."""
    for s in range(2):
        _synth_cell(tmp_path, "fcos", "baseline", "combined", 0.4, s, 0.043 + 0.001 * s)
        _synth_cell(tmp_path, "fcos", "eldet", "combined", 0.4, s, 0.040)
        _synth_cell(tmp_path, "gfl", "baseline", "clean", 0.0, s, 0.29)
    _manifest(tmp_path, {"synth": "synthetic"})
    return tmp_path


def test_stand_in_cells_reproduce_no_published_number(synth_grid):
    ctx = reproduction.load_context(synth_grid, "g")
    f = reproduction.compare(ctx, "eldet", ["rebuttal text"])
    vindr = f[(f["dataset"] == "vindr") & (f["method"] == "baseline")].iloc[0]
    assert vindr["status"] == reproduction.STAND_IN and vindr["mean"] == pytest.approx(4.35) and vindr["n"] == 2
    assert math.isnan(vindr["diff"]) and math.isnan(vindr["ci_low"]) and vindr["inside_ci"] is pd.NA
    assert "reproduced" not in set(f["status"])
    assert reproduction.summary(f)["reproduced"].sum() == 0  # never counted
    assert R.plot_comparison(f) is None  # never a scatter point
    main = R.comparison_table(f)
    assert not (main["dataset"] == "vindr").any() and reproduction.STAND_IN not in set(main["reproduced"])
    apart = R.stand_in_table(f)
    assert len(apart) == (f["status"] == reproduction.STAND_IN).sum() and "published" not in apart.columns
    assert "4.35 ± 0.07 (n=2)" in set(apart["stand-in value (mean ± std, n)"])
    rows = R.index_rows(ctx)
    assert rows["reproduced"].sum() == 0 and rows["inside_ci"].sum() == 0
    bckd = R.index_rows(ctx)[lambda r: (r["paper"] == "bckd") & (r["table"] == "Table 1")].iloc[0]
    assert bckd["reproduced"] == 0  # the synthetic GFL baseline reproduces no COCO row


def test_vindr_report_puts_the_stand_in_apart_without_a_diff(synth_grid):
    text = _texts(_run_inprocess("eldet_vindr", synth_grid, "g"))
    assert "Stand-in results" in text and "4.35 ± 0.07 (2)" in text
    own = text.split("Stand-in results", 1)[0]
    assert "25.32" in own and "4.35" not in own  # the published row, with no stand-in value beside it
    assert "-20.97" not in text and "-20.96" not in text  # 4.35 - 25.32: the old diff


# ------------------------------------------------- claims table in the summary and the index
@pytest.fixture()
def coco_claims_grid(tmp_path):
    """A COCO grid: GFL baseline / BCKD on 3 seeds, and its tables/claims.csv written by the CLI."""
    from analysis import claims_table

    root = tmp_path / "g"
    for s, (b, k) in enumerate([(0.401, 0.430), (0.405, 0.439), (0.398, 0.426)]):
        for method, ap in (("baseline", b), ("bckd", k)):
            cid = f"coco/clean-0/gfl/{method}/seed{s}"
            d = root / "runs" / cid
            d.mkdir(parents=True)
            ident = {"cell": cid, "dataset": "coco", "noise": "clean", "rate": 0.0, "detector": "gfl",
                     "method": method, "seed": s}  # fmt: skip
            (d / "metrics.json").write_text(json.dumps({**ident, **{m: ap for m in reproduction.AP_METRICS}}))
            (d / "cost.json").write_text(json.dumps({"epochs": 12, "train_seconds": 1.0}))
    from analysis.cell_files import discover, write_manifest

    write_manifest(
        root / "cells.json", discover(root / "runs"), grid={"name": "g", "datasets": {"coco": {"source": "coco"}}}
    )
    metrics = sorted(str(p) for p in (root / "runs").glob("*/*/*/*/*/metrics.json"))
    (root / "tables").mkdir()
    claims_table.main(["--metrics", *metrics, "--costs", *[m.replace("metrics.json", "cost.json") for m in metrics],
                       "--cells", str(root / "cells.json"), "--out", str(root / "tables" / "claims.csv")])  # fmt: skip
    return tmp_path


def test_summary_report_renders_the_dags_claims_table(coco_claims_grid):
    shown = _run_inprocess("summary", coco_claims_grid, "g")
    text = _texts(shown)
    assert "tables/claims.csv" in text and "bckd_beats_baseline" in text and "none printed" in text
    assert "text-align: left" in text  # not a right-aligned dump
    assert any(type(o).__name__ == "Image" for o in shown)


def test_claims_figure_legend_is_outside_the_bars(coco_claims_grid):
    from analysis import claims_table, claims_view

    table = claims_table.read_table(coco_claims_grid / "g" / "tables" / "claims.csv")
    fig = claims_view.plot_claims(table)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # the legend never covers a bar
    assert claims_view.plot_claims(table[table["n_pairs"] == 0]) is None


def test_index_counts_claims_per_paper(coco_claims_grid):
    out = coco_claims_grid / "index.html"
    R.build_index(coco_claims_grid, "g", out)
    text = out.read_text()
    assert R.network_refs(text) == [] and "Headline claims" in text
    block = text.split("Headline claims", 1)[1]
    from analysis import claims

    n_bckd = sum(c.paper == "bckd" for c in claims.CLAIMS)
    # bckd: the Table 1 claim holds (3 seeds, d = 2.9, 3.4, 2.8); the other BCKD claims were not run
    assert f"<tr><td>bckd</td><td class='n'>1</td><td class='n'>0</td><td class='n'>{n_bckd - 1}</td></tr>" in block
    assert "bckd_beats_baseline" in block


def test_index_at_a_glance_per_paper(coco_claims_grid):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from analysis import index_glance

    tide = coco_claims_grid / "g" / "tide"
    tide.mkdir()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.bar([0, 1], [1, 2])
    fig.savefig(tide / "methods__coco__clean-0.png")
    plt.close(fig)
    out = coco_claims_grid / "g" / "reports" / "index.html"
    out.parent.mkdir()
    (out.parent / "bckd_main.html").write_text("<html></html>")
    R.build_index(coco_claims_grid, "g", out)
    text = out.read_text()
    assert R.network_refs(text) == []
    glance = text.split("<h2>At a glance</h2>", 1)[1].split("<h2>Reports</h2>", 1)[0]
    blocks = dict(zip(index_glance.PAPER_TITLES, glance.split("<div class='paper'>")[1:], strict=True))
    bckd = blocks["bckd"]
    assert "1 holding" in bckd and "bckd_beats_baseline" in bckd
    assert "href='../tide/methods__coco__clean-0.png'" in bckd and "src='data:image/png;base64," in bckd
    assert "<a href='bckd_main.html'>" in bckd and "(missing)" in bckd  # bckd_tide etc. not rendered here
    uri = re.search(r"src='data:image/png;base64,([^']+)'", bckd).group(1)
    with Image.open(io.BytesIO(base64.b64decode(uri))) as thumb:
        assert thumb.width == index_glance.THUMB_WIDTH  # downscaled from 800 px
    assert "Key figures: not run" in blocks["eldet"] and "0 holding" in blocks["eldet"]
