# Analysis stage: grid-level tables and figures computed from the cells' files.


rule transition_table:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        csv=report(
            f"{RES}/tables/transition.csv",
            caption="../report/transition_table.rst",
            category="Transition epochs",
            labels={"table": "transition", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/transition.md",
            caption="../report/transition_table.rst",
            category="Transition epochs",
            labels={"table": "transition", "format": "markdown"},
        ),
    log:
        f"{RES}/logs/analysis/transition_table.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.transition_table --cells {input.cells} --out {output.csv} "
        "--markdown {output.md} --no-progress > {log} 2>&1"


# The pretraining stage's runs: AP on the source set and who starts from each.
rule pretraining_table:
    input:
        metrics=[cell_path(c, "metrics.json") for c in PRE_CELLS],
    output:
        csv=report(
            f"{RES}/tables/pretraining.csv",
            caption="../report/pretraining.rst",
            category="Pretraining",
            labels={"table": "pretraining", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/pretraining.md",
            caption="../report/pretraining.rst",
            category="Pretraining",
            labels={"table": "pretraining", "format": "markdown"},
        ),
    log:
        f"{RES}/logs/analysis/pretraining_table.log",
    conda:
        "../../environment.yml"
    params:
        used_by=" ".join(
            f"{d}={','.join(users)}" for d, users in G.pretraining_users(GRID).items()
        ),
    shell:
        "python -m analysis.pretraining_table --metrics {input.metrics} --used-by {params.used_by} "
        "--out {output.csv} --markdown {output.md} > {log} 2>&1"


# Memorization per noisy cell: the clean-label train AP's peak, its drop and the noisy-label fit.
rule memorization_table:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        csv=report(
            f"{RES}/tables/memorization.csv",
            caption="../report/memorization.rst",
            category="Transition epochs",
            labels={"table": "memorization", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/memorization.md",
            caption="../report/memorization.rst",
            category="Transition epochs",
            labels={"table": "memorization", "format": "markdown"},
        ),
    log:
        f"{RES}/logs/analysis/memorization_table.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.memorization --cells {input.cells} --out {output.csv} "
        "--markdown {output.md} > {log} 2>&1"


rule transition_plots:
    input:
        probes=[cell_path(c, "probe.csv") for c in CELLS],
        cells=f"{RES}/cells.json",
    output:
        report(
            directory(f"{RES}/figures/transition"),
            patterns=["{name}.png"],
            caption="../report/transition_plots.rst",
            category="Transition epochs",
            labels={"figure": "{name}"},
        ),
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
        report(
            directory(f"{RES}/tide"),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/tide.rst",
            category="TIDE",
            labels={"file": "{name}"},
        ),
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
        report(
            directory(f"{RES}/figures/matching"),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/matching.rst",
            category="Matching stability",
            labels={"file": "{name}"},
        ),
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
        csv=report(
            f"{RES}/tables/cost.csv",
            caption="../report/cost_table.rst",
            category="Cost",
            labels={"table": "cost", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/cost.md",
            caption="../report/cost_table.rst",
            category="Cost",
            labels={"table": "cost", "format": "markdown"},
        ),
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
        csv=report(
            f"{RES}/tables/gains.csv",
            caption="../report/gains.rst",
            category="Method gains",
            labels={"table": "gains", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/gains.md",
            caption="../report/gains.rst",
            category="Method gains",
            labels={"table": "gains", "format": "markdown"},
        ),
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
        csv=report(
            f"{RES}/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "claims", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/claims.md",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "claims", "format": "markdown"},
        ),
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
