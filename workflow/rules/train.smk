# Training stage: one job per cell. Rerun one cell by asking for its metrics.json
# (add --forcerun to redo it: a forced rerun retrains from scratch); a killed cell resumes from its
# checkpoint/ when rerun. A cell's identity is its spec hash (benchmarks/grids/spec.py): rule
# cell_spec rewrites runs/<cell>/spec.json when the hash changes (Snakemake's params trigger), so
# editing a grid entry or a method's code (benchmarks/grids/code_digest.py) reruns exactly the
# cells it decides, their students and the analysis.
#
# Resources come from the grid's `resources` and are what snakemake-executor-plugin-slurm turns
# into sbatch options (profiles in workflow/profiles/): a CPU cell asks for `threads` cores
# (--cpus-per-task); a cell with gpu: N > 0 is one SLURM task holding N GPUs and cpus_per_gpu
# cores per GPU (--gpus [gpu_type:]N --cpus-per-gpu; tasks_per_gpu=0 so that torchrun, not srun,
# starts the N training processes). Each retry (the profiles' `retries`) asks for more: runtime x
# attempt and memory x (1 + (attempt - 1) / 2), so a cell that hit its time or memory limit is
# resubmitted bigger and resumes from its last checkpoint.


rule cell_spec:
    output:
        f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/spec.json",
    log:
        f"{RES}/logs/spec/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}.log",
    wildcard_constraints:
        noise="clean|cls|loc|combined|missing",
        rate=r"[0-9.]+",
        seed=r"\d+",
    localrule: True
    params:
        spec_hash=spec_hash,
    run:
        write_cell_spec(wildcards, output[0], log[0])


rule train_cell:
    input:
        unpack(train_inputs),
    output:
        metrics=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/metrics.json",
        probe=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/probe.csv",
        dets=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/dets_val.json",
        cost=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/cost.json",
        config=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/config.py",
    log:
        f"{RES}/logs/train/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}.log",
    wildcard_constraints:
        noise="clean|cls|loc|combined|missing",
        rate=r"[0-9.]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: train_threads()
    resources:
        **gpu_resources(),
        mem_mb=lambda wildcards, attempt: scaled_resource("mem_mb", attempt),
        runtime=lambda wildcards, attempt: scaled_resource("runtime", attempt),
        gpu=GRID["resources"]["gpu"],
        cpus_per_gpu=GRID["resources"]["cpus_per_gpu"],
    params:
        processes=max(1, GRID["resources"]["gpu"]),
    shell:
        "python -m benchmarks.train --spec {input.spec} --threads {threads} "
        "--processes {params.processes} > {log} 2>&1"


# A teacher cell's final weights, exported once for every student that names it (the DAG edge of
# distillation methods: the student's training job waits for this file).
rule export_weights:
    input:
        metrics=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/metrics.json",
    output:
        f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/weights.pth",
    log:
        f"{RES}/logs/export/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}.log",
    wildcard_constraints:
        noise="clean|cls|loc|combined|missing",
        rate=r"[0-9.]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    params:
        cell_dir=lambda wildcards, input: os.path.dirname(input.metrics),
    shell:
        "python -m benchmarks.export_weights --cell-dir {params.cell_dir} > {log} 2>&1"


# Compute accounting of the grid: every cell's cost.json (GPU-hours, CPU core-hours, resumes) in
# one table with totals per detector.
rule cost_summary:
    input:
        cells=f"{RES}/cells.json",
        costs=[cell_path(c, "cost.json") for c in CELLS],
    output:
        csv=report(
            f"{RES}/tables/compute.csv",
            caption="../report/compute.rst",
            category="Cost",
            labels={"table": "compute", "format": "csv"},
        ),
        md=report(
            f"{RES}/tables/compute.md",
            caption="../report/compute.rst",
            category="Cost",
            labels={"table": "compute", "format": "markdown"},
        ),
    log:
        f"{RES}/logs/analysis/compute_summary.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m analysis.cost_summary --cells {input.cells} --out {output.csv} --markdown {output.md} > {log} 2>&1"


# The cells of the grid, exactly those of the DAG: every analysis and report rule reads this list
# (analysis/cell_files.py) instead of globbing runs/, so cells dropped from the grid stay out.
rule cell_manifest:
    input:
        metrics=[cell_path(c, "metrics.json") for c in CELLS],
    output:
        f"{RES}/cells.json",
    log:
        f"{RES}/logs/analysis/cell_manifest.log",
    localrule: True
    run:
        write_cell_manifest(input.metrics, output[0], log[0])
