"""The report notebooks: one per paper table or figure group, declared once as data.

Why a registry: three places need the same list -- ``notebooks/build.py`` writes the notebooks,
``workflow/rules/reports.smk`` executes and renders each one, and the index page counts, per paper
table, how many published numbers are reproduced. Keeping the list here means adding a notebook is
one entry, and a test checks that the committed ``.ipynb`` files are exactly what ``build.py``
writes from it.

``kind`` selects the notebook's cells (``notebooks/build.py``):

* ``compare``: every published number of ``tables`` next to the reproduction (analysis.reproduction);
* ``reproduced``: a grid table of reproduced AP for ``methods`` (the paper's numbers for it are not
  in the text we have, e.g. ELDET's main Tables 1-4), plus any ``tables`` that are;
* ``transition``: ``compare`` for the termination-epoch table plus the per-cell transition epochs;
* ``tide``: the TIDE error-type figure from ``tide/tide_cells.csv`` for ``methods``;
* ``probe_curve``: per-epoch probe.csv ``columns`` (written by the hooks: ``IS``, ``IS_ema``,
  ``match_consistency`` by benchmarks/training/matching_hooks.py) of the ``detectors`` cells, one
  panel per column, one line per method; a cell's probe.csv without one of them is an error;
* ``claims``: the reproduction-gap summary (analysis.claims).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    title: str
    paper: str
    kind: str
    tables: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    method_module: str = ""  # reproduced: also every grid entry whose module is this (ablation variants)
    columns: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()  # probe_curve: the cells whose probe.csv must have the columns
    figures: tuple[str, ...] = ()  # globs under results/<grid>/ of the analysis figures shown beside the tables
    description: str = ""
    extra: dict = field(default_factory=dict)


_T = "rebuttal: "
DETR = ("deformable_detr", "deformable_detr_refine", "dino")
NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec("summary", "Reproduction-gap summary: headline claims", "all", "claims",
                 description="Published vs reproduced contrast per headline claim, with paired tests over seeds."),
    NotebookSpec("eldet_main", "ELDET: main noisy-label results per dataset and detector", "eldet", "reproduced",
                 tables=("rebuttal text", "rebuttal text (paper Tab. 2)", "rebuttal text (paper Table 1)"),
                 methods=("baseline", "orsod", "adele", "eldet"), figures=("tide/noise_shift__*.png",),
                 description="The main paper's Tables 1-4 are not in the discussion text: reproduced AP per "
                 "dataset x noise x detector x method, plus every number the discussion states."),
    NotebookSpec("eldet_transition", "ELDET: early-learning termination epochs (CA vs GTBA)", "eldet", "transition",
                 tables=(_T + "early-learning termination epochs",), figures=("figures/transition/summary__*.png",)),
    NotebookSpec("eldet_detr", "ELDET: Deformable DETR and DINO", "eldet", "compare",
                 tables=(_T + "Deformable DETR (VOC, AP50)", _T + "DINO query denoising vs ELDET (VOC, 40% noise)")),
    NotebookSpec("eldet_pets", "ELDET: Oxford-IIIT Pets", "eldet", "compare", tables=(_T + "Oxford Pets (AP50)",)),
    NotebookSpec("eldet_vindr", "ELDET: VinDr-CXR", "eldet", "compare", tables=("rebuttal text",),
                 extra={"dataset": "vindr"}),
    NotebookSpec("eldet_cost", "ELDET: training cost", "eldet", "compare",
                 tables=(_T + "training cost (1x A100)", _T + "training cost vs ORSOD/ADELE (1x A100)")),
    NotebookSpec("eldet_ablation", "ELDET: ablation (variants of the ELDET entry)", "eldet", "reproduced",
                 methods=("baseline", "eldet"), method_module="eldet",
                 description="Grid entries whose module is eldet (e.g. eldet_ca_only) next to the full method."),
    NotebookSpec("bckd_main", "BCKD: main tables and ablations", "bckd", "compare",
                 tables=("Table 1", "Table 2", "Table 3", "Table 4", "Table 5"), figures=("tide/methods__*.png",)),
    NotebookSpec("bckd_tide", "BCKD: TIDE error analysis (Fig. 4)", "bckd", "tide", methods=("baseline", "bckd")),
    NotebookSpec("bckd_selfkd", "BCKD: self-KD", "bckd", "compare", tables=("Table 6",)),
    NotebookSpec("od_detr_main", "OD-DETR: main tables", "od_detr", "compare", tables=("Table 1", "Table 7"),
                 figures=("figures/matching/*.png",)),
    NotebookSpec("od_detr_ablation", "OD-DETR: ablations", "od_detr", "compare",
                 tables=("Table 2", "Table 3", "Table 4", "Table 5", "Table 6")),
    NotebookSpec("od_detr_matching", "OD-DETR: matching stability", "od_detr", "probe_curve",
                 methods=("baseline", "od_detr"), columns=("IS", "match_consistency"), detectors=DETR,
                 description="Fig. 1 (instability IS, lower = more stable) and Fig. 5 (matching consistency of "
                 "the online model and its EMA teacher, higher = more stable), per epoch."),
    NotebookSpec("sssd_main", "SSSD: main table", "sssd", "compare", tables=("TL;DR",)),
    NotebookSpec("dn_detr_main", "DN-DETR: main tables", "dn_detr", "compare",
                 tables=("Table 1", "Table 2", "Table 3", "Table 4", "Table 1 (Sec. 5.6.3)"),
                 figures=("figures/matching/*.png",)),
    NotebookSpec("dn_detr_ablation", "DN-DETR: ablations and cost", "dn_detr", "compare",
                 tables=("Table 5", "Table 6", "Table 2 (Sec. 5.6.4)", "Table 3 (Sec. 5.7.1)", "Table 4 (Sec. 5.7.1)",
                         "text: Sec. 4.4", "text: Sec. 5.6.4", "Fig. 7 caption")),
    NotebookSpec("dn_detr_instability", "DN-DETR: bipartite-matching instability", "dn_detr", "probe_curve",
                 methods=("baseline", "dn_detr"), columns=("IS",), detectors=DETR,
                 description="Fig. 3: instability IS (changed query-object assignments between epochs), per epoch."),
)  # fmt: skip

BY_NAME = {nb.name: nb for nb in NOTEBOOKS}
NAMES = tuple(BY_NAME)
