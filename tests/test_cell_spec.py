"""Cell identity: the spec hash sees exactly what decides a cell, and the checkpoint guard obeys it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S
from benchmarks.training import checkpoint_guard as CG


def _default() -> dict:
    return G.validate_grid(yaml.safe_load((REPO / "benchmarks/grids/default.yaml").read_text()))


def _hashes(grid: dict) -> dict[str, str]:
    return {c.id: S.spec_hash(S.cell_spec(grid, c)) for c in G.expand_cells(grid)}


def _edited(edit) -> dict:
    raw = yaml.safe_load((REPO / "benchmarks/grids/default.yaml").read_text())
    edit(raw)
    return G.validate_grid(raw)


def _changed(edit) -> set[str]:
    before, after = _hashes(_default()), _hashes(_edited(edit))
    assert set(before) <= set(after) or set(after) <= set(before)
    return {cid for cid in before.keys() & after.keys() if before[cid] != after[cid]}


def test_the_hash_is_a_pure_function_of_the_spec():
    grid = _default()
    cell = G.parse_cell_id(grid, "synth/combined-0.4/retinanet/eldet/seed0")
    spec = S.cell_spec(grid, cell)
    assert S.spec_hash(spec) == S.spec_hash(S.cell_spec(_default(), cell))
    assert spec["method"] == {
        "entry": "eldet",
        "module": "eldet",
        "params": spec["method"]["params"],
        "code": S.method_code_digest("eldet"),  # tests/test_code_digest.py
    }
    assert spec["method"]["params"]["threshold"] == 0.9  # resolved DEFAULTS, not only the overrides
    assert spec["noise"]["corruption"]["seed"] == S.derive_seed("synth", "combined", "0.4", 0)
    assert spec["init_seed"] == S.derive_seed("synth", "retinanet", 0, "init")
    # sha256 of the canonical JSON, by hand
    import hashlib

    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    assert S.spec_hash(spec) == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_a_method_param_edit_changes_only_that_entrys_cells():
    changed = _changed(lambda g: g["methods"]["eldet"].setdefault("params", {}).update(threshold=0.5))
    assert changed == {f"synth/combined-0.4/{d}/eldet/seed{k}" for d in ("retinanet", "fcos") for k in range(3)}


def test_an_epoch_edit_for_one_detector_changes_its_cells_only():
    changed = _changed(lambda g: g["schedule"].setdefault("per_detector", {}).update(fcos={"epochs": 3}))
    fcos = {c.id for c in G.expand_cells(_default()) if c.detector == "fcos"}
    assert len(fcos) == 13 and changed == fcos  # baseline clean (seed 0), noisy and 3 methods (seeds 0-2)


def test_a_pretraining_edit_reaches_the_detectors_that_share_the_run():
    edit = {"epochs": 3}
    per_detector = lambda g: g["pretraining"]["schedule"].setdefault("per_detector", {})  # noqa: E731
    changed = _changed(lambda g: per_detector(g).update(deformable_detr=edit))
    assert _default()["pretraining"]["shared"]["dino"] == "deformable_detr"
    assert changed == {c.id for c in G.expand_cells(_default()) if c.detector in ("deformable_detr", "dino")}
    assert (
        "synth/combined-0.4/deformable_detr/od_detr/seed2" in changed and "synth/clean-0/dino/baseline/seed0" in changed
    )
    # a run of its own: Faster R-CNN's edit reaches Faster R-CNN's cells only
    changed = _changed(lambda g: per_detector(g).update(faster_rcnn=edit))
    assert changed == {c.id for c in G.expand_cells(_default()) if c.detector == "faster_rcnn"}


def test_a_teacher_edit_reaches_its_students():
    changed = _changed(lambda g: g["schedule"].setdefault("per_detector", {}).update(gfl_r101={"lr": 0.02}))
    # the one teacher cell (gfl_r101 baseline on clean labels, seed 0) and BCKD's students of all seeds
    assert "synth/clean-0/gfl/bckd/seed0" in changed
    students = {f"synth/clean-0/gfl/bckd/seed{k}" for k in range(3)}
    assert changed == {"synth/clean-0/gfl_r101/baseline/seed0"} | students


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g["resources"].update(threads=1, runtime=600, mem_mb=9000),  # moving to another machine
        lambda g: g.update(description="edited"),
        lambda g: g.update(name="renamed"),
        lambda g: g["methods"].update(extra={"method": "baseline", "detectors": ["retinanet"]}),  # a new entry
    ],
)
def test_edits_that_decide_no_cell_change_no_hash(edit):
    before, after = _hashes(_default()), _hashes(_edited(edit))
    assert {k: after[k] for k in before} == before


def test_the_detector_config_and_its_local_bases_are_in_the_hash(tmp_path):
    (tmp_path / "base.py").write_text("x = 1\n")
    (tmp_path / "top.py").write_text('_base_ = ["./base.py", "mmdet::retinanet/retinanet_r50_fpn_1x_coco.py"]\ny = 2\n')
    first = S.config_digest(str(tmp_path / "top.py"))
    (tmp_path / "base.py").write_text("x = 3\n")
    S.config_digest.cache_clear()
    assert S.config_digest(str(tmp_path / "top.py")) != first


def test_the_cells_own_grid_gives_the_same_spec_for_every_default_cell():
    grid = _default()
    for cell in G.expand_cells(grid):
        sub = G.validate_grid(S.cell_grid(grid, cell))
        assert S.cell_spec(sub, cell) == S.cell_spec(grid, cell), cell.id


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks/grids").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_cells_own_grid_is_a_valid_grid_in_every_shipped_grid(path):
    """Grids with `cells:` scopes and teachers and per-cell seeds too (the default): the training job validates it."""
    grid = G.load_grid(path)
    seen = set()
    for cell in G.expand_cells(grid):
        if (cell.method, cell.detector, cell.setting) in seen:
            continue
        seen.add((cell.method, cell.detector, cell.setting))
        sub = G.validate_grid(S.cell_grid(grid, cell), path=f"{path.name}:{cell.id}")
        assert S.cell_spec(sub, cell) == S.cell_spec(grid, cell), cell.id


def test_spec_file_round_trip_and_a_bad_file(tmp_path):
    grid = _default()
    cell = G.parse_cell_id(grid, "synth/clean-0/gfl/bckd/seed0")
    doc = S.write_spec_file(grid, cell, tmp_path / "spec.json")
    g2, c2, d2 = S.read_spec_file(tmp_path / "spec.json")
    assert c2 == cell and d2["spec_hash"] == doc["spec_hash"] == S.spec_hash(S.cell_spec(g2, c2))
    (tmp_path / "bad.json").write_text('{"cell": 1}')
    with pytest.raises(InputError, match="bad.json"):
        S.read_spec_file(tmp_path / "bad.json")
    with pytest.raises(InputError, match="not found"):
        S.read_spec_file(tmp_path / "missing.json")


# ---- the checkpoint guard -----------------------------------------------------------------


def _identity(epochs: int = 1) -> dict:
    spec = {"schedule": {"epochs": epochs}, "seed": 0}
    data = {"train": "aaaa"}
    h = S.spec_hash(spec)
    return {"cell": "c", "spec_hash": h, "cell_hash": S.digest([h, data]), "spec": spec, "data": data}


def _ckpt(tmp_path: Path, identity: dict | None, *, complete: bool, last: bool = True) -> Path:
    ckpt = tmp_path / "cell" / "checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "epoch_1.pth").write_bytes(b"x")
    if last:
        (ckpt / "last_checkpoint").write_text(str(ckpt / "epoch_1.pth"))
    if identity is not None:
        (ckpt / "identity.json").write_text(json.dumps({**identity, "complete": complete}))
    return ckpt


def test_guard_resumes_only_an_unfinished_run_of_the_same_hash(tmp_path):
    ident = _identity()
    assert CG.decide(tmp_path / "none", ident).resume is False
    ckpt = _ckpt(tmp_path, ident, complete=False)
    assert CG.decide(ckpt, ident).resume is True
    assert CG.decide(ckpt, ident, fresh=True).resume is False


def test_guard_retrains_a_finished_run(tmp_path):
    ident = _identity()
    d = CG.decide(_ckpt(tmp_path, ident, complete=True), ident)
    assert d.resume is False and "had finished" in d.reason


def test_guard_names_what_changed(tmp_path):
    ckpt = _ckpt(tmp_path, _identity(epochs=1), complete=False)
    d = CG.decide(ckpt, _identity(epochs=3))
    assert d.resume is False and "spec.schedule.epochs: 1 -> 3" in d.reason


def test_guard_discards_a_checkpoint_of_unknown_provenance(tmp_path):
    ckpt = _ckpt(tmp_path, None, complete=False)
    d = CG.decide(ckpt, _identity())
    assert d.resume is False and "identity.json" in d.reason


def test_prepare_clears_the_old_run_but_keeps_the_spec(tmp_path):
    ident = _identity()
    ckpt = _ckpt(tmp_path, ident, complete=True)
    cell = ckpt.parent
    for name in ("spec.json", "metrics.json", "method_state.json", "weights.pth"):
        (cell / name).write_text("{}")
    CG.prepare(cell, ckpt, copy.deepcopy(ident))
    assert sorted(p.name for p in cell.iterdir()) == ["checkpoint", "spec.json"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["identity.json"]
    assert json.loads((ckpt / "identity.json").read_text())["complete"] is False
