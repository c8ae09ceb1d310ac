# Grid loading, validation and the list of targets: computed once, here.
import os
import sys

import yaml

sys.path.insert(0, workflow.basedir)

from benchmarks.detectors import get_detector  # noqa: E402
from benchmarks.errors import InputError  # noqa: E402
from benchmarks.grids import grid as G  # noqa: E402
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
NOISY_SETTINGS = sorted({(c.dataset, c.setting) for c in CELLS if c.noise != "clean"})


def _resolved_grid_file():
    """The validated grid (defaults filled) as the training script reads it; rewritten only on change."""
    path = os.path.join(RES, "grid.resolved.yaml")
    text = yaml.safe_dump(GRID, sort_keys=True)
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old != text:
        os.makedirs(RES, exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return path


GRID_FILE = _resolved_grid_file()


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
        if any(get_detector(c.detector).family == "detr" for c in CELLS):
            targets += [f"{RES}/figures/matching"]  # IS, consistency curves
    targets += [f"{RES}/reports/index.html"]  # notebooks -> HTML reports (reports.smk)
    return targets


# ---- input functions of the rules --------------------------------------------------------


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
    seed = derive_seed(wildcards.dataset, wildcards.noise, wildcards.rate, c["seed"])
    opts = f"--seed {seed} --cls-mode {c['cls_mode']}"
    if c["beta"] is not None:
        opts += f" --beta {c['beta']}"
    return opts


def train_inputs(wildcards):
    """Clean data, the noisy annotations of the setting, and a distillation teacher's weights."""
    inputs = [f"{RES}/data/{wildcards.dataset}/clean"]
    if wildcards.noise != "clean":
        inputs.append(
            f"{RES}/data/{wildcards.dataset}/noisy/{wildcards.noise}-{wildcards.rate}/train.json"
        )
    if wildcards.method in GRID["methods"]:
        cell = G.Cell(
            wildcards.dataset,
            wildcards.noise,
            float(wildcards.rate),
            wildcards.detector,
            wildcards.method,
            int(wildcards.seed),
        )
        teacher = G.teacher_cell(GRID, cell)
        if teacher is not None:  # the DAG edge teacher -> student
            inputs.append(cell_path(teacher, "weights.pth"))
    return inputs


def runs_dir(wildcards, input):
    """results/<grid>/runs, derived from a cell's file so that it follows the inputs."""
    head = input.metrics[0].split("/runs/")[0]
    return f"{head}/runs"


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
