"""Published-number tables: the loader's checks, and spot checks against the paper text itself.

The spot checks find each number in the paper file with a regular expression at test time, so a
transcription error in a CSV fails here independently of how the CSV was made. They skip when the
papers folder (``../shared/papers`` next to the repository) is absent.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import pandas as pd
import pytest

from analysis.references import (
    COLUMNS,
    HYPERPARAMETER_COLUMNS,
    KEY_COLUMNS,
    METRICS,
    NOISE_TYPES,
    PAPERS,
    REFERENCES_DIR,
    load_hyperparameters,
    load_references,
    lookup,
)
from benchmarks.errors import InputError

PAPERS_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "papers").resolve()
PAPER_FILES = {
    "eldet": "eldet_openreview_discussion.txt",
    "bckd": "bckd_iccv2023.txt",
    "od_detr": "od_detr_ijcai2024.txt",
    "sssd": "sssd.txt",
    "dn_detr": "dn_detr.txt",
}


@pytest.fixture(scope="module")
def refs() -> pd.DataFrame:
    return load_references()


@pytest.fixture(scope="module")
def paper_text():
    if not PAPERS_DIR.is_dir():
        pytest.skip(f"paper texts not found at {PAPERS_DIR}; spot checks need ../shared/papers")

    def read(paper: str) -> str:
        return (PAPERS_DIR / PAPER_FILES[paper]).read_text(encoding="utf-8")

    return read


def _nums(text: str) -> list[float]:
    """Numbers printed in a table cell/row, with '(+1.9)'-style deltas and HTML tags removed."""
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"\(\s*\+\s*[\d.]+\s*\)", "", text)
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def _search(pattern: str, text: str, flags: int = 0) -> re.Match:
    m = re.search(pattern, text, flags)
    assert m, f"pattern not found in paper text: {pattern!r}"
    return m


def _v(df: pd.DataFrame, paper: str, **criteria) -> float:
    return lookup(df, paper=paper, **criteria)


# ---------------------------------------------------------------------------------- structure


def test_every_paper_loads_with_declared_columns_and_dtypes(refs):
    assert tuple(refs.columns) == COLUMNS
    assert set(refs["paper"]) == set(PAPERS)
    for paper in PAPERS:
        one = load_references(paper)
        assert len(one) > 0 and set(one["paper"]) == {paper}
    assert refs["value"].dtype == "float64" and refs["rate"].dtype == "float64"
    assert str(refs["epochs"].dtype) == "Int64"
    assert all(str(refs[c].dtype) == "string" for c in COLUMNS if c not in ("rate", "value", "epochs"))
    assert refs["value"].map(math.isfinite).all()
    assert len(load_references(["bckd", "sssd"])) == len(load_references("bckd")) + len(load_references("sssd"))


def test_vocabularies_and_rates(refs):
    assert set(refs["noise"]) <= NOISE_TYPES
    assert set(refs["metric"]) <= METRICS
    rates = refs["rate"].dropna()
    assert ((rates >= 0) & (rates <= 1)).all()
    noisy = refs[refs["noise"].isin(["cls", "loc", "combined", "missing"])]
    assert len(noisy) > 0 and ((noisy["rate"] > 0) & (noisy["rate"] <= 1)).all()
    assert (refs.loc[refs["noise"] == "clean", "rate"] == 0).all()
    # AP-style values are AP points (0-100); only ELDET's Pets table prints fractions, and says so
    ap = refs[refs["metric"].isin(["AP", "AP50", "AP75", "APs", "APm", "APl"])]
    fractions = ap[ap["value"] <= 1.0]
    assert set(fractions["dataset"]) == {"pets"} and fractions["note"].str.contains("fraction").all()
    assert (ap["value"] <= 100).all()


def test_no_duplicate_keys(refs):
    dup = refs[refs.duplicated(list(KEY_COLUMNS), keep=False)]
    assert dup.empty, dup


def test_hyperparameters_load(refs):
    hp = load_hyperparameters()
    assert tuple(hp.columns) == HYPERPARAMETER_COLUMNS
    assert set(hp["paper"]) == set(PAPERS)
    assert not hp.duplicated(["paper", "method", "name"]).any()
    assert set(load_hyperparameters("sssd")["paper"]) == {"sssd"}


def test_lookup_needs_exactly_one_row(refs):
    assert lookup(refs, paper="od_detr", table="Table 7", method="od_detr", metric="AP") == 52.0
    with pytest.raises(KeyError, match="rows match"):
        lookup(refs, paper="od_detr", table="Table 7", metric="AP")
    with pytest.raises(KeyError, match="0 rows"):
        lookup(refs, paper="od_detr", table="Table 99", metric="AP")


# ------------------------------------------------------------------------------ loader errors

HEADER = ",".join(COLUMNS)
GOOD = "bckd,Table 1,coco,gfl,baseline,,,AP,40.1,,r50,,1x,,,"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD.replace(",40.1,", ",forty,")], r"line 2\): value 'forty' is not a number"),
        ([GOOD, GOOD.replace(",40.1,", ",x,")], r"line 3\): value 'x'"),
        ([GOOD.replace("coco,gfl,baseline,,,", "coco,gfl,baseline,combined,40,")], r"line 2\): rate 40.0 is not"),
        ([GOOD.replace(",AP,", ",mAP,")], r"line 2\): unknown metric 'mAP'"),
        ([GOOD.replace("baseline,,", "baseline,noisy,")], r"line 2\): noise 'noisy'"),
        ([GOOD + ",extra"], r"line 2\): 17 fields, expected 16"),
        ([GOOD, GOOD.replace(",40.1,", ",40.2,")], r"line 3\): duplicate key \(same as line 2\)"),
        ([GOOD.replace("bckd,", "eldet,", 1)], r"line 2\): paper 'eldet' does not match"),
        ([GOOD.replace(",gfl,", ",GFL,")], r"line 2\): detector 'GFL' is not an id"),
        ([GOOD.replace(",,r50,,1x,,,", ",,r50,,1x,12.5,,")], r"line 2\): epochs '12.5'"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, lines, message):
    (tmp_path / "bckd.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as err:
        load_references("bckd", root=tmp_path)
    assert str(tmp_path / "bckd.csv") in str(err.value)


def test_bad_header_missing_file_and_unknown_paper(tmp_path):
    (tmp_path / "bckd.csv").write_text("paper,table,value\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bckd.csv \(line 1\): header is"):
        load_references("bckd", root=tmp_path)
    with pytest.raises(InputError, match="sssd.csv: reference file not found"):
        load_references("sssd", root=tmp_path)
    with pytest.raises(InputError, match="unknown paper 'yolo'"):
        load_references("yolo")
    (tmp_path / "hyperparameters.csv").write_text(
        "paper,method,name,value,source\nbckd,bckd,alpha1,1.0,Sec. 4.3\nbckd,bckd,alpha1,2.0,Sec. 4.3\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"line 3\): duplicate hyper-parameter"):
        load_hyperparameters(root=tmp_path)


def test_shipped_files_are_exactly_the_papers_plus_hyperparameters():
    assert {p.name for p in REFERENCES_DIR.glob("*.csv")} == {f"{p}.csv" for p in PAPERS} | {"hyperparameters.csv"}


# ------------------------------------------------------------------- spot checks: ELDET (rebuttal)


def test_eldet_spot_checks(refs, paper_text):
    text = paper_text("eldet")
    # Deformable DETR table (VOC, AP50, combined noise)
    row = _search(r"Deformable DETR under combined noise.*?\n\| ELDET \|([^\n]*)\n", text, re.S).group(1)
    tab = "rebuttal: Deformable DETR (VOC, AP50)"
    for (noise, rate), printed in zip(
        [("clean", 0.0), ("combined", 0.2), ("combined", 0.3), ("combined", 0.4)], _nums(row), strict=True
    ):
        assert _v(refs, "eldet", table=tab, method="eldet", noise=noise, rate=rate, metric="AP50") == printed
    # Oxford Pets, rate 0.5 ELDET row (printed as fractions)
    printed = _nums(_search(r"\n\| ELDET \| 0\.5 \|(.*)\n", text).group(1))
    tab = "rebuttal: Oxford Pets (AP50)"
    for noise, value in zip(["loc", "cls", "combined"], printed, strict=True):
        assert _v(refs, "eldet", table=tab, method="eldet", noise=noise, rate=0.5, metric="AP50") == value
    # DINO with query denoising vs ELDET, 40 % noise
    printed = _nums(_search(r"\n\| DINO \+ Query Denoising \|(.*)\n", text).group(1))
    tab = "rebuttal: DINO query denoising vs ELDET (VOC, 40% noise)"
    for (noise, rate), value in zip(
        [("clean", 0.0), ("loc", 0.4), ("cls", 0.4), ("combined", 0.4)], printed, strict=True
    ):
        assert _v(refs, "eldet", table=tab, method="baseline", noise=noise, rate=rate, metric="AP") == value
    # termination epochs, COCO GFL 40 %
    loc, cls, diff = _nums(_search(r"\| MS COCO \| GFL \| 80 classes \| 40% \|(.*)\n", text).group(1))
    tab = "rebuttal: early-learning termination epochs"
    crit = dict(table=tab, dataset="coco", detector="gfl", rate=0.4, metric="epoch")
    assert _v(refs, "eldet", setting="loc_termination", **crit) == loc
    assert _v(refs, "eldet", setting="cls_termination", **crit) == cls
    assert _v(refs, "eldet", setting="difference", **crit) == diff
    # training cost vs ORSOD/ADELE: ORSOD on VOC FCOS
    hours, mem = _nums(_search(r"\| ORSOD \| PASCAL VOC \| FCOS \|(.*)\n", text).group(1))
    crit = dict(table="rebuttal: training cost vs ORSOD/ADELE (1x A100)", method="orsod", detector="fcos")
    assert _v(refs, "eldet", metric="hours", **crit) == hours == 3.67
    assert _v(refs, "eldet", metric="memory_mb", **crit) == mem == 10666
    # VinDr-CXR numbers stated in the text
    before, after = _nums(
        _search(r"FCOS improved from ([\d.]+) to ([\d.]+) AP under 40% combined noise", text).group(0)
    )[:2]
    crit = dict(table="rebuttal text", dataset="vindr", detector="fcos", noise="combined", rate=0.4, metric="AP")
    assert (_v(refs, "eldet", method="baseline", **crit), _v(refs, "eldet", method="eldet", **crit)) == (before, after)


def test_eldet_termination_table_is_internally_consistent(refs):
    """Each 'difference' is cls - loc, and the printed averages are the means of the rows (2 d.p.)."""
    t = refs[(refs["paper"] == "eldet") & (refs["table"] == "rebuttal: early-learning termination epochs")]
    for ds in ("voc", "coco"):
        rows = t[(t["dataset"] == ds) & (t["detector"] != "")]
        wide = rows.pivot_table(index=["detector", "rate"], columns="setting", values="value")
        assert len(wide) == 12
        assert (wide["cls_termination"] - wide["loc_termination"] == wide["difference"]).all()
        avg = t[(t["dataset"] == ds) & (t["detector"] == "")].set_index("setting")["value"]
        for col in ("loc_termination", "cls_termination"):
            assert round(statistics.mean(wide[col]), 2) == pytest.approx(avg[col], abs=1e-9)
        assert avg["difference"] == pytest.approx(avg["cls_termination"] - avg["loc_termination"], abs=0.011)


# ------------------------------------------------------------------------ spot checks: BCKD


def test_bckd_spot_checks(refs, paper_text):
    text = paper_text("bckd")
    # Table 1: GFocal R34 student (no distillation)
    printed = _nums(_search(r"^GFocal-Res34\(Student\)\t1x\t(.*)$", text, re.M).group(1))
    for metric, value in zip(["AP", "AP50", "AP75", "APs", "APm", "APl"], printed, strict=True):
        assert _v(refs, "bckd", table="Table 1", method="baseline", student_backbone="r34", metric=metric) == value
    # Table 2: FCOS block, PKD + Ours (the second 'PKD [4] + Ours' line, after the FCOS teacher)
    block = _search(r"FCOS-Res101\(Teacher\).*?\nPKD \[4\] \+ Ours\t1x\t(.*?)\n", text, re.S).group(1)
    crit = dict(table="Table 2", detector="fcos", method="pkd+bckd")
    assert [_v(refs, "bckd", metric=m, **crit) for m in ("AP", "AP50", "AP75", "APs", "APm", "APl")] == _nums(block)
    # Table 4: alpha1 sweep
    header, ap = _search(r"^α_1\t(.*)\nmAP\t(.*)$", text, re.M).groups()
    for alpha, value in zip(header.split("\t"), _nums(ap), strict=True):
        assert _v(refs, "bckd", table="Table 4", setting=f"alpha1={alpha};alpha2=0", metric="AP") == value
    # Table 6: self-KD, each cell 'without with'
    without, with_ = _nums(_search(r"^GFocal-Res18\t \t([\d.]+ [\d.]+)\t", text, re.M).group(1))
    assert _v(refs, "bckd", table="Table 6", student_backbone="r18", method="baseline", metric="AP") == without
    assert _v(refs, "bckd", table="Table 6", student_backbone="r18", method="bckd", metric="AP") == with_


def test_bckd_table1_printed_deltas_match_transcribed_values(refs, paper_text):
    """Every '(+d)' in Table 1 equals transcribed value minus the transcribed student baseline."""
    text = paper_text("bckd")
    region = _search(r"Method\tSchedule\tmAP.*?\n(.*?)\n\nTable 1\.", text, re.S).group(1)
    methods = {"LD [47]": "ld", "Ours": "bckd", "LD [47] + Ours": "ld+bckd"}
    metrics = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    backbone, checked = None, 0
    for line in region.split("\n"):
        label, _, *cells = line.split("\t")
        if m := re.match(r"GFocal-Res(\d+)\(Student\)", label):
            backbone = f"r{m.group(1)}"
            continue
        if label not in methods:
            continue
        for metric, cell in zip(metrics, cells, strict=True):
            value, delta = re.match(r"([\d.]+)\s*\(\+\s*([\d.]+)\)", cell).groups()
            crit = dict(table="Table 1", student_backbone=backbone, metric=metric)
            got = _v(refs, "bckd", method=methods[label], **crit)
            base = _v(refs, "bckd", method="baseline", **crit)
            assert got == float(value) and got - base == pytest.approx(float(delta), abs=1e-6)
            checked += 1
    assert checked == 3 * 3 * 6


# --------------------------------------------------------------------- spot checks: OD-DETR


def test_od_detr_spot_checks(refs, paper_text):
    text = paper_text("od_detr")
    # Table 1: OD-DINO-5scale (bold markup and delta in the cells)
    cells = _search(r"^OD-DINO-5scale \(ours\)\tR50\t12\t(.*)$", text, re.M).group(1)
    crit = dict(table="Table 1", detector="dino", method="od_detr", epochs=12, setting="5scale")
    assert [_v(refs, "od_detr", metric=m, **crit) for m in ("AP", "AP50", "AP75", "APs", "APm", "APl")] == _nums(cells)
    # Table 2: row 1 (MD only)
    assert _nums(_search(r"^1\t✓\t\t\t(.*)$", text, re.M).group(1)) == [
        _v(refs, "od_detr", table="Table 2", setting="MD", metric=m) for m in ("AP", "AP50", "AP75")
    ]
    # Table 5: naive distillation
    assert _nums(_search(r"^Naive Distillation\t(.*)$", text, re.M).group(1)) == [
        _v(refs, "od_detr", table="Table 5", setting="Naive Distillation", metric=m) for m in ("AP", "AP50", "AP75")
    ]
    # Table 7: EMA models, and the text's '+1.3 AP'
    dino_ema = _nums(_search(r"^DINO-EMA\t(.*)$", text, re.M).group(1))
    assert dino_ema == [
        _v(refs, "od_detr", table="Table 7", method="baseline", metric=m) for m in ("AP", "AP50", "AP75")
    ]
    gain = float(_search(r"OD-DETR-EMA outperforms DINO-EMA by ([\d.]+) AP", text).group(1))
    assert _v(refs, "od_detr", table="Table 7", method="od_detr", metric="AP") - dino_ema[0] == pytest.approx(gain)


# --------------------------------------------------------------------- spot checks: DN-DETR


def test_dn_detr_table1_columns_and_text(refs, paper_text):
    """Table 1 is extracted column by column in the text: parse the model and AP columns back."""
    text = paper_text("dn_detr")
    names = _search(r"under the same setting\..*?\nModel\n(.*?)\n\n#epochs", text, re.S).group(1).split("\n")
    ap_col = _search(r"#epochs\n\nAP\n.*?Params\n\n(?:\d+\n)+\n((?:[\d.]+(?:\(\+[\d.]+\))?\n)+)", text, re.S).group(1)
    pairs = list(zip(names, _nums(ap_col), strict=True))
    assert len(pairs) == 22
    ap = dict(pairs)  # the one repeated label ('Anchor DETR-R101 [21]', rows 9 and 19) is not used below
    for name, detector, method, backbone in [
        ("DN-DETR-R50", "dab_detr", "dn_detr", "r50"),
        ("DAB-DETR-R50 [14]", "dab_detr", "baseline", "r50"),
        ("Conditional DETR-R101 [15]", "conditional_detr", "baseline", "r101"),
        ("DETR-DC5-R50 [1]", "detr", "baseline", "r50_dc5"),
        ("DN-DETR-DC5-R101", "dab_detr", "dn_detr", "r101_dc5"),
    ]:
        crit = dict(table="Table 1", detector=detector, method=method, student_backbone=backbone, metric="AP")
        assert _v(refs, "dn_detr", **crit) == ap[name], name
    gain = float(_search(r"we achieve \+([\d.]+) AP absolute\s+improvement with ResNet-50", text).group(1))
    assert ap["DN-DETR-R50"] - ap["DAB-DETR-R50 [14]"] == pytest.approx(gain)


def test_dn_detr_spot_checks(refs, paper_text):
    text = paper_text("dn_detr")
    # abstract: 46.0 AP (12 epochs, Table 2) and 49.5 AP (50 epochs, Table 4) for DN-Deformable-DETR++ R50
    ap12, ap50 = map(
        float, _search(r"achieves ([\d.]+) AP and ([\d.]+) AP trained for 12 and 50 epochs", text).groups()
    )
    crit = dict(detector="dab_deformable_detr_pp", method="dn_detr", student_backbone="r50", metric="AP")
    assert _v(refs, "dn_detr", table="Table 2", epochs=12, **crit) == ap12
    assert _v(refs, "dn_detr", table="Table 4", epochs=50, **crit) == ap50
    best = float(_search(r"achieves the best\s+result ([\d.]+) AP with the ResNet-50", text).group(1))
    assert _v(refs, "dn_detr", table="Table 4", detector="dab_deformable_detr", method="dn_detr", metric="AP") == best
    # Table 6: denoising groups x backbone, printed column by column
    values = _nums(
        _search(r"No Group\s+1 Group\s+5 Groups\s+((?:[\d.]+\s+){12})R50\s+R50-DC5\s+R101\s+R101-DC5", text).group(1)
    )
    backbones = ["r50", "r50_dc5", "r101", "r101_dc5"]
    for i, groups in enumerate([0, 1, 5]):
        for j, bb in enumerate(backbones):
            got = _v(refs, "dn_detr", table="Table 6", setting=f"groups={groups}", student_backbone=bb, metric="AP")
            assert got == values[4 * i + j]
    # second 'TABLE 2' (Sec. 5.6.4): training minutes and GFLOPs
    m = _search(r"(\d+)\((\d+) epochs\)\s+(\d+)\((\d+) epochs\)\s+([\d.]+)\s+([\d.]+)", text)
    tab = "Table 2 (Sec. 5.6.4)"
    assert _v(refs, "dn_detr", table=tab, method="baseline", metric="train_minutes", epochs=int(m[2])) == float(m[1])
    assert _v(refs, "dn_detr", table=tab, method="dn_detr", metric="train_minutes", epochs=int(m[4])) == float(m[3])
    assert _v(refs, "dn_detr", table=tab, method="dn_detr", metric="train_gflops") == float(m[6])
    # second 'TABLE 4' (Sec. 5.7.1): known-label detection
    aps = _nums(_search(r"known label \(10ep\)\s+((?:[\d.]+\s+){4})", text).group(1))
    tab = "Table 4 (Sec. 5.7.1)"
    assert _v(refs, "dn_detr", table=tab, method="baseline", metric="AP") == aps[0]
    assert _v(refs, "dn_detr", table=tab, setting="known label (10ep); 1 denoising group", metric="AP") == aps[3]


def test_dn_detr_tables_agree_with_each_other(refs):
    """The paper repeats numbers across tables; the transcriptions must agree where it does."""
    dn = refs[refs["paper"] == "dn_detr"]
    for groups, method in [(0, "baseline"), (5, "dn_detr")]:
        for bb in ("r50", "r50_dc5", "r101", "r101_dc5"):
            t6 = lookup(dn, table="Table 6", setting=f"groups={groups}", student_backbone=bb, metric="AP")
            t1 = lookup(dn, table="Table 1", detector="dab_detr", method=method, student_backbone=bb, metric="AP")
            assert t6 == t1
    for metric in ("AP", "AP50", "AP75", "APs", "APm", "APl", "gflops", "params_m"):
        crit = dict(detector="dab_detr", method="baseline", student_backbone="r50_dc5", epochs=50, metric=metric)
        assert lookup(dn, table="Table 1", **crit) == lookup(dn, table="Table 1 (Sec. 5.6.3)", **crit)


# ------------------------------------------------------------------------ spot checks: SSSD


def test_sssd_spot_checks(refs, paper_text):
    """The SSSD text holds no table; check its stated numbers and hyper-parameters instead."""
    text = paper_text("sssd")
    hp = load_hyperparameters("sssd").set_index("name")["value"]
    assert float(hp["lambda"]) == float(_search(r"\\lambda=(\d+)\$ \(Ours", text).group(1))
    assert float(hp["lambda_step_iteration"]) == float(
        _search(r"changes \$\\\\lambda\$ at ([\d,]+) iterations", text).group(1).replace(",", "")
    )
    mant, exp = _search(r"after iteration \$(\d+) \\times 10\^(\d+)\$", text).groups()
    assert float(hp["lr_zero_after_iteration"]) == int(mant) * 10 ** int(exp)
    gain = float(_search(r"further boosts AP by about ([\d.]+)%", text).group(1))
    assert _v(refs, "sssd", table="TL;DR", metric="AP_gain") == gain


def test_hyperparameters_match_paper_text(paper_text):
    hp = load_hyperparameters().set_index(["paper", "method", "name"])["value"]
    od = paper_text("od_detr")
    assert float(hp["od_detr", "od_detr", "ema_decay"]) == float(_search(r"EMA decay value at (\d+\.\d+)", od).group(1))
    assert float(hp["od_detr", "od_detr", "w_d"]) == float(_search(r"with value of ([\d.]+) following", od).group(1))
    a, b = _search(r"\\alpha = ([\d.]+)\$\s+and\s+\$\\beta = ([\d.]+)\$", od).groups()
    assert (float(hp["od_detr", "od_detr", "alpha"]), float(hp["od_detr", "od_detr", "beta"])) == (float(a), float(b))
    bk = paper_text("bckd")
    a1, a2 = _search(r"\\alpha_1 = ([\d.]+)\$ and \$\\alpha_2 = ([\d.]+)\$", bk).groups()
    assert (float(hp["bckd", "bckd", "alpha1"]), float(hp["bckd", "bckd", "alpha2"])) == (float(a1), float(a2))
    dn = paper_text("dn_detr")
    l1, l2, g = _search(r"λ1 = (\d+\.\d+), λ2 = (\d+\.\d+),\s+and γ = (\d+\.\d+)", dn).groups()
    assert [float(hp["dn_detr", "dn_detr", n]) for n in ("lambda1", "lambda2", "gamma")] == [
        float(l1),
        float(l2),
        float(g),
    ]


# ------------------------------------------------------- schedule labels, in-paper inconsistencies
def test_od_detr_table2_baseline_is_table1s_50_epoch_row_not_2x(refs, paper_text):
    text = paper_text("od_detr")
    table1 = _nums(_search(r"^Def-DETR\+\tR50\t50\t(.*)$", text, re.M).group(1))
    base = refs[(refs["paper"] == "od_detr") & (refs["table"] == "Table 2") & (refs["method"] == "baseline")]
    assert list(base["value"]) == table1[:3]  # 45.4 / 64.7 / 49.0
    assert set(base["schedule"]) == {""} and set(base["epochs"]) == {50}
    methods = refs[(refs["paper"] == "od_detr") & (refs["table"] == "Table 2") & (refs["method"] == "od_detr")]
    assert set(methods["schedule"]) == {"2x"}


def test_in_paper_inconsistencies_exist_and_are_flagged_in_the_readme(refs, paper_text):
    readme = (REFERENCES_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In-paper inconsistencies", 1)[1].split("\n## ", 1)[0]
    # BCKD Table 2 FCOS Ours: AP75 42.0 printed with (+3.3), student AP75 38.8
    row = _search(r"^FCOS-Res50\(Student\)\t1x\t(.*)\nOurs\t1x\t(.*)$", paper_text("bckd"), re.M)
    assert "42.0(+3.3)" in row.group(2).replace(" ", "")
    student_ap75 = _v(refs, "bckd", table="Table 2", detector="fcos", method="baseline", metric="AP75")
    assert student_ap75 == _nums(row.group(1))[2] == 38.8 and round(42.0 - student_ap75, 1) != 3.3
    assert "42.0 (+3.3)" in section and "38.8" in section
    # OD-DETR Sec. 4.3: "+2.3 AP, reaching 46.6" over naive distillation's 44.2
    od = paper_text("od_detr")
    assert "increase of 2.3 AP, reaching 46.6 AP" in od
    naive = _v(refs, "od_detr", table="Table 5", setting="Naive Distillation", metric="AP")
    assert naive == 44.2 and round(46.6 - naive, 1) != 2.3
    assert "46.6" in section and "44.2" in section
    # DN-DETR: training GFLOPs 94.6 in Sec. 4.4, 94.5 in Table 2 (Sec. 5.6.4)
    assert _v(refs, "dn_detr", table="text: Sec. 4.4", method="dn_detr", metric="train_gflops") == 94.6
    assert _v(refs, "dn_detr", table="Table 2 (Sec. 5.6.4)", method="dn_detr", metric="train_gflops") == 94.5
    assert "94.6" in section and "94.5" in section
