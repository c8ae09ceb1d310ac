# Data stage: the clean dataset in COCO form (synthetic or converted), then one corrupted copy of
# its training annotations per noise setting. Validation annotations are never corrupted.


def dataset_command(wildcards):
    ds = GRID["datasets"][wildcards.dataset]
    if ds["source"] == "synthetic":
        s = ds["synthetic"]
        return (
            f"benchmarks.data.synthetic --seed {s['seed']} --n-train {s['n_train']} "
            f"--n-val {s['n_val']} --size {s['size']} --classes {s['classes']}"
        )
    opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in ds["options"].items())
    return f"benchmarks.data.convert {ds['source']} --src {ds['path']} {opts}"


def corrupt_options(wildcards):
    c = GRID["corruption"]
    seed = G.derive_seed(wildcards.dataset, wildcards.noise, wildcards.rate, c["seed"])
    opts = f"--seed {seed} --cls-mode {c['cls_mode']}"
    if c["beta"] is not None:
        opts += f" --beta {c['beta']}"
    return opts


rule dataset:
    output:
        directory(f"{RES}/data/{{dataset}}/clean"),
    params:
        command=dataset_command,
    log:
        f"{RES}/logs/data/{{dataset}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m {params.command} --out {output} > {log} 2>&1"


rule corrupt:
    input:
        f"{RES}/data/{{dataset}}/clean",
    output:
        train=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/train.json",
        manifest=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/manifest.csv",
        stats=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/stats.json",
    wildcard_constraints:
        noise="cls|loc|combined|missing",
        rate=r"[0-9.]+",
    params:
        options=corrupt_options,
    log:
        f"{RES}/logs/data/{{dataset}}.{{noise}}-{{rate}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m benchmarks.data.corrupt --in {input}/train.json --out {output.train} "
        "--noise {wildcards.noise} --rate {wildcards.rate} {params.options} "
        "--manifest {output.manifest} --stats {output.stats} > {log} 2>&1"
