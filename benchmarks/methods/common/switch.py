"""The switch-on rule of the label-changing methods (ADELE per class, ORSOD for the detector).

A curve is switched on as soon as ADELE's fit (``analysis.transition.find_transition``) puts its
transition at or before the current epoch, at any epoch; only a curve that has not bent by the late
cutoff ``ceil(fraction * epochs)`` is switched on there (a fallback, recorded as such). The cutoff is
not a deadline for detected transitions: it only ends the wait for one.
"""

from __future__ import annotations

import math


def cutoff_epoch(fraction: float, max_epochs: int) -> int:
    """The fallback epoch ``ceil(fraction * max_epochs)``, at most the last epoch whose switch-on is
    still trained on (``max_epochs - 1``: the hooks act after an epoch, for the next), at least 1."""
    return max(1, min(math.ceil(float(fraction) * int(max_epochs)), int(max_epochs) - 1))


def update_switch(info: dict, curve: list, epoch: int, *, r: float, fallback_epoch: int) -> dict:
    """Switch one curve (an ADELE class, ORSOD's detector) on at ``epoch`` if its curve (``[[epoch, value], ...]`` so far) has reached its
    transition (``find_transition`` with horizon ``epoch``), or if ``epoch >= fallback_epoch``.

    ``info`` (``{"on": None | epoch, ...}``) is updated in place and returned: ``on`` (the epoch the
    class was switched on), ``detected`` (the fitted transition epoch, or None), ``how``
    (``transition`` | ``fallback``) and ``fit`` (the last fit). A class that is on stays on.
    """
    from analysis.transition import find_transition

    if info.get("on") is not None:
        return info
    fit = find_transition([p[0] for p in curve], [p[1] for p in curve], threshold=r, horizon=epoch)
    info["fit"] = {k: fit.get(k) for k in ("epoch", "a", "b", "c", "r2", "reason")}
    if fit["epoch"] is not None:
        info.update(on=epoch, detected=int(fit["epoch"]), how="transition")
    elif epoch >= fallback_epoch:
        info.update(on=epoch, detected=None, how="fallback")
    return info
