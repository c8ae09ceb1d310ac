"""How the suite's training hooks talk to each other: message-hub keys and hook priorities.

Hooks never find each other by class name and never edit each other's attributes. They exchange
values through ``runner.message_hub`` info under the keys below; each key has exactly one producer
(the hook that calls ``update_info``), the consumers only read it (a request key is the exception:
its consumer clears nothing, the request simply stays in force).

=====================  ==========================================  ===================================
key                    producer                                    consumers
=====================  ==========================================  ===================================
``PROBE_EXTRA``        ``MatchingStabilityHook`` (DETR cells): a   ``TrainSetProbeHook``: extra columns
                       dict of this epoch's extra probe columns    of the epoch's ``probe.csv`` row
``PROBE_ROWS``         ``TrainSetProbeHook``: every probe row so   ``ELDETHook`` (transition fits),
                       far (list of dicts, ``epoch`` an int),      ``OrsodHook`` (its AP curve)
                       published at ``before_train`` (after a
                       resume too) and after each probe
``PROBE_STOP``         ``ELDETHook``: a request ``{"by": name,     ``TrainSetProbeHook``: from then on
                       "epoch": e}`` once its decisions are made   it probes the last epoch only
=====================  ==========================================  ===================================

Priorities (mmengine: a smaller value runs earlier within each stage). The order that matters is
``after_train_epoch``: the producers of extra columns run before the probe, the probe before the
hooks that read its rows, and all of them before the checkpoint hook (``VERY_LOW``), so a
checkpoint holds the epoch's decisions. ``tests/test_hook_protocol.py`` checks this order.
"""

from __future__ import annotations

# -- message-hub info keys -----------------------------------------------------------------
PROBE_EXTRA = "ndr_probe_extra"
PROBE_ROWS = "ndr_probe_rows"
PROBE_STOP = "ndr_probe_stop"

# -- hook priorities (mmengine names or integers 0-100) ------------------------------------
#: stop at the first non-finite loss before any other hook sees the iteration
PRIORITY_DIVERGENCE_GUARD = "VERY_HIGH"
#: restore the random states of a checkpoint before anything draws a random number
PRIORITY_RANDOM_STATE = "HIGHEST"
#: OD-DETR's EMA teacher follows the student right after the optimizer step
PRIORITY_EMA_TEACHER = "ABOVE_NORMAL"
#: hooks that add probe columns (DETR matching stability) or set per-epoch schedules (SSSD)
PRIORITY_PROBE_PRODUCER = "NORMAL"
#: the train-set probe (writes probe.csv, publishes PROBE_ROWS)
PRIORITY_PROBE = "LOW"
#: hooks that read the probe's rows of the epoch (ELDET, ADELE, ORSOD)
PRIORITY_PROBE_CONSUMER = 80
#: cost accounting (its totals are taken as each checkpoint is written, whatever its place here)
PRIORITY_COST = "VERY_LOW"


def probe_rows(runner, up_to: int | None = None) -> list[dict]:
    """The probe rows published under ``PROBE_ROWS`` (epochs ``<= up_to`` when given)."""
    rows = runner.message_hub.get_info(PROBE_ROWS) or []
    return [r for r in rows if up_to is None or int(r["epoch"]) <= up_to]


def request_probe_stop(runner, by: str, epoch: int) -> None:
    """Ask the train-set probe to probe only the last epoch from now on (see ``PROBE_STOP``)."""
    if runner.message_hub.get_info(PROBE_STOP) is None:
        runner.message_hub.update_info(PROBE_STOP, {"by": by, "epoch": int(epoch)})
