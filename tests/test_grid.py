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
    assert g["methods"] == {"baseline": {}}
    assert g["probe"] == {"enabled": True, "interval": 1, "subset": 200, "iou_tau": 0.5}
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
