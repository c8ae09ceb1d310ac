"""Method plug-ins: one module per method, all with the same small contract.

A method module defines

* ``NAME``: its id in grids;
* ``FAMILIES``: the detector families it works with (``dense``, ``two_stage``, ``detr``); the grid
  skips other pairs instead of failing;
* ``DEFAULTS``: its hyper-parameters, named as in its paper, with the paper's values;
* ``apply(cfg, params, ctx) -> cfg``: takes the detector's resolved mmengine ``Config`` and returns
  the config to train, registering whatever models, losses and hooks it needs through the
  mmdet/mmengine registries (``custom_imports``), never editing mmdet or another method.

Optionally ``NEEDS_PROBES = True``: the method reads the train-set probes during training, so its
cells probe even when the grid switches probes off.

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

_CONTRACT = ("NAME", "FAMILIES", "DEFAULTS", "apply")


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


def get_method(name: str) -> ModuleType:
    """Import ``benchmarks.methods.<name>`` and check it implements the contract."""
    if not name.isidentifier():
        raise InputError(f"invalid method name '{name}'")
    try:
        module = importlib.import_module(f"benchmarks.methods.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.methods.{name}":
            raise InputError(f"unknown method '{name}' (no module benchmarks/methods/{name}.py)") from None
        raise
    missing = [attr for attr in _CONTRACT if not hasattr(module, attr)]
    if missing:
        raise InputError(f"method module benchmarks/methods/{name}.py lacks {', '.join(missing)}")
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
