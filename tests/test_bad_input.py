"""Bad input found by a review of the CLIs: each case exits 2 with the file, the entry and the
problem named, and leaves no output behind (the guide's bad-input rule)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import manifest

from analysis import coco_eval, memorization, metafile_record, method_gains, tide, transition
from benchmarks.data import corrupt
from benchmarks.errors import run_cli

VALID = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 120, "height": 90},
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [30, 30, 40, 30], "area": 1200, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 50, 50], "area": 2500, "iscrowd": 0},
    ],
}
DETS = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
    {"image_id": 2, "category_id": 3, "bbox": [1, 1, 48, 48], "score": 0.8},
]


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def _edited(section: str, index: int, key: str, value) -> dict:
    coco = copy.deepcopy(VALID)
    coco[section][index][key] = value
    return coco


def _fails(capsys, main, argv, *needles) -> str:
    assert run_cli(main, [str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    # the CLI may log its progress first; the last line is the error
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize(
    "section, index, key, value, entry",
    [
        ("images", 1, "id", "2", "images[1]"),  # numpy would read "2" as 2
        ("images", 1, "id", 2.5, "images[1]"),  # ... and 2.5 as 2
        ("images", 1, "id", True, "images[1]"),
        ("categories", 1, "id", "2", "categories[1]"),
        ("images", 1, "width", "120", "images[1]"),
        ("images", 1, "width", float("nan"), "images[1]"),
        ("annotations", 1, "bbox", [30, 30, "40", 30], "annotations[1]"),
        ("annotations", 1, "bbox", [30, 30, True, 30], "annotations[1]"),
    ],
)
def test_wrongly_typed_coco_values_are_rejected_by_the_corruption_cli(
    tmp_path, capsys, section, index, key, value, entry
):
    src = _write(tmp_path / "in.json", _edited(section, index, key, value))
    out = tmp_path / "o" / "noisy.json"
    _fails(capsys, corrupt.main, ["--in", src, "--out", out, "--noise", "missing", "--rate", "0", "--seed", "0"],
           "in.json", entry)  # fmt: skip
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_valid_file_still_passes(tmp_path):
    src = _write(tmp_path / "in.json", VALID)
    out = tmp_path / "o" / "noisy.json"
    assert (
        run_cli(corrupt.main, ["--in", str(src), "--out", str(out), "--noise", "loc", "--rate", "0.5", "--seed", "0"])
        == 0
    )
    assert json.loads(out.read_text())["annotations"][0]["id"] == 1


@pytest.mark.parametrize(
    "key, value",
    [("area", None), ("area", float("nan")), ("iscrowd", "1"), ("iscrowd", 2)],
)
def test_coco_eval_rejects_null_area_and_non_flag_iscrowd(tmp_path, capsys, key, value):
    # a null area used to be read as NaN (moving the box to another size range), "1" as a crowd
    gt = _write(tmp_path / "gt.json", _edited("annotations", 0, key, value))
    dets = _write(tmp_path / "d.json", DETS)
    _fails(capsys, coco_eval.main, ["--gt", gt, "--dets", dets], "gt.json", "annotations[0]", "iscrowd")


def test_coco_eval_rejects_boolean_category_in_detections(tmp_path, capsys):
    gt = _write(tmp_path / "gt.json", VALID)
    dets = _write(tmp_path / "d.json", [DETS[0], {**DETS[1], "category_id": True}])
    _fails(capsys, coco_eval.main, ["--gt", gt, "--dets", dets], "d.json", "record 1", "true/false")


@pytest.mark.parametrize(
    "option, value, needle",
    [("--max-dets", "0", "--max-dets"), ("--pos-thr", "2", "--pos-thr"), ("--pos-thr", "nan", "--pos-thr"),
     ("--bg-thr", "0.9", "--bg-thr")],
)  # fmt: skip
def test_tide_rejects_impossible_thresholds(tmp_path, capsys, option, value, needle):
    gt, dets = _write(tmp_path / "gt.json", VALID), _write(tmp_path / "d.json", DETS)
    _fails(capsys, tide.main, ["--gt", gt, "--dets", dets, option, value], needle)


def test_tide_without_ground_truth_boxes_is_an_error_not_a_crash(tmp_path, capsys):
    gt = _write(tmp_path / "gt.json", {**VALID, "annotations": []})
    dets = _write(tmp_path / "d.json", DETS)
    _fails(capsys, tide.main, ["--gt", gt, "--dets", dets], "gt.json", "no (non-crowd) annotation")


def test_transition_rejects_a_horizon_below_two_and_non_utf8_probes(tmp_path, capsys):
    probe = tmp_path / "probe.csv"
    probe.write_text("epoch,CA\n" + "".join(f"{e},{1 - 0.5**e:.4f}\n" for e in range(1, 9)))
    for horizon in ("0", "-3"):
        _fails(capsys, transition.main, ["--csv", probe, "--column", "CA", "--horizon", horizon], "--horizon")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfeepoch,CA\n1,0.1\n")
    _fails(capsys, transition.main, ["--csv", binary, "--column", "CA"], "bin.csv", "not UTF-8")


def test_unwritable_outputs_name_the_path_and_leave_nothing(tmp_path, capsys):
    src = _write(tmp_path / "in.json", VALID)
    out = tmp_path / "o" / "noisy.json"
    args = ["--in", src, "--out", out, "--noise", "loc", "--rate", "0.5", "--seed", "0"]
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a directory would have to be
    _fails(capsys, corrupt.main, [*args, "--stats", blocker / "s.json"], str(blocker))
    assert not out.exists() and not list(out.parent.glob(".tmp-*"))
    (tmp_path / "adir").mkdir()
    _fails(capsys, corrupt.main, [*args[:2], "--out", tmp_path / "adir", *args[4:]], "adir", "directory")


def _noisy_cells(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        d = runs / "synth" / "combined-0.4" / "retinanet" / "baseline" / f"seed{seed}"
        d.mkdir(parents=True)
        ident = {"dataset": "synth", "noise": "combined", "rate": 0.4, "detector": "retinanet", "method": "baseline"}
        (d / "metrics.json").write_text(json.dumps({**ident, "seed": seed, "AP": 0.3, "AP50": 0.5}))
        rows = ["epoch,AP,CA,GTBA,AP_clean,CA_clean,GTBA_clean"] + [
            f"{e},0.{e},0.{e},0.{e},0.3,0.3,0.3" for e in (1, 2, 3)
        ]
        (d / "probe.csv").write_text("\n".join(rows) + "\n")
    return manifest(runs)


def test_table_clis_never_overwrite_their_input_and_write_both_files_or_none(tmp_path, capsys):
    cells = _noisy_cells(tmp_path)
    before = cells.read_text()
    for main in (memorization.main, method_gains.main):
        _fails(capsys, main, ["--cells", cells, "--out", cells], "--out is the input --cells")
        out = tmp_path / "t.csv"
        _fails(capsys, main, ["--cells", cells, "--out", out, "--markdown", out], "same file")
        blocker = tmp_path / "file"
        blocker.write_text("")
        _fails(capsys, main, ["--cells", cells, "--out", out, "--markdown", blocker / "t.md"], str(blocker))
        assert not out.exists(), "the CSV must not appear without its Markdown"
    assert cells.read_text() == before


def test_memorization_warns_about_listed_cells_without_probes(tmp_path, capsys):
    cells = _noisy_cells(tmp_path)
    probe = next((tmp_path / "runs").glob("**/seed1/probe.csv"))
    probe.unlink()
    assert run_cli(memorization.main, ["--cells", str(cells), "--out", str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err
    assert "1 noisy cells have no probe.csv" in err and str(probe) in err and "1 noisy baselines" in err


@pytest.mark.parametrize(
    "edit, needle",
    [({"seed": 1}, "says seed 1"), ({"AP": float("nan")}, "AP must be a fraction"), ({"AP": "abc"}, "AP must be"),
     ({"AP50": 1.5}, "AP50 must be"), ({"rate": "0.4x"}, "malformed cell identity")],
)  # fmt: skip
def test_method_gains_checks_each_metrics_file_against_its_cell(tmp_path, capsys, edit, needle):
    cells = _noisy_cells(tmp_path)
    metrics = next((tmp_path / "runs").glob("**/seed0/metrics.json"))
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), **edit}))
    out = tmp_path / "g.csv"
    _fails(capsys, method_gains.main, ["--cells", cells, "--out", out], str(metrics), needle)
    assert not out.exists()


def test_method_gains_names_the_probe_line_with_a_bad_number(tmp_path, capsys):
    cells = _noisy_cells(tmp_path)
    probe = next((tmp_path / "runs").glob("**/seed0/probe.csv"))
    probe.write_text("epoch,IS\n1,0.5\n2,oops\n")
    _fails(capsys, method_gains.main, ["--cells", cells, "--out", tmp_path / "g.csv"], str(probe), "line 3", "oops")


def test_manifest_entries_of_the_wrong_shape_are_named(tmp_path, capsys):
    bad = _write(tmp_path / "cells.json", {"cells": 5})
    _fails(capsys, memorization.main, ["--cells", bad, "--out", tmp_path / "m.csv"], "cells.json", "must be a list")
    bad = _write(tmp_path / "cells.json", {"cells": [{"id": "bogus", "dir": "x"}]})
    _fails(capsys, memorization.main, ["--cells", bad, "--out", tmp_path / "m.csv"], "cells.json (cells[0])", "bogus")


def test_metafile_record_needs_metafiles_under_its_methods_dir(tmp_path, capsys):
    (tmp_path / "res" / "tables").mkdir(parents=True)
    (tmp_path / "res" / "tables" / "gains.csv").write_text("setting,detector,method\n")
    argv = ["--results", tmp_path / "res", "--source", "t", "--methods-dir", tmp_path / "none"]
    _fails(capsys, metafile_record.main, argv, "no <method>/metafile.yml", "none")
