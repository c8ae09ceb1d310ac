# Training stage: one job per cell. Rerun one cell by asking for its metrics.json
# (add --forcerun to redo it); a killed cell resumes from its checkpoint/ when rerun.


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
    threads: GRID["resources"]["threads"]
    resources:
        mem_mb=GRID["resources"]["mem_mb"],
        runtime=GRID["resources"]["runtime"],
        gpu=GRID["resources"]["gpu"],
        cpus_per_gpu=GRID["resources"]["cpus_per_gpu"],
    params:
        grid=GRID_FILE,
        cell="{dataset}/{noise}-{rate}/{detector}/{method}/seed{seed}",
    shell:
        "python -m benchmarks.train --grid {params.grid} --cell {params.cell} --threads {threads} > {log} 2>&1"


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
