"""Grid schema validation, defaults, cell expansion and cell ids."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import yaml

from benchmarks.errors import InputError
from benchmarks.grids import grid as G

REPO = Path(__file__).resolve().parents[1]


def minimal(**over):
    g = {
        "name": "t",
        "datasets": {"synth": {"source": "synthetic"}},
        "detectors": ["retinanet", "deformable_detr"],
        "noise": [{"type": "clean", "rate": 0.0}, {"type": "combined", "rate": 0.4}],
        "seeds": [0, 1],
    }
    g.update(over)
    return g


def test_defaults_are_filled_from_the_schema():
    g = G.validate_grid(minimal())
    assert g["size"] == "tiny"
    assert g["methods"] == {
        "baseline": {"params": {}, "detectors": None, "noise": None, "cells": None, "seeds": None, "teacher": None}
    }
    assert g["probe"] == {
        "enabled": True,
        "interval": 1,
        "subset": 200,
        "batch_size": None,
        "iou_tau": 0.5,
        "ema_decay": 0.9996,
        "ema_tau": 2000.0,
    }
    assert g["datasets"]["synth"]["synthetic"]["n_train"] == 400
    assert g["resources"]["threads"] == 2 and g["resources"]["gpu"] == 0
    assert g["schedule"]["per_detector"] == {}


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"detectorz": ["retinanet"]}, "Additional properties"),
        ({"detectors": ["yolo"]}, "detectors/0"),
        ({"noise": [{"type": "cls", "rate": 1.5}]}, "noise/0/rate"),
        ({"noise": [{"type": "clean", "rate": 0.2}]}, "clean' must have rate 0"),
        ({"noise": [{"type": "loc", "rate": 0.0}]}, "use type clean"),
        ({"datasets": {"voc": {"source": "voc"}}}, "no 'path'"),
        ({"methods": {"nosuchmethod": {}}}, "unknown method 'nosuchmethod'"),
        ({"schedule": {"per_detector": {"fcos": {"epochs": 3}}}}, "per_detector names detectors not in the grid"),
        ({"seeds": [0, 0]}, "seeds"),
    ],
)
def test_invalid_grids_fail_with_a_message_naming_the_problem(change, fragment):
    with pytest.raises(InputError) as exc:
        G.validate_grid(minimal(**change), path="my_grid.yaml")
    assert "my_grid.yaml" in str(exc.value)
    assert fragment in str(exc.value)


def test_load_grid_reports_yaml_syntax_errors_with_line(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("name: t\ndatasets: {synth: {source: synthetic}\n")
    with pytest.raises(InputError) as exc:
        G.load_grid(p)
    assert "g.yaml" in str(exc.value) and "line" in str(exc.value)


def test_load_grid_refuses_yaml_tags(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError):
        G.load_grid(p)


def test_expand_cells_is_the_product_minus_incompatible_pairs(monkeypatch):
    fake = types.ModuleType("benchmarks.methods.densekd")
    fake.NAME, fake.FAMILIES, fake.DEFAULTS = "densekd", frozenset({"dense"}), {}
    fake.apply = lambda cfg, params, ctx: cfg
    fake.check = lambda params, detector: None
    monkeypatch.setitem(sys.modules, "benchmarks.methods.densekd", fake)
    g = G.validate_grid(minimal(methods={"baseline": {}, "densekd": {}}))
    cells = G.expand_cells(g)
    # baseline: 1 dataset x 2 noise x 2 detectors x 2 seeds = 8; densekd skips deformable_detr: 4
    assert len(cells) == 12
    assert not [c for c in cells if c.method == "densekd" and c.detector == "deformable_detr"]
    assert len({c.id for c in cells}) == 12


def test_cell_ids_round_trip_and_unknown_cells_fail():
    g = G.validate_grid(minimal())
    for cell in G.expand_cells(g):
        assert G.parse_cell_id(g, cell.id) == cell
    assert G.expand_cells(g)[0].id == "synth/clean-0/retinanet/baseline/seed0"
    assert G.parse_cell_id(g, "synth/combined-0.4/retinanet/baseline/seed1").rate == 0.4
    with pytest.raises(InputError, match="not a cell of grid"):
        G.parse_cell_id(g, "synth/combined-0.2/retinanet/baseline/seed0")
    with pytest.raises(InputError, match="malformed"):
        G.parse_cell_id(g, "synth/retinanet/baseline/seed0")


def test_format_rate():
    assert [G.format_rate(r) for r in (0.0, 0.4, 0.25, 1.0)] == ["0", "0.4", "0.25", "1"]


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks" / "grids").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_grids_validate(path):
    g = G.load_grid(path)
    assert G.expand_cells(g)
    assert yaml.safe_load(path.read_text())["name"] == g["name"]


def test_method_entries_scope_cells_to_detectors_and_noise_settings():
    g = G.validate_grid(
        minimal(
            methods={
                "baseline": {},
                "variant": {"method": "baseline", "detectors": ["retinanet"], "noise": ["combined-0.4"]},
            }
        )
    )
    variant = [c for c in G.expand_cells(g) if c.method == "variant"]
    # 1 detector x 1 setting x 2 seeds, out of the 2 x 2 x 2 the product would give
    assert sorted(c.id for c in variant) == [
        "synth/combined-0.4/retinanet/variant/seed0",
        "synth/combined-0.4/retinanet/variant/seed1",
    ]
    assert G.method_module(g, "variant") == "baseline" and G.method_module(g, "baseline") == "baseline"
    assert G.method_params(g, "variant") == {}


def test_cells_scope_keeps_only_the_named_detector_noise_pairs():
    g = G.validate_grid(
        minimal(
            seeds=[3],
            methods={"baseline": {"cells": ["retinanet/clean-0", "deformable_detr/combined-0.4"]}},
        )
    )
    # the product would be 2 detectors x 2 settings; the pairs keep 2 of the 4, not their product
    assert sorted(c.id for c in G.expand_cells(g)) == [
        "synth/clean-0/retinanet/baseline/seed3",
        "synth/combined-0.4/deformable_detr/baseline/seed3",
    ]
    both = G.validate_grid(
        minimal(seeds=[0], methods={"baseline": {"detectors": ["retinanet"], "cells": ["deformable_detr/clean-0"]}})
    )
    assert G.expand_cells(both) == []  # the scopes intersect


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"detectors": ["gfl"]}, "methods.v.detectors names \\['gfl'\\], not in the grid"),
        ({"noise": ["combined-0.2"]}, "methods.v.noise names \\['combined-0.2'\\]"),
        ({"noise": ["combined"]}, "does not match"),
        ({"params": {"lr_scale": 2}}, "methods.v: method 'baseline' has no parameter"),
        ({"method": "nosuch"}, "unknown method 'nosuch'"),
        ({"teacher": {"detector": "retinanet", "method": "other"}}, "teacher.method 'other' is not a method"),
        ({"cells": ["gfl/clean-0"]}, "methods.v.cells names 'gfl/clean-0': detector or noise setting not in"),
        ({"cells": ["retinanet/combined-0.2"]}, "methods.v.cells names 'retinanet/combined-0.2'"),
        ({"cells": ["retinanet"]}, "does not match"),
        ({"bogus": 1}, "Additional properties"),
    ],
)
def test_bad_method_entries_fail_naming_the_entry(entry, message):
    with pytest.raises(InputError, match=message):
        G.validate_grid(minimal(methods={"baseline": {}, "v": {"method": "baseline", **entry}}))


def test_a_teacher_is_a_cell_of_the_grid_with_the_students_dataset_and_seed():
    g = G.validate_grid(
        minimal(
            methods={
                "baseline": {},
                "kd": {
                    "method": "baseline",
                    "detectors": ["retinanet"],
                    "teacher": {"detector": "deformable_detr", "noise": "clean-0"},
                },
            }
        )
    )
    student = G.parse_cell_id(g, "synth/combined-0.4/retinanet/kd/seed1")
    assert G.teacher_cell(g, student).id == "synth/clean-0/deformable_detr/baseline/seed1"
    own = G.validate_grid(
        minimal(methods={"baseline": {}, "kd": {"method": "baseline", "teacher": {"detector": "retinanet"}}})
    )
    student = G.parse_cell_id(own, "synth/combined-0.4/deformable_detr/kd/seed0")
    assert G.teacher_cell(own, student).id == "synth/combined-0.4/retinanet/baseline/seed0"
    assert G.teacher_cell(own, G.parse_cell_id(own, "synth/clean-0/retinanet/baseline/seed0")) is None
    assert G.weights_file(own, student).name == "weights.pth"


def test_a_fixed_teacher_seed_serves_every_student_seed_and_must_be_a_cell():
    entry = {"method": "baseline", "teacher": {"detector": "retinanet", "noise": "clean-0", "seed": 0}}
    g = G.validate_grid(minimal(methods={"baseline": {}, "kd": entry}))
    for seed in (0, 1):
        student = G.parse_cell_id(g, f"synth/combined-0.4/deformable_detr/kd/seed{seed}")
        assert G.teacher_cell(g, student).id == "synth/clean-0/retinanet/baseline/seed0"
    # the teacher's seed is part of the student's spec: seed 1's student names seed 0's teacher hash
    from benchmarks.grids import spec as S

    spec = S.cell_spec(g, G.parse_cell_id(g, "synth/combined-0.4/deformable_detr/kd/seed1"))
    assert spec["teacher"]["cell"] == "synth/clean-0/retinanet/baseline/seed0"
    missing = {"method": "baseline", "teacher": {"detector": "retinanet", "noise": "clean-0", "seed": 5}}
    with pytest.raises(InputError, match="needs teacher synth/clean-0/retinanet/baseline/seed5"):
        G.validate_grid(minimal(methods={"baseline": {}, "kd": missing}))


def test_a_teacher_outside_the_grid_is_rejected():
    methods = {
        "baseline": {"noise": ["combined-0.4"]},
        "kd": {"method": "baseline", "teacher": {"detector": "retinanet", "noise": "clean-0"}},
    }
    with pytest.raises(InputError, match="needs teacher synth/clean-0/retinanet/baseline/seed0, which is not a cell"):
        G.validate_grid(minimal(methods=methods))
    with pytest.raises(InputError, match="cannot be its own teacher"):
        G.validate_grid(minimal(methods={"baseline": {"teacher": {"detector": "retinanet"}}}))
