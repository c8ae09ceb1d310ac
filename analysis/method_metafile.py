"""A method's ``metafile.yml``: the papers' numbers it targets and the embedded default's result.

Every method package ``benchmarks/methods/<name>/`` carries one (mmdetection's ``metafile.yml``
idea, in the suite's own small format)::

    method: eldet                     # the package name
    paper:
      title: ...
      venue: ...
      file: papers/eldet_openreview_discussion.txt   # under ../shared
      code: https://...               # or null when there is no public code
    targets:                          # published numbers, each one row of analysis/references
      - {paper: eldet, table: "...", dataset: voc, detector: retinanet, method: eldet,
         noise: combined, rate: 0.4, metric: AP50, value: 70.1}   # any key columns, + value
    default:                          # the embedded default (benchmarks/grids/default.yaml)
      source: "..."                   # which run measured it (commit, date, command)
      host: {cpu: ..., machine: x86_64, cpu_capability: AVX2}   # where (benchmarks/training/host_info.py)
      results:
        - {detector: retinanet, noise: combined, rate: 0.4, n: 3,
           AP: {mean: 17.92, std: 0.62, tolerance: 1.25}, dAP: {mean: 0.60, std: 0.18, tolerance: 0.5}}

``targets`` are checked against ``analysis/references`` (a number may not drift from the paper's
CSV). ``default.results`` are checked against the ``tables/gains.csv`` that the default's ``all``
writes: the method's AP and its dAP over the paired baseline (mean over the seeds) must each lie
within their own ``tolerance`` (AP points) of the recorded means. For ``method: baseline`` the rows
are the paired baselines' AP (``AP_base``) and carry no dAP. The tolerance rule used when recording
(``tolerance_for``): twice that metric's seed standard deviation, at least 0.5 AP, so a change that
moves a result by more than its seed noise fails the accuracy tier (on CPU a rerun of the same code
is bit-identical on the same kind of processor: the tolerance is for code changes). Another
processor picks other floating-point kernels and moves the numbers by more than the seed noise (the
seeds share one pretraining run); ``host`` says where they were recorded, and
``python -m analysis.metafile_record`` re-records them from a run of one's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.errors import InputError

TOP_KEYS = ("method", "paper", "targets", "default")
PAPER_KEYS = ("title", "venue", "file", "code")
RESULT_KEYS = ("detector", "noise", "rate", "n", "AP", "dAP")
MIN_TOLERANCE = 0.5


def tolerance_for(std: float) -> float:
    """The recorded tolerance for a result whose seed std is ``std`` (see the module docstring)."""
    return round(max(MIN_TOLERANCE, 2.0 * float(std)), 2)


def _need(cond: bool, path: Path, where: str, problem: str) -> None:
    if not cond:
        raise InputError(f"{path}: {where}: {problem}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def load_metafile(path: Path) -> dict:
    """Read and check a ``metafile.yml`` (``InputError`` naming the file, the entry and the problem)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing (every method package has a metafile.yml)")
    try:
        meta = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    _need(isinstance(meta, dict), path, "top level", "must be a mapping")
    unknown = sorted(set(meta) - set(TOP_KEYS))
    _need(not unknown, path, "top level", f"unknown keys {unknown} (known: {list(TOP_KEYS)})")
    for key in TOP_KEYS:
        _need(key in meta, path, "top level", f"'{key}' is missing")
    _need(meta["method"] == path.parent.name, path, "method", f"{meta['method']!r} is not the folder's name {path.parent.name!r}")  # fmt: skip
    paper = meta["paper"]
    _need(isinstance(paper, dict) and set(paper) == set(PAPER_KEYS), path, "paper", f"needs exactly {list(PAPER_KEYS)}")
    targets = meta["targets"]
    _need(isinstance(targets, list), path, "targets", "must be a list (empty when the method has no published number)")
    for i, row in enumerate(targets):
        _need(
            isinstance(row, dict) and "value" in row and "paper" in row,
            path,
            f"targets[{i}]",
            "needs 'paper' and 'value'",
        )
        _need(_is_number(row["value"]), path, f"targets[{i}].value", f"{row['value']!r} is not a number")
    default = meta["default"]
    ok = isinstance(default, dict) and {"source", "results"} <= set(default) <= {"source", "host", "results"}
    _need(ok, path, "default", "needs 'source' and 'results' (and optionally 'host')")
    _need(isinstance(default.get("host", {}), dict), path, "default.host", "must be a mapping (cpu, machine, cpu_capability)")  # fmt: skip
    _need(isinstance(default["results"], list) and default["results"], path, "default.results", "must be a non-empty list")  # fmt: skip
    baseline = meta["method"] == "baseline"
    for i, row in enumerate(default["results"]):
        where = f"default.results[{i}]"
        _need(isinstance(row, dict), path, where, "must be a mapping")
        need = [k for k in RESULT_KEYS if not (baseline and k == "dAP")]
        missing = [k for k in need if k not in row]
        _need(not missing, path, where, f"missing {missing}")
        _need(_is_number(row["rate"]) and 0 <= row["rate"] < 1, path, f"{where}.rate", f"{row['rate']!r} is not a rate in [0, 1)")  # fmt: skip
        _need(isinstance(row["n"], int) and row["n"] >= 1, path, f"{where}.n", f"{row['n']!r} is not a seed count")
        for metric in ("AP", "dAP"):
            if metric in row:
                m = row[metric]
                ok = isinstance(m, dict) and all(_is_number(m.get(k)) for k in ("mean", "std", "tolerance"))
                _need(ok, path, f"{where}.{metric}", "needs numeric 'mean', 'std' and 'tolerance'")
                _need(m["tolerance"] > 0, path, f"{where}.{metric}.tolerance", "must be > 0")
    return meta


@dataclass(frozen=True)
class Check:
    """One recorded default result against one run's gains table."""

    method: str
    detector: str
    setting: str
    metric: str
    recorded: float
    measured: float | None
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.measured is not None and abs(self.measured - self.recorded) <= self.tolerance

    def describe(self) -> str:
        got = "absent from the gains table" if self.measured is None else f"{self.measured:.2f}"
        return (
            f"{self.method} on {self.detector} ({self.setting}): {self.metric} {got}, "
            f"recorded {self.recorded:.2f} +- {self.tolerance:.2f}"
        )


def _setting(noise: str, rate: float) -> str:
    return "clean" if noise == "clean" else f"{noise}-{rate:g}"


def _matches(g: dict, method: str, detector: str, noise: str, rate: float) -> bool:
    return (
        g["detector"] == detector
        and g["noise"] == noise
        and abs(float(g["rate"]) - rate) < 1e-9
        and (method == "baseline" or g["method"] == method)
    )


def check_default(meta: dict, gains: list[dict]) -> list[Check]:
    """Compare ``meta``'s default results with rows of a gains table (``tables/gains.csv`` as dicts).

    A method row is the gains row of that method, detector, noise and rate; a baseline row is any
    gains row of that detector and setting (they all carry the same paired ``AP_base``).
    """
    method = meta["method"]
    out = []
    for row in meta["default"]["results"]:
        noise, rate, det = str(row["noise"]), float(row["rate"]), str(row["detector"])

        hit = next((g for g in gains if _matches(g, method, det, noise, rate)), None)
        pairs = [("AP", "AP_base")] if method == "baseline" else [("AP", "AP"), ("dAP", "dAP")]
        for metric, column in pairs:
            measured = float(hit[column]) if hit is not None and hit.get(column) not in (None, "") else None
            out.append(
                Check(
                    method,
                    det,
                    _setting(noise, rate),
                    metric,
                    float(row[metric]["mean"]),
                    measured,
                    float(row[metric]["tolerance"]),
                )  # fmt: skip
            )
    return out
