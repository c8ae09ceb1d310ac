# Grid loading, validation and the list of targets: computed once, here.
import os
import sys

import yaml

sys.path.insert(0, workflow.basedir)

from benchmarks.detectors import get_detector  # noqa: E402
from benchmarks.errors import InputError  # noqa: E402
from benchmarks.grids import grid as G  # noqa: E402
from benchmarks.grids import resources as R  # noqa: E402
from benchmarks.grids import spec as S  # noqa: E402
from benchmarks.seeding import derive_seed  # noqa: E402

try:
    GRID = G.validate_grid(config, path=(workflow.configfiles or ["<config>"])[-1])
except InputError as exc:
    raise WorkflowError(f"invalid grid config: {exc}")

# Output paths as the user writes them: relative to the working directory for the usual
# `results_dir: results`, absolute when the grid gives an absolute results_dir (so that asking for a
# cell's metrics.json by its absolute path matches the rule).
RES = (
    str(G.results_root(GRID))
    if os.path.isabs(GRID["results_dir"])
    else os.path.relpath(G.results_root(GRID))
)
CELLS = G.expand_cells(GRID)
# The pretraining stage (grid `pretraining`): its runs are cells of a grid of their own that share
# runs/ and the rules below; they feed the grid's cells and stay out of the analysis (CELLS).
PRE_GRID = G.pretraining_grid(GRID)
PRE_CELLS = G.expand_cells(PRE_GRID) if PRE_GRID else []
CELL_BY_ID = {
    c.id: c for c in CELLS + PRE_CELLS
}  # input functions look cells up here, not by re-expanding the grid
GRID_OF = {c.id: GRID for c in CELLS} | {c.id: PRE_GRID for c in PRE_CELLS}
DATASETS = GRID["datasets"] | (PRE_GRID["datasets"] if PRE_GRID else {})
NOISY_SETTINGS = sorted({(c.dataset, c.setting) for c in CELLS if c.noise != "clean"})


# No file is written here: a dry run changes nothing a running job reads. Each cell's job reads its
# own runs/<cell>/spec.json, written by rule cell_spec when the cell's spec hash changes.
_CELL_SPECS = {}


def cell_of(wildcards):
    """The grid's Cell named by a rule's wildcards (an id outside the grid is an error)."""
    cell_id = (
        f"{wildcards.dataset}/{wildcards.noise}-{wildcards.rate}/{wildcards.detector}/"
        f"{wildcards.method}/seed{wildcards.seed}"
    )
    if cell_id not in CELL_BY_ID:
        return G.parse_cell_id(
            GRID, cell_id
        )  # raises the InputError that names the grid
    return CELL_BY_ID[cell_id]


def spec_hash(wildcards):
    """The cell's plan-time spec hash: the params value that reruns it when its spec changes."""
    cell = cell_of(wildcards)
    if cell.id not in _CELL_SPECS:
        _CELL_SPECS[cell.id] = S.spec_hash(S.cell_spec(GRID_OF[cell.id], cell))
    return _CELL_SPECS[cell.id]


def _log_line(log, text):
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w", encoding="utf-8") as fh:
        print(text, file=fh)


def write_cell_spec(wildcards, out, log):
    cell = cell_of(wildcards)
    doc = S.write_spec_file(GRID_OF[cell.id], cell, out)
    _log_line(log, f"{doc['cell']}: spec hash {doc['spec_hash']} -> {out}")


def write_cell_manifest(metrics, out, log):
    from analysis.cell_files import write_manifest

    manifest = write_manifest(out, metrics, grid=GRID)
    _log_line(log, f"{len(manifest.cells)} cells -> {out}")


def cell_path(cell, name):
    return f"{RES}/runs/{cell.id}/{name}"


def all_targets():
    targets = [cell_path(c, "metrics.json") for c in CELLS]
    targets += [f"{RES}/data/{d}/noisy/{s}/train.json" for d, s in NOISY_SETTINGS]
    targets += [
        f"{RES}/tide",
        f"{RES}/tables/cost.csv",
        f"{RES}/tables/compute.csv",
        f"{RES}/tables/gains.csv",
        f"{RES}/tables/claims.csv",
    ]
    if GRID["probe"]["enabled"]:  # transition timing needs the train-set probes
        targets += [f"{RES}/tables/transition.csv", f"{RES}/figures/transition"]
        if NOISY_SETTINGS:
            targets += [f"{RES}/tables/memorization.csv"]
        if any(get_detector(c.detector).family == "detr" for c in CELLS):
            targets += [f"{RES}/figures/matching"]  # IS, consistency curves
    if PRE_CELLS:
        targets += [f"{RES}/tables/pretraining.csv"]
    targets += [f"{RES}/reports/index.html"]  # notebooks -> HTML reports (reports.smk)
    return targets


# ---- input functions of the rules --------------------------------------------------------


def dataset_command(wildcards):
    ds = DATASETS[wildcards.dataset]
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
    seed = derive_seed(wildcards.dataset, wildcards.noise, wildcards.rate, c["seed"])
    opts = f"--seed {seed} --cls-mode {c['cls_mode']}"
    if c["beta"] is not None:
        opts += f" --beta {c['beta']}"
    return opts


def train_inputs(wildcards):
    """The cell's spec, clean data, the noisy annotations of its setting, a teacher's weights."""
    cell = cell_of(wildcards)
    inputs = {
        "spec": cell_path(cell, "spec.json"),
        "data": f"{RES}/data/{cell.dataset}/clean",
    }
    if cell.noise != "clean":
        inputs["noisy"] = f"{RES}/data/{cell.dataset}/noisy/{cell.setting}/train.json"
    teacher = G.teacher_cell(GRID_OF[cell.id], cell)
    if teacher is not None:  # the DAG edge teacher -> student
        inputs["teacher"] = cell_path(teacher, "weights.pth")
    pre = G.pretraining_cell(GRID_OF[cell.id], cell)
    if pre is not None:  # the DAG edge pretraining -> every cell of its detector
        inputs["pretrained"] = cell_path(pre, "weights.pth")
    return inputs


def data_mem_mb(wildcards, attempt):
    """Memory of a dataset job, from its source's size (benchmarks/grids/resources.py)."""
    return R.dataset_mem_mb(DATASETS[wildcards.dataset], attempt)


def corrupt_mem_mb(wildcards, input, attempt):
    """Memory of a corruption job, from the clean train.json's size."""
    return R.corrupt_mem_mb(input[0], attempt)


# ---- resources of train_cell (SLURM: see workflow/rules/train.smk) ------------------------


def train_threads():
    """CPU cores of a cell: `threads` on CPU; cpus_per_gpu per GPU (shared by its processes) on GPU."""
    res = GRID["resources"]
    return res["cpus_per_gpu"] * res["gpu"] if res["gpu"] else res["threads"]


def scaled_resource(name, attempt):
    """The grid's runtime/mem_mb, grown on each retry (attempt 1 = the grid's value)."""
    base = GRID["resources"][name]
    if name == "runtime":
        return base * attempt
    return int(base * (1 + (attempt - 1) / 2))


def gpu_resources():
    """SLURM-only resources of GPU cells: the GPU type, and one task for all GPUs (torchrun)."""
    res = GRID["resources"]
    if not res["gpu"]:
        return {}
    extra = {"tasks_per_gpu": 0}
    if res["gpu_type"]:
        extra["gpu_model"] = res["gpu_type"]
    return extra
