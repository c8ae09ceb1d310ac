"""Baseline: the detector trained on the (possibly noisy) annotations as they are.

It fixes the plug-in contract every other method follows (see ``benchmarks.methods``): no
parameters, every detector family, and the config returned unchanged.
"""

from __future__ import annotations

NAME = "baseline"
FAMILIES = frozenset({"dense", "two_stage", "detr"})
DEFAULTS: dict = {}


def apply(cfg, params: dict, ctx):
    """The baseline trains the detector config exactly as resolved."""
    return cfg


def check(params: dict, detector: str) -> None:
    """Nothing to check: no parameters, and every detector trains as it is."""
