# Training stage: one job per cell. Rerun one cell by asking for its metrics.json
# (add --forcerun to redo it); a killed cell resumes from its checkpoint/ when rerun.
#
# Resources come from the grid's `resources` and are what snakemake-executor-plugin-slurm turns
# into sbatch options (profiles in workflow/profiles/): a CPU cell asks for `threads` cores
# (--cpus-per-task); a cell with gpu: N > 0 is one SLURM task holding N GPUs and cpus_per_gpu
# cores per GPU (--gpus [gpu_type:]N --cpus-per-gpu; tasks_per_gpu=0 so that torchrun, not srun,
# starts the N training processes). Each retry (the profiles' `retries`) asks for more: runtime x
# attempt and memory x (1 + (attempt - 1) / 2), so a cell that hit its time or memory limit is
# resubmitted bigger and resumes from its last checkpoint.


rule train_cell:
    input:
        train_inputs,
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
        grid=GRID_FILE,
        cell="{dataset}/{noise}-{rate}/{detector}/{method}/seed{seed}",
        processes=max(1, GRID["resources"]["gpu"]),
    shell:
        "python -m benchmarks.train --grid {params.grid} --cell {params.cell} --threads {threads} "
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
        grid=GRID_FILE,
        cell="{dataset}/{noise}-{rate}/{detector}/{method}/seed{seed}",
    shell:
        "python -m benchmarks.export_weights --grid {params.grid} --cell {params.cell} > {log} 2>&1"


# Compute accounting of the grid: every cell's cost.json (GPU-hours, CPU core-hours, resumes) in
# one table with totals per detector.
rule cost_summary:
    input:
        costs=[cell_path(c, "cost.json") for c in CELLS],
        metrics=[cell_path(c, "metrics.json") for c in CELLS],
    output:
        csv=f"{RES}/tables/compute.csv",
        md=f"{RES}/tables/compute.md",
    log:
        f"{RES}/logs/analysis/compute_summary.log",
    conda:
        "../../environment.yml"
    params:
        runs=runs_dir,
    shell:
        "python -m analysis.cost_summary --runs {params.runs} --out {output.csv} --markdown {output.md} > {log} 2>&1"
