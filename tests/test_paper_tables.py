"""Paper-shaped tables (analysis/paper_tables.py): the paper's rows and columns, one cell per number."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import paper_tables as P
from analysis import report_html as R
from analysis import reproduction

TERM = "rebuttal: early-learning termination epochs"


def _ctx(transitions: list[dict], datasets: dict[str, str]) -> reproduction.Context:
    cells = pd.DataFrame(columns=reproduction.CELL_COLUMNS)
    trans = pd.DataFrame(transitions, columns=reproduction.TRANSITION_COLUMNS)
    return reproduction.Context("g", Path("/nonexistent"), datasets, cells, trans)


def _t(det: str, rate: float, seed: int, ca: float, gtba: float, ds: str = "voc") -> dict:
    return {"dataset": ds, "noise": "combined", "rate": rate, "detector": det, "method": "baseline", "seed": seed,
            "CA": ca, "GTBA": gtba, "diff": gtba - ca}  # fmt: skip


def _cells(table_html: str) -> list[list[str]]:
    """The table's rows as lists of cell texts (header first)."""
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", table_html, re.S):
        rows.append([re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)])
    return [[" ".join(c) for c in r] for r in rows]


@pytest.fixture()
def termination():
    # RetinaNet 40 %: CA 4, 5, 3 (mean 4 = published 4: inside); GTBA 6, 6.5, 7 (published 11: outside)
    trans = [_t("retinanet", 0.4, s, ca, g) for s, (ca, g) in enumerate([(4, 6), (5, 6.5), (3, 7)])]
    trans.append(_t("fcos", 0.2, 0, 3, 9))  # one seed: no interval
    f = reproduction.compare(_ctx(trans, {"voc": "voc"}), "eldet", [TERM])
    return f, P.paper_table_html(f, "eldet", TERM)


def test_termination_table_has_the_papers_rows_and_columns(termination):
    f, page = termination
    rows = _cells(page.split("<ol")[0])
    assert rows[0] == ["dataset", "detector", "noise", "loc_termination", "cls_termination", "difference"]
    # 2 datasets x (4 detectors x 3 rates + the average row): 26 rows where the long format has 78
    assert len(rows) - 1 == 26 and len(f) == 78
    retina = next(r for r in rows if r[:3] == ["voc", "retinanet", "0.4"])
    assert retina[3] == "4 1 4.00 ± 1.00 (3)"  # published 4 (caveat 1), reproduced 4.00 ± 1.00 (n=3)
    assert retina[4].startswith("11 1 6.50 ± 0.50 (3)")


def test_cells_coloured_by_the_interval_and_caveats_listed_once(termination):
    f, page = termination
    retina_ca = re.search(r"<td class='(\w+)'[^>]*><div class='pub'>4<sup>1</sup></div><div class='rep'>4.00", page)
    assert retina_ca and retina_ca.group(1) == "inside"
    assert re.search(r"<td class='outside'[^>]*><div class='pub'>11<sup>1</sup></div><div class='rep'>6.50", page)
    assert re.search(r"<td class='untested'[^>]*><div class='pub'>3<sup>1</sup></div><div class='rep'>3.00 \(1\)", page)
    caveats = re.findall(r"<li>(.*?)</li>", page)
    assert caveats == ["noise type not stated: read as combined"]  # once per table, not once per row
    assert page.count("noise type not stated") == 1 and page.count("<sup>1</sup>") == 78  # every number marked


def test_report_links_the_long_csv_and_loads_nothing(termination):
    f, _ = termination
    page = P.report_html(f, "eldet", [TERM], name="eldet_transition")
    assert R.network_refs(page) == []
    data = re.search(r"href='data:text/csv;base64,([^']+)'", page).group(1)
    back = pd.read_csv(io.BytesIO(base64.b64decode(data)))
    assert len(back) == len(f) and list(back.columns) == list(f.columns)
    assert "download='eldet_transition.csv'" in page


def test_stand_in_values_only_in_their_own_section():
    trans = [_t("retinanet", 0.4, s, 4 + s, 8, ds="synth") for s in range(2)]
    f = reproduction.compare(_ctx(trans, {"synth": "synthetic"}), "eldet", [TERM])
    own = P.paper_table_html(f, "eldet", TERM)
    assert "4.50" not in own and "class='inside'" not in own  # the stand-in value is not beside the paper's
    apart = P.paper_table_html(f, "eldet", TERM, stand_in=True)
    assert "4.50 ± 0.71 (2)" in apart and "class='pub'" not in apart  # no published number beside it
    page = P.report_html(f, "eldet", [TERM])
    assert page.index("Stand-in results") < page.index("4.50 ± 0.71 (2)")


def test_bckd_table1_reads_like_the_paper():
    f = reproduction.compare(_ctx([], {"coco": "coco"}), "bckd", ["Table 1"])
    rows = _cells(P.paper_table_html(f, "bckd", "Table 1").split("<ol")[0])
    assert rows[0] == ["backbone", "method", "AP", "AP50", "AP75", "APs", "APm", "APl"]
    # the paper's 13 rows: the R101 teacher, then baseline / LD / Ours / LD + Ours for R50, R34, R18
    assert len(rows) - 1 == 13
    assert [r[:2] for r in rows[1:6]] == [["r101", "teacher"], ["r50", "baseline"], ["r50", "ld"], ["r50", "bckd"],
                                           ["r50", "ld+bckd"]]  # fmt: skip
    assert rows[4][2].startswith("43.2")
    assert rows[1][4].startswith("49.0")  # the teacher's AP75 as printed, not "49"


def test_figures_sit_beside_the_tables(termination):
    f, _ = termination
    page = P.report_html(f, "eldet", [TERM], figures=[("summary", "data:image/png;base64,iVBORw0KGgo=")])
    side = page.split("<div class='side'>", 1)[1]
    tables, figures = side.split("<div class='figures'>", 1)
    assert "<table class='paper'>" in tables and "data:image/png;base64,iVBORw0KGgo=" in figures
    assert "<figcaption>summary</figcaption>" in figures
    empty = P.report_html(f, "eldet", [TERM], no_figure="nothing reproduced")
    assert "<b>not run</b>: nothing reproduced" in empty


def test_transition_report_embeds_the_analysis_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tests.test_reports import _run_inprocess, _texts

    figdir = tmp_path / "g" / "figures" / "transition"
    figdir.mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(figdir / "summary__voc__baseline__combined.png")
    plt.close(fig)
    text = _texts(_run_inprocess("eldet_transition", tmp_path, "g"))
    assert "<figcaption>summary__voc__baseline__combined</figcaption>" in text
    assert R.figure_file_png(figdir / "summary__voc__baseline__combined.png") in text


def test_spec_figures_are_files_the_analysis_stage_writes():
    from analysis.index_glance import KEY_FIGURES
    from analysis.notebook_specs import NOTEBOOKS

    producers = {"tide": "tide_report.py", "figures/transition": "transition_plots.py",
                 "figures/matching": "matching_plots.py"}  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    globs = [g for s in NOTEBOOKS for g in s.figures] + [g for gs in KEY_FIGURES.values() for g in gs]
    assert globs
    for pattern in globs:
        folder, name = pattern.rsplit("/", 1)
        assert folder in producers, pattern
        prefix = name.split("*", 1)[0]
        assert prefix in (repo / "analysis" / producers[folder]).read_text(), pattern
