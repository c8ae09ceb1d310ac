"""Method plug-ins: one folder per method, all with the same small contract.

``benchmarks/methods/<name>/`` is a package (the way mmdetection's ``projects/`` are laid out):
its ``__init__.py`` holds the contract below, its other modules the models, hooks and losses it
registers, its ``README.md`` the paper, the equations as implemented, the hyper-parameters with
their sources and every adaptation, and its ``metafile.yml`` the papers' numbers it targets and the
embedded default's measured result with a tolerance. Pieces more than one method uses live once in
``benchmarks/methods/common/`` (plug-in helper, EMA, frozen teacher, dense outputs, DETR matching,
label-changing hooks, loss helpers); the hook protocol (message-hub keys, priorities, requests) is
``benchmarks.training.hook_protocol``.

A method package defines

* ``NAME``: its id in grids;
* ``FAMILIES``: the detector families it works with (``dense``, ``two_stage``, ``detr``); the grid
  skips other pairs instead of failing;
* ``DEFAULTS``: its hyper-parameters, named as in its paper, with the paper's values;
* ``check(params, detector)``: raises :class:`ParamError` for a value it cannot train with, or for
  a detector (a name of ``benchmarks.detectors``) of a supported family that it still cannot serve.
  It runs at plan time (``validate_grid``, so ``snakemake -n`` fails before anything is queued) and
  again before ``apply``; it imports nothing heavy (no mmdet);
* ``apply(cfg, params, ctx) -> cfg``: takes the detector's resolved mmengine ``Config`` and returns
  the config to train, registering whatever models, losses and hooks it needs through the
  mmdet/mmengine registries (``custom_imports``), never editing mmdet or another method.

Optionally ``NEEDS_PROBES = True``: the method reads the train-set probes during training, so its
cells probe even when the grid switches probes off; ``NEEDS_TEACHER = True``: its grid entries must
name a teacher cell (distillation from a trained model).

A grid names methods by *entry* (``methods: {eldet_ca_only: {method: eldet, params: {...}}}``); the
entry name is the cell's method component, the module is ``method`` (default: the entry name).

:func:`resolve_params` merges a grid's parameters over ``DEFAULTS`` and rejects unknown names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from benchmarks.errors import InputError

_CONTRACT = ("NAME", "FAMILIES", "DEFAULTS", "check", "apply")


class ParamError(InputError):
    """A parameter value (``key``) or a detector (``key == "detector"``) a method cannot serve.

    ``allowed`` says what would be accepted; ``validate_grid`` turns it into a message naming the
    grid file, the entry, the key and the value.
    """

    def __init__(self, method: str, key: str, value, allowed: str):
        self.method, self.key, self.value, self.allowed = method, key, value, allowed
        super().__init__(f"{method}: {key} = {value!r} is not allowed; {allowed}")


def require(ok: bool, method: str, key: str, value, allowed: str) -> None:
    """Raise :class:`ParamError` unless ``ok`` (the one-line form every ``check`` uses)."""
    if not ok:
        raise ParamError(method, key, value, allowed)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def in_range(value, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> bool:
    """``value`` is a number in the interval (open or closed at each end)."""
    if not is_number(value):
        return False
    v = float(value)
    return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)


def require_type(method: str, detector: str, types: tuple, allowed: str | None = None) -> None:
    """The detector's model type is one the method has a variant for."""
    require(model_type(detector) in types, method, "detector", detector, allowed or f"{method} supports {types}")


def model_type(detector: str) -> str:
    """The mmdet model type of a detector name (what type-specific method checks look at)."""
    from benchmarks.detectors import get_detector

    return get_detector(detector).model_type


@dataclass(frozen=True)
class MethodContext:
    """What a method may need to know about the cell it is applied to."""

    cell_id: str
    detector: str
    family: str
    cell_dir: Path
    num_classes: int
    epochs: int
    extra: dict = field(default_factory=dict)
    # the teacher cell of a distillation entry: {"cell": id, "weights": weights.pth, "config": config.py}
    teacher: dict | None = None


def method_names() -> list[str]:
    """The method packages shipped in ``benchmarks/methods/`` (every folder but ``common``)."""
    root = Path(__file__).parent
    return sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file() and p.name != "common")


def get_method(name: str) -> ModuleType:
    """Import ``benchmarks.methods.<name>`` and check it implements the contract."""
    if not name.isidentifier():
        raise InputError(f"invalid method name '{name}'")
    try:
        module = importlib.import_module(f"benchmarks.methods.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.methods.{name}":
            raise InputError(f"unknown method '{name}' (no package benchmarks/methods/{name}/)") from None
        raise
    missing = [attr for attr in _CONTRACT if not hasattr(module, attr)]
    if missing:
        raise InputError(f"benchmarks/methods/{name}/ is not a method: its __init__.py lacks {', '.join(missing)}")
    return module


def resolve_params(method: ModuleType, params: dict | None) -> dict:
    """The method's DEFAULTS overridden by ``params``; a name not in DEFAULTS is an error."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(method.DEFAULTS))
    if unknown:
        raise InputError(
            f"method '{method.NAME}' has no parameter(s) {unknown} (known: {sorted(method.DEFAULTS) or 'none'})"
        )
    return {**method.DEFAULTS, **params}
