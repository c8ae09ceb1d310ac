# noisy-det-repro: config -> data (clean -> corrupted) -> train cells -> analysis -> reports.
#   snakemake --cores 2 all                                   # embedded default (CPU)
#   snakemake --cores 2 all --configfile benchmarks/grids/smoke.yaml
#   snakemake --profile slurm all --configfile benchmarks/grids/eldet_voc.yaml
from snakemake.utils import min_version

min_version("9.0")


# The embedded default unless a grid is given with --configfile (Snakemake would otherwise merge
# both, e.g. add the default's synthetic dataset to a paper grid).
if not workflow.configfiles:

    configfile: "benchmarks/grids/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/reports.smk"


rule all:
    default_target: True
    input:
        all_targets(),
