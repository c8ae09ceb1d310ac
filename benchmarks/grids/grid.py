"""Grid YAMLs: loading with schema validation, and their expansion into cells.

A grid is plain data (no YAML tags) validated against ``workflow/schemas/grid.schema.yaml``;
missing keys get the schema's defaults, unknown keys fail loudly. A cell is one training run,
identified by ``<dataset>/<noise>-<rate>/<detector>/<method>/seed<k>``; the Snakefile, the
training script and the analysis all use :func:`expand_cells` / :func:`parse_cell_id`, so the three
agree on which cells exist.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

# jsonschema's format checkers import rfc3987_syntax when it is installed (it is, for jupyter), and
# that module compiles ~40 lark grammars at import: 3.5 s added to every Snakemake start and every
# training cell. Grids use no "format" keywords, so the module is hidden from jsonschema.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
import jsonschema  # noqa: E402

from benchmarks.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "grid.schema.yaml"


def format_rate(rate: float) -> str:
    """0.4 -> '0.4', 0.0 -> '0', 0.25 -> '0.25' (the form used in paths and cell ids)."""
    return f"{float(rate):g}"


@dataclass(frozen=True, order=True)
class Cell:
    dataset: str
    noise: str
    rate: float
    detector: str
    method: str
    seed: int

    @property
    def setting(self) -> str:
        """The ``<noise>-<rate>`` path component."""
        return f"{self.noise}-{format_rate(self.rate)}"

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.setting}/{self.detector}/{self.method}/seed{self.seed}"

    def identity(self) -> dict:
        return {
            "cell": self.id,
            "dataset": self.dataset,
            "noise": self.noise,
            "rate": self.rate,
            "detector": self.detector,
            "method": self.method,
            "seed": self.seed,
        }


@functools.cache
def _load_schema() -> dict:
    """The grid schema, parsed once per process (read only: defaults are deep-copied when filled)."""
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _fill_defaults(instance: object, schema: dict) -> None:
    """Fill missing keys with schema defaults, recursively (objects, additionalProperties, arrays)."""
    if not isinstance(schema, dict):
        return
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in schema.get("properties", {}):
                    _fill_defaults(value, extra)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"])


def validate_grid(grid: object, *, path: str | os.PathLike = "<grid>") -> dict:
    """Validate ``grid`` against the schema, fill defaults, check cross-field rules; return it."""
    schema = _load_schema()
    if not isinstance(grid, dict):
        raise InputError("a grid must be a YAML mapping", path=path)
    grid = copy.deepcopy(grid)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(grid), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InputError(f"invalid grid at '{where}': {err.message}", path=path)
    _fill_defaults(grid, schema)
    for name, ds in grid["datasets"].items():
        if ds["source"] != "synthetic" and not ds.get("path"):
            raise InputError(f"dataset '{name}' has source '{ds['source']}' but no 'path'", path=path)
    for item in grid["noise"]:
        if item["type"] == "clean" and item["rate"] != 0:
            raise InputError(f"noise 'clean' must have rate 0, got {item['rate']}", path=path)
        if item["type"] != "clean" and item["rate"] == 0:
            raise InputError(f"noise '{item['type']}' with rate 0 is the clean setting; use type clean", path=path)
    from benchmarks.methods import get_method, resolve_params  # late import: methods import mmdet lazily

    settings = {f"{n['type']}-{format_rate(n['rate'])}" for n in grid["noise"]}
    for name, entry in grid["methods"].items():
        try:
            method = get_method(method_module(grid, name))
            params = resolve_params(method, entry["params"])
        except InputError as exc:
            raise InputError(f"methods.{name}: {exc}", path=path) from None
        _check_entry(grid, name, entry, method, params, settings, path)
        for key, known in (("detectors", set(grid["detectors"])), ("noise", settings)):
            extra = sorted(set(entry[key] or ()) - known)
            if extra:
                raise InputError(f"methods.{name}.{key} names {extra}, not in the grid ({sorted(known)})", path=path)
        for pair in entry.get("cells") or ():
            det, setting = pair.split("/", 1)
            if det not in grid["detectors"] or setting not in settings:
                raise InputError(
                    f"methods.{name}.cells names '{pair}': detector or noise setting not in the grid "
                    f"(detectors {grid['detectors']}, noise {sorted(settings)})",
                    path=path,
                )
        seeds = entry.get("seeds")
        for pair in seeds if isinstance(seeds, dict) else ():
            det, _, setting = pair.partition("/")
            if pair != "default" and (det not in grid["detectors"] or setting not in settings):
                raise InputError(
                    f"methods.{name}.seeds names '{pair}': not 'default' nor a <detector>/<type>-<rate> pair of "
                    f"the grid (detectors {grid['detectors']}, noise {sorted(settings)})",
                    path=path,
                )
        teacher = entry["teacher"]
        if teacher is not None and teacher["method"] not in grid["methods"]:
            raise InputError(
                f"methods.{name}.teacher.method '{teacher['method']}' is not a method of the grid", path=path
            )
    from benchmarks.training.live_logging import missing_package

    problem = missing_package(grid["logging"]["backend"])
    if problem:
        raise InputError(problem, path=path)
    _check_per_detector(grid, grid["schedule"], "schedule", path)
    _check_pretraining(grid, path)
    cells = set(expand_cells(grid))
    for cell in sorted(cells):
        teacher = teacher_cell(grid, cell)
        if teacher is not None and teacher not in cells:
            raise InputError(
                f"methods.{cell.method}.teacher: cell {cell.id} needs teacher {teacher.id}, which is not a cell of the "
                "grid (check the teacher's detector, method scope and noise setting)",
                path=path,
            )
        if teacher is not None and teacher.method == cell.method:
            raise InputError(f"methods.{cell.method}.teacher: a method cannot be its own teacher", path=path)
    return grid


def _check_per_detector(grid: dict, schedule: dict, where: str, path) -> None:
    """A schedule's ``per_detector`` overrides name grid detectors only."""
    unknown = set(schedule["per_detector"]) - set(grid["detectors"])
    if unknown:
        raise InputError(f"{where}.per_detector names detectors not in the grid: {sorted(unknown)}", path=path)


def _check_pretraining(grid: dict, path) -> None:
    """`pretrained_backbone: pretraining` and the `pretraining` section come together, and the source
    set is disjoint from the grid's data (its own id and generator seed)."""
    pre = grid["pretraining"]
    wanted = grid["pretrained_backbone"] == PRETRAINING
    if wanted and pre is None:
        raise InputError("pretrained_backbone is 'pretraining' but the grid has no `pretraining` section", path=path)
    if pre is None:
        return
    if not wanted:
        raise InputError(
            f"the grid has a `pretraining` section but pretrained_backbone is '{grid['pretrained_backbone']}': "
            "set it to 'pretraining' or drop the section",
            path=path,
        )
    if pre["dataset"] in grid["datasets"]:
        raise InputError(f"pretraining.dataset '{pre['dataset']}' is also a dataset of the grid", path=path)
    for name, ds in grid["datasets"].items():
        if ds["source"] == "synthetic" and ds["synthetic"]["seed"] == pre["synthetic"]["seed"]:
            raise InputError(
                f"pretraining.synthetic.seed {pre['synthetic']['seed']} is also the seed of dataset '{name}': "
                "the source set must be other images",
                path=path,
            )
    _check_per_detector(grid, pre["schedule"], "pretraining.schedule", path)
    for det, source in pre["shared"].items():
        if det not in grid["detectors"] or source not in grid["detectors"]:
            raise InputError(
                f"pretraining.shared maps '{det}' to '{source}': both must be detectors of the grid ({grid['detectors']})",
                path=path,
            )
        if source in pre["shared"]:
            raise InputError(
                f"pretraining.shared maps '{det}' to '{source}', which is itself mapped: name the detector that is "
                "pretrained",
                path=path,
            )


def _check_entry(grid: dict, name: str, entry: dict, method, params: dict, settings: set, path) -> None:
    """The method's own ``check`` for every grid detector the entry's scope reaches, and its teacher.

    A detector of a family the method does not declare is skipped silently (the grid's product);
    one of a declared family that ``check`` still refuses is an error unless the entry's scope
    (``detectors`` / ``cells``) leaves it out, so no planned cell can fail on its method at run time.
    """
    from benchmarks.detectors import get_detector
    from benchmarks.methods import ParamError

    where = f"methods.{name}"
    if getattr(method, "NEEDS_TEACHER", False) and not entry.get("teacher"):
        raise InputError(
            f"{where}.teacher is missing: {method.NAME} distils from a trained teacher cell; give the entry "
            "`teacher: {detector: <grid detector>, method: baseline, noise: clean-0}`",
            path=path,
        )
    for det in grid["detectors"]:
        if get_detector(det).family not in method.FAMILIES:
            continue
        if not any(_in_scope(entry, det, setting) for setting in settings):
            continue
        try:
            method.check(params, det)
        except ParamError as exc:
            if exc.key == "detector":
                raise InputError(
                    f"{where}: method '{method.NAME}' cannot serve detector '{det}' ({exc.allowed}); leave it out of "
                    f"the entry's scope (e.g. `detectors: [...]` without {det})",
                    path=path,
                ) from None
            shown = "params" if exc.key in params else "params (resolved)"
            raise InputError(
                f"{where}.{shown}.{exc.key} = {exc.value!r} is not allowed for {method.NAME}: {exc.allowed}",
                path=path,
            ) from None


def load_grid(path: str | os.PathLike) -> dict:
    """Read a grid YAML (plain data only) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("grid file not found", path=path)
    try:
        with open(path, encoding="utf-8") as fh:
            grid = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=path, where=where) from None
    return validate_grid(grid, path=path)


def method_module(grid: dict, name: str) -> str:
    """The module (benchmarks/methods/<module>.py) behind the grid's method entry ``name``."""
    entry = grid["methods"].get(name)
    if entry is None:
        raise InputError(f"'{name}' is not a method of grid '{grid['name']}' (methods: {sorted(grid['methods'])})")
    return entry.get("method") or name


def method_params(grid: dict, name: str) -> dict:
    """The parameter overrides the grid gives method entry ``name`` (the module's DEFAULTS fill the rest)."""
    return dict(grid["methods"][name].get("params") or {})


def _in_scope(entry: dict, detector: str, setting: str) -> bool:
    dets, noise, pairs = entry.get("detectors"), entry.get("noise"), entry.get("cells")
    return (
        (dets is None or detector in dets)
        and (noise is None or setting in noise)
        and (pairs is None or f"{detector}/{setting}" in pairs)
    )


def entry_seeds(grid: dict, entry: dict, detector: str, setting: str) -> list[int]:
    """The seeds a method entry trains at (detector, setting): its own ``seeds`` (a list, or a mapping
    by ``<detector>/<setting>`` with an optional ``default``), else the grid's."""
    own = entry.get("seeds")
    if own is None:
        return list(grid["seeds"])
    if isinstance(own, list):
        return list(own)
    return list(own.get(f"{detector}/{setting}", own.get("default", grid["seeds"])))


def expand_cells(grid: dict) -> list[Cell]:
    """Every cell of the grid: the product, minus detector/method pairs the method declares
    incompatible and cells outside a method entry's ``detectors`` / ``noise`` scope."""
    from benchmarks.detectors import get_detector
    from benchmarks.methods import get_method

    cells = []
    for dataset in grid["datasets"]:
        for noise in grid["noise"]:
            setting = f"{noise['type']}-{format_rate(noise['rate'])}"
            for det in grid["detectors"]:
                family = get_detector(det).family
                for method, entry in grid["methods"].items():
                    if family not in get_method(method_module(grid, method)).FAMILIES:
                        continue
                    if not _in_scope(entry, det, setting):
                        continue
                    for seed in entry_seeds(grid, entry, det, setting):
                        cells.append(Cell(dataset, noise["type"], float(noise["rate"]), det, method, int(seed)))
    return cells


def teacher_cell(grid: dict, cell: Cell) -> Cell | None:
    """The teacher cell a student cell distils from (same dataset; the student's seed unless the
    teacher entry fixes one), or None."""
    teacher = grid["methods"][cell.method].get("teacher")
    if not teacher:
        return None
    noise, rate = cell.noise, cell.rate
    if teacher.get("noise"):
        noise, rate_text = teacher["noise"].rsplit("-", 1)
        rate = float(rate_text)
    seed = cell.seed if teacher.get("seed") is None else int(teacher["seed"])
    return Cell(cell.dataset, noise, rate, teacher["detector"], teacher.get("method") or "baseline", seed)


PRETRAINING = "pretraining"  # the pretrained_backbone value that selects the grid's own stage
PRETRAINING_METHOD = "baseline"


def pretraining_grid(grid: dict) -> dict | None:
    """The grid of the pretraining stage (None without one): the source set, clean labels, every
    detector of ``grid`` that ``pretraining.shared`` does not map to another, once (seed 0, no
    probes, random init), the stage's schedule.

    It shares ``grid``'s name and results directory, so its cells live under the same runs/ and data/
    and go through the same rules (spec, train, export) as the cells they initialise.
    """
    pre = grid.get("pretraining")
    if not pre:
        return None
    detectors = list(pretraining_users(grid))
    sched = copy.deepcopy(pre["schedule"])
    sched["per_detector"] = {d: v for d, v in sched.get("per_detector", {}).items() if d in detectors}
    return validate_grid(
        {
            "name": grid["name"],
            "description": f"pretraining stage of grid {grid['name']}",
            "results_dir": grid["results_dir"],
            "datasets": {pre["dataset"]: {"source": "synthetic", "synthetic": copy.deepcopy(pre["synthetic"])}},
            "noise": [{"type": "clean", "rate": 0.0}],
            "detectors": detectors,
            "size": grid["size"],
            "pretrained_backbone": "none",
            "methods": {PRETRAINING_METHOD: {}},
            "seeds": [0],
            "schedule": sched,
            "probe": {"enabled": False},
            "logging": copy.deepcopy(grid["logging"]),
            "resources": copy.deepcopy(grid["resources"]),
        }
    )


def pretraining_cell(grid: dict, cell: Cell) -> Cell | None:
    """The pretraining run ``cell`` initialises from (its detector on the source set), or None."""
    if grid["pretrained_backbone"] != PRETRAINING:
        return None
    return Cell(grid["pretraining"]["dataset"], "clean", 0.0, pretrained_as(grid, cell.detector), PRETRAINING_METHOD, 0)


def pretrained_as(grid: dict, detector: str) -> str:
    """The detector whose pretraining run ``detector`` starts from: ``pretraining.shared``, else itself."""
    return ((grid.get("pretraining") or {}).get("shared") or {}).get(detector, detector)


def pretraining_users(grid: dict) -> dict[str, list[str]]:
    """Pretrained detector -> the grid detectors that start from its run, both in the grid's order."""
    users: dict[str, list[str]] = {}
    for det in grid["detectors"]:
        users.setdefault(pretrained_as(grid, det), []).append(det)
    return users


def cell_from_id(cell_id: str) -> Cell:
    """The :class:`Cell` a ``<dataset>/<noise>-<rate>/<detector>/<method>/seed<k>`` id names (no grid
    needed); a malformed id is an InputError."""
    parts = cell_id.strip("/").split("/")
    if len(parts) != 5 or not parts[4].startswith("seed") or "-" not in parts[1]:
        raise InputError(
            f"malformed cell id '{cell_id}' (expected <dataset>/<noise>-<rate>/<detector>/<method>/seed<k>)"
        )
    noise, rate = parts[1].rsplit("-", 1)
    try:
        return Cell(parts[0], noise, float(rate), parts[2], parts[3], int(parts[4][4:]))
    except ValueError:
        raise InputError(f"malformed cell id '{cell_id}' (rate and seed must be numbers)") from None


def parse_cell_id(grid: dict, cell_id: str) -> Cell:
    """The :class:`Cell` of ``cell_id``; an id that is not a cell of ``grid`` is an InputError."""
    cell = cell_from_id(cell_id)
    by_id = {c.id: c for c in expand_cells(grid)}
    if cell.id not in by_id:
        raise InputError(
            f"'{cell_id}' is not a cell of grid '{grid['name']}' ({len(by_id)} cells; see `snakemake -n all`)"
        )
    return by_id[cell.id]


def results_root(grid: dict) -> Path:
    root = Path(grid["results_dir"])
    return (root if root.is_absolute() else REPO_ROOT / root) / grid["name"]


def schedule_for(grid: dict, detector: str) -> dict:
    """The grid's schedule overrides for ``detector`` (None = keep the detector config's value)."""
    sched = {k: grid["schedule"].get(k) for k in ("epochs", "batch_size", "lr", "warmup_iters")}
    sched["amp"] = bool(grid["schedule"].get("amp", False))
    sched.update(grid["schedule"]["per_detector"].get(detector, {}))
    return sched


# ---- where each stage's files live (the data contract of DESIGN.md) ------------------------


def dataset_dir(grid: dict, dataset: str) -> Path:
    """Clean dataset in COCO form: train.json, val.json, images/, dataset.json."""
    return results_root(grid) / "data" / dataset / "clean"


def noisy_dir(grid: dict, dataset: str, setting: str) -> Path:
    """Corrupted training annotations of one noise setting: train.json, manifest.csv, stats.json."""
    return results_root(grid) / "data" / dataset / "noisy" / setting


def train_ann_file(grid: dict, cell: Cell) -> Path:
    """The (possibly noisy) training annotations a cell trains on."""
    if cell.noise == "clean":
        return dataset_dir(grid, cell.dataset) / "train.json"
    return noisy_dir(grid, cell.dataset, cell.setting) / "train.json"


def cell_dir(grid: dict, cell: Cell) -> Path:
    return results_root(grid) / "runs" / cell.id


def weights_file(grid: dict, cell: Cell) -> Path:
    """A finished cell's final model weights, exported for the students that name it as teacher."""
    return cell_dir(grid, cell) / "weights.pth"
