# Training stage: one job per cell. Rerun one cell by asking for its metrics.json
# (add --forcerun to redo it); a killed cell resumes from its checkpoint/ when rerun.


def train_inputs(wildcards):
    data = f"{RES}/data/{wildcards.dataset}/clean"
    if wildcards.noise == "clean":
        return [data]
    return [data, f"{RES}/data/{wildcards.dataset}/noisy/{wildcards.noise}-{wildcards.rate}/train.json"]


rule train_cell:
    input:
        train_inputs,
    output:
        metrics=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/metrics.json",
        probe=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/probe.csv",
        dets=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/dets_val.json",
        cost=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/cost.json",
        config=f"{RES}/runs/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}/config.py",
    wildcard_constraints:
        noise="clean|cls|loc|combined|missing",
        rate=r"[0-9.]+",
        seed=r"\d+",
    params:
        grid=GRID_FILE,
        cell="{dataset}/{noise}-{rate}/{detector}/{method}/seed{seed}",
    threads: GRID["resources"]["threads"]
    resources:
        mem_mb=GRID["resources"]["mem_mb"],
        runtime=GRID["resources"]["runtime"],
        gpu=GRID["resources"]["gpu"],
        cpus_per_gpu=GRID["resources"]["cpus_per_gpu"],
    log:
        f"{RES}/logs/train/{{dataset}}/{{noise}}-{{rate}}/{{detector}}/{{method}}/seed{{seed}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m benchmarks.train --grid {params.grid} --cell {params.cell} --threads {threads} > {log} 2>&1"
