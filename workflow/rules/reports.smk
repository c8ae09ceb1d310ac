# Reports stage: papermill executes every notebook on this grid's results, nbconvert renders each
# to self-contained HTML (inline images, no CDN), and an index links them with per-table counts.
from analysis.notebook_specs import NAMES as NOTEBOOK_NAMES

# Figure folders the index shows as thumbnails and the reports beside their tables (as all_targets
# plans them).
INDEX_FIGURES = [f"{RES}/tide"] + (
    [f"{RES}/figures/transition"]
    + (
        [f"{RES}/figures/matching"]
        if any(get_detector(c.detector).family == "detr" for c in CELLS)
        else []
    )
    if GRID["probe"]["enabled"]
    else []
)


# What the notebooks read: every cell's files and the analysis stage's tables and figures.
REPORT_INPUTS = (
    [cell_path(c, "metrics.json") for c in CELLS]
    + [f"{RES}/cells.json", f"{RES}/tables/claims.csv"]
    + ([f"{RES}/tables/transition.csv"] if GRID["probe"]["enabled"] else [])
    + INDEX_FIGURES
)


rule notebook:
    input:
        notebook="notebooks/{nb}.ipynb",
        results=REPORT_INPUTS,
    output:
        f"{RES}/notebooks/{{nb}}.ipynb",
    log:
        f"{RES}/logs/reports/{{nb}}.notebook.log",
    wildcard_constraints:
        nb="|".join(NOTEBOOK_NAMES),
    conda:
        "../../environment.yml"
    params:
        results_dir=lambda wildcards: os.path.abspath(os.path.dirname(RES)),
        grid=GRID["name"],
        cwd=workflow.basedir,
    shell:
        "papermill {input.notebook} {output} -p grid {params.grid} -p results_dir {params.results_dir} "
        "--cwd {params.cwd} -k python3 --no-progress-bar > {log} 2>&1"


rule notebook_html:
    input:
        f"{RES}/notebooks/{{nb}}.ipynb",
    output:
        report(
            f"{RES}/reports/{{nb}}.html",
            caption="../report/notebook.rst",
            category="Reports",
            labels={"report": "{nb}"},
        ),
    log:
        f"{RES}/logs/reports/{{nb}}.html.log",
    wildcard_constraints:
        nb="|".join(NOTEBOOK_NAMES),
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.report_html html --notebook {input} --out {output} > {log} 2>&1"


rule reports_index:
    input:
        reports=expand(f"{RES}/reports/{{nb}}.html", nb=NOTEBOOK_NAMES),
        gains=f"{RES}/tables/gains.csv",
        claims=f"{RES}/tables/claims.csv",
        figures=INDEX_FIGURES,
        phenomena=([f"{RES}/tables/pretraining.csv"] if PRE_CELLS else [])
        + (
            [f"{RES}/tables/transition.csv", f"{RES}/tables/memorization.csv"]
            if GRID["probe"]["enabled"] and NOISY_SETTINGS
            else []
        ),
    output:
        report(
            f"{RES}/reports/index.html",
            caption="../report/index.rst",
            category="Reports",
            labels={"report": "index"},
        ),
    log:
        f"{RES}/logs/reports/index.log",
    conda:
        "../../environment.yml"
    params:
        results_dir=lambda wildcards: os.path.abspath(os.path.dirname(RES)),
        grid=GRID["name"],
    shell:
        "python -m analysis.report_html index --results-dir {params.results_dir} --grid {params.grid} "
        "--out {output} > {log} 2>&1"
