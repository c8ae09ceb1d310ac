"""Method packages: one folder per method with its contract, README.md and metafile.yml; the
metafile loader and checker against hand-made tables; published targets equal analysis/references."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis.method_metafile import check_default, load_metafile, tolerance_for
from analysis.references import load_references, lookup_row
from benchmarks.errors import InputError
from benchmarks.methods import get_method, method_names

METHODS = Path(__file__).resolve().parents[1] / "benchmarks" / "methods"
SHIPPED = ("adele", "baseline", "bckd", "dn_detr", "eldet", "od_detr", "orsod", "sssd")


def test_every_method_is_a_package_with_contract_readme_and_metafile():
    assert tuple(method_names()) == SHIPPED
    for name in method_names():
        module = get_method(name)
        assert module.NAME == name and Path(module.__file__).parent.name == name
        readme = (METHODS / name / "README.md").read_text()
        for section in ("## Hyper-parameters", "## Adaptations and readings", "metafile.yml"):
            assert section in readme or name == "baseline", (name, section)
        for key in module.DEFAULTS:  # every hyper-parameter is in the README's table
            assert f"`{key}`" in readme, (name, key)
        load_metafile(METHODS / name / "metafile.yml")


def test_common_is_not_a_method():
    with pytest.raises(InputError, match="is not a method"):
        get_method("common")
    with pytest.raises(InputError, match="no package benchmarks/methods/nosuch/"):
        get_method("nosuch")


@pytest.mark.parametrize("name", SHIPPED)
def test_metafile_targets_are_rows_of_the_references(name):
    meta = load_metafile(METHODS / name / "metafile.yml")
    for target in meta["targets"]:
        criteria = {k: v for k, v in target.items() if k != "value"}
        row = lookup_row(load_references(target["paper"]), **criteria)
        assert float(row["value"]) == pytest.approx(float(target["value"])), (name, target)


def _meta(tmp_path, method="eldet", **result):
    row = {"detector": "retinanet", "noise": "combined", "rate": 0.4, "n": 3,
           "AP": {"mean": 17.9, "std": 0.6, "tolerance": 0.5}, "dAP": {"mean": 0.6, "std": 0.2, "tolerance": 0.5}, **result}  # fmt: skip
    meta = {"method": method, "paper": {"title": "t", "venue": "v", "file": "papers/x.txt", "code": None},
            "targets": [], "default": {"source": "a run", "results": [row]}}  # fmt: skip
    folder = tmp_path / method
    folder.mkdir(exist_ok=True)
    (folder / "metafile.yml").write_text(yaml.safe_dump(meta))
    return folder / "metafile.yml"


def _gains(ap, dap, base=17.3, method="eldet"):
    return [{"detector": "retinanet", "noise": "combined", "rate": "0.4", "method": method,
             "AP": str(ap), "dAP": str(dap), "AP_base": str(base)}]  # fmt: skip


def test_check_default_passes_inside_and_fails_outside_the_tolerance(tmp_path):
    meta = load_metafile(_meta(tmp_path))
    assert all(c.ok for c in check_default(meta, _gains(18.3, 0.2)))  # 0.4 off each: inside 0.5
    bad = [c for c in check_default(meta, _gains(18.5, 0.6)) if not c.ok]
    assert [c.metric for c in bad] == ["AP"] and "recorded 17.90 +- 0.50" in bad[0].describe()
    missing = check_default(meta, _gains(17.9, 0.6, method="adele"))
    assert not any(c.ok for c in missing) and "absent" in missing[0].describe()


def test_baseline_rows_read_the_paired_baseline_column(tmp_path):
    path = _meta(tmp_path, method="baseline", AP={"mean": 17.3, "std": 0.5, "tolerance": 0.5})
    meta = load_metafile(path)
    checks = check_default(meta, _gains(99.0, 9.0, base=17.6, method="whatever"))
    assert [(c.metric, c.measured, c.ok) for c in checks] == [("AP", 17.6, True)]


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda m: m.pop("paper"), "'paper' is missing"),
        (lambda m: m.update(method="other"), "is not the folder's name"),
        (lambda m: m["default"]["results"][0]["AP"].pop("tolerance"), "default.results[0].AP"),
        (lambda m: m["default"]["results"][0]["dAP"].update(tolerance=0), "default.results[0].dAP.tolerance"),
        (lambda m: m["default"]["results"][0].update(rate=1.5), "default.results[0].rate"),
        (lambda m: m["default"]["results"][0]["dAP"].pop("std"), "default.results[0].dAP"),
        (lambda m: m["targets"].append({"paper": "eldet", "value": "x"}), "targets[0].value"),
    ],
)
def test_load_metafile_names_the_file_and_entry(tmp_path, edit, needle):
    path = _meta(tmp_path)
    meta = yaml.safe_load(path.read_text())
    edit(meta)
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(InputError) as exc:
        load_metafile(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


def test_a_method_worse_than_its_baseline_fails_even_when_its_ap_is_close(tmp_path):
    """dAP has its own tolerance: ELDET 0.6 ahead recorded, 0.6 behind measured, fails on dAP."""
    meta = load_metafile(_meta(tmp_path))
    bad = [c.metric for c in check_default(meta, _gains(17.9, -0.6)) if not c.ok]
    assert bad == ["dAP"]


def test_tolerance_rule():
    assert tolerance_for(0.1) == 0.5 and tolerance_for(0.6) == 1.2
