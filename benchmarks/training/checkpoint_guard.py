"""Decide whether a cell resumes its checkpoint or starts fresh, and say why.

``checkpoint/identity.json`` records the identity (:func:`benchmarks.grids.spec.cell_identity`) of
the run that owns the checkpoint, and ``complete: true`` once that run wrote its ``metrics.json``.
A checkpoint is resumed only when it belongs to the same ``cell_hash`` and its run did not finish:
that is a killed or preempted job. Everything else starts from scratch, deleting the old state:

* a different hash (the grid, the data, the detector config or the teacher changed);
* a finished run (a forced rerun, ``--forcerun`` / ``-R``, must retrain, not reload the last epoch);
* no identity record (a checkpoint of unknown provenance);
* ``--fresh``.

Starting fresh clears the cell directory except its ``spec.json`` (the DAG's input): method state
files (``method_state.json``...) and outputs of the old run would otherwise leak into the new one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmarks.atomic import write_json
from benchmarks.grids.spec import SPEC_FILE, differences

IDENTITY_FILE = "identity.json"
LAST_CHECKPOINT = "last_checkpoint"


@dataclass(frozen=True)
class Decision:
    resume: bool
    reason: str


def decide(ckpt_dir: Path, identity: dict, *, fresh: bool = False) -> Decision:
    """Resume or start fresh (without touching anything); the reason is one readable sentence."""
    if fresh:
        return Decision(False, "--fresh asked for")
    if not ckpt_dir.is_dir() or not any(ckpt_dir.iterdir()):
        return Decision(False, "no checkpoint")
    record_file = ckpt_dir / IDENTITY_FILE
    if not record_file.is_file():
        return Decision(
            False, f"{ckpt_dir} has no {IDENTITY_FILE} (written before cell hashes); its state is discarded"
        )
    try:
        old = json.loads(record_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return Decision(False, f"{record_file} is unreadable; its state is discarded")
    if old.get("cell_hash") != identity["cell_hash"]:
        changed = differences(
            {"spec": old.get("spec", {}), "data": old.get("data", {})},
            {"spec": identity["spec"], "data": identity["data"]},
        )
        shown = "; ".join(changed[:6]) + (f"; ... ({len(changed)} in all)" if len(changed) > 6 else "")
        return Decision(
            False,
            f"checkpoint is of cell hash {old.get('cell_hash')}, the cell is now {identity['cell_hash']} "
            f"({shown or 'code of the spec changed'})",
        )
    if old.get("complete"):
        return Decision(False, f"the run of cell hash {identity['cell_hash']} in it had finished: a rerun retrains")
    if not (ckpt_dir / LAST_CHECKPOINT).is_file():
        return Decision(False, "no epoch was saved yet")
    return Decision(True, f"same cell hash {identity['cell_hash']}, run not finished")


def start_fresh(cell_dir: Path, ckpt_dir: Path) -> None:
    """Delete the old run's state and outputs; keep the DAG's spec file."""
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    if cell_dir.is_dir():
        for entry in cell_dir.iterdir():
            if entry.name == SPEC_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def prepare(cell_dir: Path, ckpt_dir: Path, identity: dict, *, fresh: bool = False) -> Decision:
    """Apply :func:`decide`: clear what must go, write the identity record; return the decision."""
    decision = decide(ckpt_dir, identity, fresh=fresh)
    if not decision.resume:
        start_fresh(cell_dir, ckpt_dir)
    else:
        (cell_dir / "metrics.json").unlink(missing_ok=True)  # the finished-run marker of Snakemake's view
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(ckpt_dir / IDENTITY_FILE, {**identity, "complete": False})
    return decision


def mark_complete(ckpt_dir: Path, identity: dict) -> None:
    """Called after metrics.json is written: the checkpoint now belongs to a finished run."""
    write_json(ckpt_dir / IDENTITY_FILE, {**identity, "complete": True})
