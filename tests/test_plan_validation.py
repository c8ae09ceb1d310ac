"""Bad method values and method/detector pairs fail at plan time (``validate_grid``, ``snakemake -n``),
naming the grid file, the entry, the key, the value and what is allowed."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from benchmarks.errors import InputError
from benchmarks.grids import grid as G
from benchmarks.methods import get_method

DEFAULT = yaml.safe_load((REPO / "benchmarks/grids/default.yaml").read_text())


def _params(entry: str, **values):
    def edit(g):
        g["methods"][entry].setdefault("params", {}).update(values)

    return edit


BAD = [
    (_params("eldet", teacher="emaa"), ["methods.eldet.params.teacher", "'emaa'", "'ema', 'snapshot'"]),
    (_params("eldet", threshold=-0.5), ["methods.eldet.params.threshold", "-0.5", "(0, 1)"]),
    (_params("eldet", kd_interval=0), ["methods.eldet.params.kd_interval", "integer >= 1"]),
    (_params("adele", correct="labels"), ["methods.adele.params.correct", "'labels'"]),
    (_params("orsod", tau=1.0), ["methods.orsod.params.tau", "[0, 1)"]),
    (_params("sssd", lam=-1), ["methods.sssd.params.lam", ">= 0"]),
    (_params("sssd", schedule="cosine"), ["methods.sssd.params.schedule", "'cosine'"]),
    (_params("od_detr", ema_decay=1.5), ["methods.od_detr.params.ema_decay", "(0, 1)"]),
    (_params("dn_detr", num_groups=2.5), ["methods.dn_detr.params.num_groups", "integer"]),
    (_params("bckd", loc_overlap="iou3"), ["methods.bckd.params.loc_overlap", "'iou3'"]),
    (lambda g: g["methods"]["bckd"].pop("teacher"), ["methods.bckd.teacher is missing"]),
    (
        lambda g: g["methods"]["dn_detr"].update(detectors=["deformable_detr", "dino"]),
        ["methods.dn_detr", "'dino'", "scope"],
    ),  # fmt: skip
    (lambda g: g["methods"]["od_detr"].update(detectors=None, noise=None), ["methods.od_detr", "'dino'"]),
]


@pytest.mark.parametrize("edit,needles", BAD)
def test_validate_grid_rejects_bad_values_naming_file_entry_key_value(edit, needles):
    grid = copy.deepcopy(DEFAULT)
    edit(grid)
    with pytest.raises(InputError) as exc:
        G.validate_grid(grid, path="grids/mine.yaml")
    msg = str(exc.value)
    assert msg.startswith("grids/mine.yaml: ")
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_a_scope_that_leaves_the_detector_out_is_fine():
    grid = copy.deepcopy(DEFAULT)
    grid["methods"]["dn_detr"]["detectors"] = ["deformable_detr"]  # dino in the grid, outside the scope
    assert {c.detector for c in G.expand_cells(G.validate_grid(grid)) if c.method == "dn_detr"} == {"deformable_detr"}


def test_every_method_has_a_check_that_accepts_its_defaults():
    from benchmarks.detectors import DETECTORS

    for name in ("baseline", "eldet", "adele", "orsod", "bckd", "sssd", "dn_detr", "od_detr"):
        method = get_method(name)
        served = [d for d, det in DETECTORS.items() if det.family in method.FAMILIES]
        accepted = []
        for det in served:
            try:
                method.check(dict(method.DEFAULTS), det)
                accepted.append(det)
            except InputError:
                pass
        assert accepted, name  # every method serves at least one detector with its paper defaults


def test_every_planned_cell_passes_its_methods_check_in_every_shipped_grid():
    for path in sorted((REPO / "benchmarks/grids").glob("*.yaml")):
        grid = G.load_grid(path)
        for cell in G.expand_cells(grid):
            method = get_method(G.method_module(grid, cell.method))
            from benchmarks.methods import resolve_params

            method.check(resolve_params(method, G.method_params(grid, cell.method)), cell.detector)


def _dry_run(tmp_path, grid: dict):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**grid, "results_dir": str(tmp_path / "res")}))
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return out.returncode, out.stdout + out.stderr, cfg


def test_snakemake_dry_run_fails_on_a_bad_value_naming_file_entry_and_key(tmp_path):
    grid = copy.deepcopy(DEFAULT)
    grid["methods"]["eldet"]["params"] = {"teacher": "emaa"}
    code, text, cfg = _dry_run(tmp_path, grid)
    assert code != 0
    assert str(cfg) in text and "methods.eldet.params.teacher = 'emaa'" in text, text[-2000:]
    assert not (tmp_path / "res").exists()  # a failed plan writes nothing


def test_the_readme_dry_run_names_the_file_and_line_of_a_yaml_syntax_error(tmp_path):
    """Through envs/run (the README's commands): Snakemake alone would say neither file nor line."""
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("name: broken\ndatasets:\n  synth: {source: synthetic\ndetectors: [retinanet]\n")
    out = subprocess.run(
        ["bash", "envs/run", "snakemake", "-n", "--configfile", str(cfg)], cwd=REPO, capture_output=True, text=True
    )
    text = out.stdout + out.stderr
    assert out.returncode == 2
    assert f"error: {cfg} (line 4, column 10): invalid YAML" in text, text[-2000:]


def test_preflight_finds_every_configfile_spelling():
    from benchmarks.grids.preflight import configfiles

    argv = ["snakemake", "all", "--configfile", "a.yaml", "b.yml", "--cores", "2", "--configfile=c.json", "-n"]
    assert [str(p) for p in configfiles(argv)] == ["a.yaml", "b.yml", "c.json"]


def test_the_dn_detr_paper_grid_plans_no_cell_its_method_rejects():
    grid = G.load_grid(REPO / "benchmarks/grids/dn_detr_coco.yaml")
    assert {c.detector for c in G.expand_cells(grid) if c.method == "dn_detr"} == {"deformable_detr"}


def test_data_jobs_ask_for_memory_from_their_inputs_size(tmp_path):
    from benchmarks.grids import resources as R

    src = tmp_path / "coco"
    (src / "annotations").mkdir(parents=True)
    (src / "annotations" / "instances_train2017.json").write_bytes(b" " * (40 * 2**20))  # 40 MB
    (src / "train2017").mkdir()
    (src / "train2017" / "x.jpg").write_bytes(b"\xff" * 2**20)  # images do not count
    assert R.annotation_mb(src) == pytest.approx(40.0)
    assert R.dataset_mem_mb({"source": "coco", "path": str(src)}) == 1000 + 8 * 40
    assert R.dataset_mem_mb({"source": "coco", "path": str(src)}, attempt=3) == 2 * (1000 + 8 * 40)
    assert R.dataset_mem_mb({"source": "synthetic"}) == 1000
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "train.json").write_bytes(b" " * (10 * 2**20))
    assert R.corrupt_mem_mb(clean) == 1000 + 5 * 10 and R.corrupt_mem_mb(clean, attempt=2) == int(1.5 * 1050)
    # and the DAG asks for it: the dry run's dataset job carries the request
    grid = {"name": "mem", "results_dir": str(tmp_path / "res"), "datasets": {"coco": {"source": "coco", "path": str(src)}},
            "detectors": ["retinanet"]}  # fmt: skip
    cfg = tmp_path / "mem.yaml"
    cfg.write_text(yaml.safe_dump(grid))
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg)], cwd=REPO, capture_output=True, text=True
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-2000:]
    block = text[text.index("rule dataset:") :].split("\n\n")[0]
    assert "mem_mb=1320" in block, block
    assert not (tmp_path / "res").exists()  # a dry run writes nothing a job could read
