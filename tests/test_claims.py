"""Headline claims (analysis/claims.py): each claim selects exactly the cells its published number covers.

Fixtures are in-memory grid contexts (cells, transitions, probe means) built by hand; expected
values are computed here from the cells' numbers and from the paper text, not from claims.py.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from analysis import claims, reproduction
from analysis.references import load_references

REPO = Path(__file__).resolve().parents[1]
CNN4 = {"retinanet", "fcos", "faster_rcnn", "gfl"}
NOISY9 = {f"{n}-{r}" for n in ("cls", "loc", "combined") for r in ("0.2", "0.3", "0.4")}


def _ctx(cells: list[dict], datasets: dict[str, str], *, transitions=None, probes=None) -> reproduction.Context:
    rows = []
    for c in cells:
        cid = f"{c['dataset']}/{c['noise']}-{c['rate']:g}/{c['detector']}/{c['method']}/seed{c['seed']}/e{c.get('epochs')}"
        rows.append({"cell": cid, "epochs": 12, "hours": math.nan, "memory_mb": math.nan, **c,
                     **{m: c.get("AP", math.nan) for m in reproduction.AP_METRICS}})  # fmt: skip
    frame = pd.DataFrame(rows, columns=reproduction.CELL_COLUMNS)
    trans = pd.DataFrame(transitions or [], columns=reproduction.TRANSITION_COLUMNS)
    probe = pd.DataFrame(probes or [], columns=reproduction.PROBE_COLUMNS)
    return reproduction.Context("g", Path("/nonexistent"), datasets, frame, trans, {}, probe)


def _c(det, method, noise, rate, seed, ap, *, ds="coco", epochs=12):
    return {"dataset": ds, "detector": det, "method": method, "noise": noise, "rate": rate, "seed": seed,
            "AP": ap, "epochs": epochs}  # fmt: skip


def _row(table: pd.DataFrame, claim_id: str) -> dict:
    return table[table["claim"] == claim_id].iloc[0].to_dict()


# -------------------------------------------------------------------- point 1: BCKD self-KD
def test_bckd_self_kd_is_the_self_kd_entry_not_the_r101_teacher_entry():
    grid = yaml.safe_load((REPO / "benchmarks/grids/bckd_coco.yaml").read_text())
    # the grid entry whose teacher is the student's own architecture (Table 6's self-KD)
    self_kd = [e for e, s in grid["methods"].items() if (s or {}).get("teacher", {}).get("detector") == "gfl"]
    assert self_kd == ["bckd_self"]
    assert reproduction.VARIANTS[("bckd", "Table 6", "bckd", "self-KD")] == "bckd_self"
    assert claims.BY_ID["bckd_self_kd"].a.method == "bckd_self"
    # R101-teacher BCKD gains 3 points, self-KD 0.8: the self-KD claim reports 0.8, the Table 1 claim 3
    cells = []
    for s in range(3):
        cells += [_c("gfl", "baseline", "clean", 0.0, s, 40.0 + s), _c("gfl", "bckd", "clean", 0.0, s, 43.0 + s),
                  _c("gfl", "bckd_self", "clean", 0.0, s, 40.8 + s)]  # fmt: skip
    table = claims.evaluate(_ctx(cells, {"coco": "coco"}))
    assert _row(table, "bckd_self_kd")["mean_diff"] == pytest.approx(0.8)
    assert _row(table, "bckd_self_kd")["published"] == pytest.approx(40.9 - 40.1)
    assert _row(table, "bckd_beats_baseline")["mean_diff"] == pytest.approx(3.0)


# ---------------------------------------------------------------- point 2: teacher caveats
def test_teacher_caveat_follows_the_grids_teacher_cell():
    refs = load_references("bckd")
    row = refs[(refs["table"] == "Table 1") & (refs["method"] == "bckd") & (refs["student_backbone"] == "r50")
               & (refs["metric"] == "AP")].iloc[0].to_dict()  # fmt: skip
    dmap = {"coco": ("coco", False)}
    methods = yaml.safe_load((REPO / "benchmarks/grids/bckd_coco.yaml").read_text())["methods"]
    assert "teacher" not in reproduction.map_row(row, dmap, methods).caveat  # gfl_r101 teacher = the paper's R101
    own = reproduction.map_row(row, dmap, {"bckd": {"teacher": {"detector": "gfl"}}}).caveat
    assert "paper teacher r101, suite teacher r50 (gfl)" in own
    fcos = refs[(refs["table"] == "Table 2") & (refs["method"] == "bckd") & (refs["detector"] == "fcos")].iloc[0]
    assert "teacher" not in reproduction.map_row(fcos.to_dict(), dmap, methods).caveat  # fcos_r101 = R101
    for claim in claims.CLAIMS:
        assert "R50 teacher = self-KD" not in claim.published_source + claim.caveat


# ------------------------------------------------------------------- point 3: DN-DETR claims
def test_no_claim_asks_dn_detr_for_dino():
    for claim in claims.CLAIMS:
        if "dn_detr" in (claim.a.method, claim.b.method):
            assert "dino" not in claim.detectors, claim.id


def test_dn_detr_half_epochs_pairs_half_schedule_with_full_and_uses_the_margin():
    # DN at 12 epochs vs baseline at 24: d = -0.2, -0.3, +0.1 -> comparable within 0.5 AP
    d = [-0.2, -0.3, 0.1]
    cells = [_c("deformable_detr", "baseline", "clean", 0.0, s, 40.0, epochs=24) for s in range(3)]
    cells += [_c("deformable_detr", "dn_detr", "clean", 0.0, s, 40.0 + d[s], epochs=12) for s in range(3)]
    cells += [_c("deformable_detr", "baseline", "clean", 0.0, s, 39.0, epochs=12) for s in range(3)]  # wrong pair
    ctx = _ctx(cells, {"coco": "coco"})
    p = claims.pairs(ctx, claims.BY_ID["dn_detr_half_epochs"])
    assert sorted(p["d"].round(6)) == sorted(d)
    row = _row(claims.evaluate(ctx, (claims.BY_ID["dn_detr_half_epochs"],)), "dn_detr_half_epochs")
    ref = stats.ttest_1samp(np.array(d) + 0.5, 0.0, alternative="greater")
    assert row["p_t"] == pytest.approx(ref.pvalue) and row["mean_diff"] == pytest.approx(np.mean(d))
    assert row["holds"] == ("yes" if ref.pvalue < 0.05 else "not significant")


# ---------------------------------------------------------- point 4: matching-stability claims
def test_matching_claims_read_the_probe_means_the_hooks_write():
    cells, probes = [], []
    for s in range(3):
        for method, is_, cons in (("baseline", 2.3 + 0.1 * s, 0.87), ("od_detr", 1.5, 0.89 + 0.01 * s),
                                  ("dn_detr", 1.6 - 0.1 * s, 0.91)):  # fmt: skip
            c = _c("deformable_detr", method, "clean", 0.0, s, 40.0)
            cells.append(c)
            probes.append({"cell": f"coco/clean-0/deformable_detr/{method}/seed{s}/e12", "IS": is_,
                           "match_consistency": cons})  # fmt: skip
    table = claims.evaluate(_ctx(cells, {"coco": "coco"}, probes=probes))
    assert _row(table, "od_detr_lowers_instability")["mean_diff"] == pytest.approx(np.mean([0.8, 0.9, 1.0]))
    assert _row(table, "dn_detr_lowers_instability")["mean_diff"] == pytest.approx(np.mean([0.7, 0.9, 1.1]))
    assert _row(table, "od_detr_raises_consistency")["mean_diff"] == pytest.approx(np.mean([0.02, 0.03, 0.04]))
    assert math.isnan(_row(table, "od_detr_lowers_instability")["published"])  # a figure: no number


# ------------------------------------------------------- point 5: the missing ELDET claims
def test_eldet_comparison_claims_exist_with_their_published_numbers():
    refs = load_references()
    for cid in ("eldet_beats_orsod", "eldet_beats_adele", "eldet_beats_baseline_cls", "eldet_beats_baseline_loc",
                "eldet_beats_baseline_combined"):  # fmt: skip
        assert claims.BY_ID[cid].published is None  # the main tables are not in the source
    dino = claims.BY_ID["eldet_beats_dino_dn_c40"]
    assert dino.published.value(refs) == pytest.approx(68.29 - 66.26)
    assert (dino.datasets, dino.detectors, dino.settings) == (("voc",), ("dino",), ("combined-0.4",))
    # per noise type (the rebuttal's loc / cls rows): 75.63 - 74.26 and 67.83 - 67.16
    assert claims.BY_ID["eldet_beats_dino_dn_loc40"].published.value(refs) == pytest.approx(75.63 - 74.26)
    assert claims.BY_ID["eldet_beats_dino_dn_cls40"].published.value(refs) == pytest.approx(67.83 - 67.16)


# ------------------------------------------------------------ point 6: ELDET c40 and noisy
def _eldet_cells(ds: str, dets, settings_, gain: float) -> list[dict]:
    out = []
    for det, (noise, rate), s in itertools.product(dets, settings_, range(2)):
        base = 30.0 + s
        out += [_c(det, "baseline", noise, rate, s, base, ds=ds), _c(det, "eldet", noise, rate, s, base + gain, ds=ds)]
    return out


def test_eldet_c40_does_not_pool_detr_cells():
    cells = _eldet_cells("voc", ["retinanet", "gfl"], [("combined", 0.4)], 1.0)
    cells += _eldet_cells("voc", ["deformable_detr", "dino"], [("combined", 0.4)], -5.0)
    row = _row(claims.evaluate(_ctx(cells, {"voc": "voc"})), "eldet_beats_baseline_c40")
    assert row["n_pairs"] == 4 and row["mean_diff"] == pytest.approx(1.0)


def test_eldet_noisy_claim_uses_the_grids_dataset_and_its_40_settings():
    settings_ = [("clean", 0.0), ("cls", 0.2), ("missing", 0.4)]  # missing-box noise is not in the 40
    table = claims.evaluate(_ctx(_eldet_cells("coco", ["fcos"], settings_, 0.5), {"coco": "coco"}))
    coco, voc = _row(table, "eldet_beats_baseline_coco"), _row(table, "eldet_beats_baseline_voc")
    assert coco["published"] == pytest.approx(1.27) and coco["n_pairs"] == 4  # clean + cls-0.2, 2 seeds
    assert voc["holds"] == "not run" and voc["published"] == pytest.approx(2.29)


# ------------------------------------------------------------------ point 7: noise_hurts
def test_noise_hurts_is_clean_minus_the_mean_over_noisy_settings():
    cells = [_c("retinanet", "baseline", "clean", 0.0, s, 40.0 + s) for s in range(2)]
    drops = {("cls", 0.2): 1.0, ("loc", 0.4): 3.0, ("combined", 0.4): 5.0, ("missing", 0.4): 20.0}
    for (noise, rate), drop in drops.items():
        cells += [_c("retinanet", "baseline", noise, rate, s, 40.0 + s - drop) for s in range(2)]
    row = _row(claims.evaluate(_ctx(cells, {"coco": "coco"})), "noise_hurts")
    assert row["n_pairs"] == 2 and row["mean_diff"] == pytest.approx(3.0)  # (1 + 3 + 5) / 3; missing excluded
    assert row["published"] == pytest.approx(2.13) and "noise settings" in row["published_source"]


# --------------------------------------------------------- point 8: BCKD and SSSD claims
def test_bckd_and_sssd_claims_have_the_papers_numbers():
    refs = load_references()
    assert claims.BY_ID["bckd_cls_only"].published.value(refs) == pytest.approx(42.0 - 40.1)
    assert claims.BY_ID["bckd_retinanet"].published.value(refs) == pytest.approx(2.7)
    assert claims.BY_ID["bckd_fcos"].published.value(refs) == pytest.approx(2.6)
    assert claims.BY_ID["bckd_cls_only"].a.method == "bckd_cls_only"
    assert claims.BY_ID["sssd_beats_baseline"].published is None
    assert (claims.BY_ID["sssd_beats_baseline"].a.method, claims.BY_ID["sssd_beats_baseline"].b.method) == (
        "sssd",
        "baseline",
    )


# ----------------------------------------------------------------- point 9: loc_before_cls
def test_loc_before_cls_is_per_dataset_and_only_the_tables_settings():
    trans = []
    for det, rate, s in itertools.product(["retinanet", "dino"], [0.2, 0.4], range(2)):
        diff = 4.0 if det == "retinanet" else -6.0
        trans.append({"dataset": "voc", "noise": "combined", "rate": rate, "detector": det, "method": "baseline",
                      "seed": s, "CA": 3.0, "GTBA": 3.0 + diff, "diff": diff})  # fmt: skip
    trans.append({"dataset": "voc", "noise": "cls", "rate": 0.4, "detector": "gfl", "method": "baseline", "seed": 0,
                  "CA": 9.0, "GTBA": 1.0, "diff": -8.0})  # fmt: skip
    table = claims.evaluate(_ctx([], {"voc": "voc"}, transitions=trans))
    voc = _row(table, "loc_before_cls_voc")
    assert voc["n_pairs"] == 4 and voc["mean_diff"] == pytest.approx(4.0) and voc["published"] == pytest.approx(4.75)
    assert _row(table, "loc_before_cls_coco")["holds"] == "not run"


# ------------------------------------------------------------- point 12 (claims): stand-ins
def test_synthetic_grid_evaluates_claims_as_stand_ins_never_counted():
    cells = _eldet_cells("synth", ["retinanet"], [("combined", 0.4)], 1.0)
    for c in cells:
        c["epochs"] = 3  # the stand-in's schedule is not checked
    table = claims.evaluate(_ctx(cells, {"synth": "synthetic"}))
    row = _row(table, "eldet_beats_baseline_c40")
    assert row["stand_in"] and row["n_pairs"] == 2 and "stand-in for voc, coco" in row["dataset"]
    counts = claims.verdict_counts(table)
    assert counts["holding"].sum() == 0 and counts["not_holding"].sum() == 0  # stand-ins are never counted
    assert counts["not_run"].sum() == len(claims.CLAIMS)  # not run on the paper's own dataset
    real = claims.evaluate(_ctx(_eldet_cells("voc", ["retinanet"], [("combined", 0.4)], 1.0), {"voc": "voc"}))
    holding = set(real[real["holds"].str.startswith("yes")]["claim"])
    assert holding == {"eldet_beats_baseline_c40", "eldet_beats_baseline_voc", "eldet_beats_baseline_combined"}
    assert int(claims.verdict_counts(real).set_index("paper").loc["eldet", "holding"]) == 3


# ----------------------------------------- every claim selects only what its number covers
#: Attributes the published rows leave unnamed, read from the paper text (independent of claims.py).
UNNAMED = {
    # 'mean clean-to-noisy drop' of paper Tab. 2: dataset and noise settings not named; Tab. 2's
    # per-detector answers name the four CNN detectors
    "noise_hurts": {"datasets": {"voc", "coco"}, "detectors": CNN4, "settings": {"clean-0"} | NOISY9},
    "eldet_beats_baseline_c40": {"datasets": {"voc", "coco"}},
    # "average improvement of 2.29 AP across all detectors and noise settings" = 40 settings:
    # 4 detectors x (clean + cls/loc/combined x 20/30/40 %)
    "eldet_beats_baseline_voc": {"detectors": CNN4, "settings": {"clean-0"} | NOISY9},
    "eldet_beats_baseline_coco": {"detectors": CNN4, "settings": {"clean-0"} | NOISY9},
    # the termination table's average rows: its 4 detectors x 3 rates, noise type read as combined
    "loc_before_cls_voc": {"detectors": CNN4, "settings": {"combined-0.2", "combined-0.3", "combined-0.4"}},
    "loc_before_cls_coco": {"detectors": CNN4, "settings": {"combined-0.2", "combined-0.3", "combined-0.4"}},
    # the TL;DR names no detector: SSSD's three (Faster R-CNN, RetinaNet, FCOS), clean COCO
    "sssd_beats_fixed": {"detectors": {"faster_rcnn", "retinanet", "fcos"}, "settings": {"clean-0"}},
}
DIFFERENCE_METRICS = ("AP_gain", "AP_drop", "AP_gain_vs_clean")


def _universe() -> reproduction.Context:
    """Every paper dataset x detector x setting x method x schedule, one seed: any selection is possible."""
    methods = sorted({m for c in claims.CLAIMS for m in (c.a.method, c.b.method)} | {"orsod", "adele"})
    dets = [*reproduction.SUITE_DETECTORS, "deformable_detr_refine", "gfl_r101", "retinanet_x101", "fcos_r101"]
    setts = [("clean", 0.0)] + [(n, r) for n in ("cls", "loc", "combined", "missing") for r in (0.2, 0.3, 0.4, 0.7)]
    cells, probes, trans = [], [], []
    for ds, det, (noise, rate), method, epochs in itertools.product(
        reproduction.PAPER_DATASETS, dets, setts, methods, (6, 12, 24, 50)
    ):
        cells.append(_c(det, method, noise, rate, 0, 10.0 + len(method), ds=ds, epochs=epochs))
        cid = f"{ds}/{noise}-{rate:g}/{det}/{method}/seed0/e{epochs}"
        probes.append({"cell": cid, "IS": 1.0 + len(method), "match_consistency": 0.5})
    for ds, det, (noise, rate) in itertools.product(reproduction.PAPER_DATASETS, dets, setts):
        trans.append({"dataset": ds, "noise": noise, "rate": rate, "detector": det, "method": "baseline", "seed": 0,
                      "CA": 3.0, "GTBA": 5.0, "diff": 2.0})  # fmt: skip
    return _ctx(cells, {d: d for d in reproduction.PAPER_DATASETS}, transitions=trans, probes=probes)


@pytest.fixture(scope="module")
def universe():
    return _universe()


def _allowed(claim: claims.Claim, row: dict, side: str) -> dict:
    """What cells one published row covers, on side 'a' or 'b' of the claim."""
    un = UNNAMED.get(claim.id, {})
    diff_row = row["metric"] in DIFFERENCE_METRICS or row["metric"] == "epoch"

    def need(key: str):
        assert key in un, f"{claim.id}: the published row leaves '{key}' unnamed and UNNAMED has no reading"
        return un[key]

    datasets = {row["dataset"]} if row["dataset"] else need("datasets")
    detectors = {row["detector"]} if row["detector"] else need("detectors")
    mapped = reproduction.map_row({**row, "dataset": row["dataset"] or "coco"}, {"coco": ("coco", False),
                                  **{d: (d, False) for d in reproduction.PAPER_DATASETS}})  # fmt: skip
    assert not mapped.outside, f"{claim.id}: published row outside the suite ({mapped.outside}): {row}"
    # empty noise = clean for papers without label noise; unnamed for ELDET's averages and stated gains
    unnamed_noise = not row["noise"] and (
        row["metric"] in DIFFERENCE_METRICS or (row["metric"] == "epoch" and pd.isna(row["rate"]))
    )
    if unnamed_noise:
        setts = need("settings")
    else:
        setts = {f"{mapped.noise}-{mapped.rate:g}"}
    method = mapped.method
    if diff_row and side == "b" and row["metric"] == "AP_gain":
        method = "baseline" if row["table"] != "TL;DR" else "sssd_fixed"  # SSSD: stepwise vs fixed lambda
    return {"datasets": datasets, "detectors": detectors, "settings": setts, "method": method,
            "epochs": reproduction.ref_epochs(row)}  # fmt: skip


def _covered(cell: dict, allowed: dict) -> bool:
    setting = f"{cell['noise']}-{float(cell['rate']):g}"
    return (
        cell["dataset"] in allowed["datasets"]
        and cell["detector"] in allowed["detectors"]
        and setting in allowed["settings"]
        and cell["method"] == allowed["method"]
        and (allowed["epochs"] is None or cell["epochs"] == allowed["epochs"])
    )


@pytest.mark.parametrize("claim", [c for c in claims.CLAIMS if c.published is not None], ids=lambda c: c.id)
def test_claim_selects_only_cells_its_published_number_covers(universe, claim):
    refs = load_references()
    a_rows, b_rows = claim.published.rows(refs)
    if not b_rows:  # a number printed as a difference covers both sides
        b_rows = a_rows
    allowed_a = [_allowed(claim, r, "a") for r in a_rows]
    allowed_b = [_allowed(claim, r, "b") for r in b_rows]
    p = claims.pairs(universe, claim)
    assert len(p), f"{claim.id} selects nothing even when every cell exists"
    for rec in p.to_dict("records"):
        for cell in rec["a_cells"]:
            assert any(_covered(cell, al) for al in allowed_a), f"{claim.id}: A cell {cell} not covered by {a_rows}"
        if claim.metric != "transition":
            for cell in rec["b_cells"]:
                assert any(_covered(cell, al) for al in allowed_b), f"{claim.id}: B cell {cell} not covered"
    # and the other way: every published row's detector and setting is among the pairs
    seen = {(c["detector"], f"{c['noise']}-{float(c['rate']):g}") for rec in p.to_dict("records") for c in rec["a_cells"]}  # fmt: skip
    for al in allowed_a:
        assert {(d, s) for d in al["detectors"] for s in al["settings"]} & seen, f"{claim.id}: {al} never selected"


def test_coverage_check_catches_a_claim_that_pools_too_much(universe):
    """The check above fails on the old eldet_beats_baseline_c40 (every detector, the grid's DETRs too)."""
    old = claims.Claim(
        "eldet_beats_baseline_c40", "eldet", "old", claims.Side("eldet"), claims.Side("baseline"),
        claims.BY_ID["eldet_beats_baseline_c40"].published, "", ("voc", "coco"),
        tuple(reproduction.SUITE_DETECTORS), ("combined-0.4",),
    )  # fmt: skip
    with pytest.raises(AssertionError, match="not covered"):
        test_claim_selects_only_cells_its_published_number_covers(universe, old)


def test_every_published_claim_number_is_finite():
    refs = load_references()
    for claim in claims.CLAIMS:
        if claim.published is not None:
            assert math.isfinite(claim.published.value(refs)), claim.id
        assert claim.published_source, claim.id
