# noisy-det-repro: config -> data (clean -> corrupted) -> train cells -> analysis -> reports.
#   snakemake --cores 2 all                                   # embedded default (CPU)
#   snakemake --cores 2 all --configfile benchmarks/grids/smoke.yaml
#   snakemake --profile slurm all --configfile benchmarks/grids/eldet_voc.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "benchmarks/grids/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"


rule all:
    input:
        all_targets(),
    default_target: True
