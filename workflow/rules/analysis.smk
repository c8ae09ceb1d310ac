# Analysis stage: grid-level tables and figures computed from the cells' files.


rule transition_table:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        csv=f"{RES}/tables/transition.csv",
        md=f"{RES}/tables/transition.md",
    log:
        f"{RES}/logs/analysis/transition_table.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.transition_table --cells {input.cells} --out {output.csv} "
        "--markdown {output.md} --no-progress > {log} 2>&1"


rule transition_plots:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        directory(f"{RES}/figures/transition"),
    log:
        f"{RES}/logs/analysis/transition_plots.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.transition_plots --cells {input.cells} --out-dir {output} --no-progress > {log} 2>&1"


rule tide_report:
    input:
        dets=[cell_path(c, "dets_val.json") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        directory(f"{RES}/tide"),
    log:
        f"{RES}/logs/analysis/tide_report.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.tide_report --cells {input.cells} --out-dir {output} --no-progress > {log} 2>&1"


rule matching_plots:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        directory(f"{RES}/figures/matching"),
    log:
        f"{RES}/logs/analysis/matching_plots.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.matching_plots --cells {input.cells} --out-dir {output} --no-progress > {log} 2>&1"


rule cost_table:
    input:
        costs=[cell_path(c, "cost.json") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        csv=f"{RES}/tables/cost.csv",
        md=f"{RES}/tables/cost.md",
    log:
        f"{RES}/logs/analysis/cost_table.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.cost_table --cells {input.cells} --out {output.csv} "
        "--markdown {output.md} > {log} 2>&1"


# Method vs paired baseline over seeds: AP gain, wins, paired t-test, DETR matching stability.
rule method_gains:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        csv=f"{RES}/tables/gains.csv",
        md=f"{RES}/tables/gains.md",
    log:
        f"{RES}/logs/analysis/method_gains.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.method_gains --cells {input.cells} --out {output.csv} "
        "--markdown {output.md} > {log} 2>&1"


# Headline claims: published contrast vs the grid's paired contrast, from exactly these cell files.
rule claims_table:
    input:
        cells=f"{RES}/cells.json",
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        costs=[cell_path(c, "cost.json") for c in CELLS],
        transitions=(
            [f"{RES}/tables/transition.csv"] if GRID["probe"]["enabled"] else []
        ),
    output:
        csv=f"{RES}/tables/claims.csv",
        md=f"{RES}/tables/claims.md",
    log:
        f"{RES}/logs/analysis/claims_table.log",
    conda:
        "../../environment.yml"
    params:
        transitions=lambda wildcards, input: (
            f"--transitions {input.transitions}" if input.transitions else ""
        ),
    shell:
        "python -m analysis.claims_table --cells {input.cells} "
        "--probes {input.probes} --costs {input.costs} {params.transitions} "
        "--out {output.csv} --markdown {output.md} > {log} 2>&1"
