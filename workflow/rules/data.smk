# Data stage: the clean dataset in COCO form (synthetic or converted), then one corrupted copy of
# its training annotations per noise setting. Validation annotations are never corrupted.


rule dataset:
    output:
        directory(f"{RES}/data/{{dataset}}/clean"),
    log:
        f"{RES}/logs/data/{{dataset}}.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=data_mem_mb,
    params:
        command=dataset_command,
    shell:
        "python -m {params.command} --out {output} > {log} 2>&1"


rule corrupt:
    input:
        f"{RES}/data/{{dataset}}/clean",
    output:
        train=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/train.json",
        manifest=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/manifest.csv",
        stats=f"{RES}/data/{{dataset}}/noisy/{{noise}}-{{rate}}/stats.json",
    log:
        f"{RES}/logs/data/{{dataset}}.{{noise}}-{{rate}}.log",
    wildcard_constraints:
        noise="cls|loc|combined|missing",
        rate=r"[0-9.]+",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=corrupt_mem_mb,
    params:
        options=corrupt_options,
    shell:
        "python -m benchmarks.data.corrupt --in {input}/train.json --out {output.train} "
        "--noise {wildcards.noise} --rate {wildcards.rate} {params.options} "
        "--manifest {output.manifest} --stats {output.stats} > {log} 2>&1"
