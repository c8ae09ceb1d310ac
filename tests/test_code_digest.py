"""A method's code is part of its cells' spec: a code edit reruns exactly the cells that run that code.

The expectations are derived by hand from the packages' imports (grep, not the digest's own walk):
``common/ema.py`` is imported by ``eldet/model.py`` and ``od_detr/model.py`` only, ``common/losses.py``
by ``eldet/crosskd.py``, ``bckd/losses.py`` and ``sssd/losses.py``.
"""

from __future__ import annotations

import shutil

import pytest
import yaml
from conftest import REPO

from benchmarks.errors import InputError
from benchmarks.grids import code_digest as CD
from benchmarks.grids import grid as G
from benchmarks.grids import spec as S

METHODS = ("baseline", "eldet", "adele", "orsod", "bckd", "sssd", "dn_detr", "od_detr")


@pytest.fixture
def methods_copy(tmp_path, monkeypatch):
    """A private copy of benchmarks/methods/ that the digest reads instead of the repository's."""
    root = tmp_path / "methods"
    shutil.copytree(REPO / "benchmarks/methods", root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(CD, "METHODS_DIR", root)
    _clear()
    yield root
    _clear()


def _clear() -> None:
    CD._parsed.cache_clear()
    S.method_code_digest.cache_clear()


def _digests() -> dict[str, str]:
    _clear()
    return {m: S.method_code_digest(m) for m in METHODS}


def _changed(before: dict, after: dict) -> set[str]:
    return {m for m in before if before[m] != after[m]}


def test_a_code_edit_in_a_shared_module_reaches_exactly_its_importers(methods_copy):
    before = _digests()
    ema = methods_copy / "common/ema.py"
    ema.write_text(ema.read_text() + "\nEXTRA_CONSTANT = 1\n")
    assert _changed(before, _digests()) == {"eldet", "od_detr"}
    losses = methods_copy / "common/losses.py"
    losses.write_text(losses.read_text() + "\nEXTRA_CONSTANT = 2\n")
    assert _changed(before, _digests()) == {"eldet", "od_detr", "bckd", "sssd"}


def test_an_edit_inside_a_package_reaches_that_method_only(methods_copy):
    before = _digests()
    hooks = methods_copy / "adele/hooks.py"
    text = hooks.read_text()
    assert "cutoff_epoch" in text
    hooks.write_text(text.replace("cutoff_epoch", "cutoff_epoch_renamed"))
    assert _changed(before, _digests()) == {"adele"}


def test_comments_docstrings_and_formatting_change_nothing(methods_copy):
    before = _digests()
    for rel in ("eldet/hooks.py", "common/ema.py", "baseline/__init__.py"):
        path = methods_copy / rel
        text = path.read_text()
        # a reworded module docstring, a comment, blank lines, and a different layout of one statement
        text = text.replace('"""', '"""Reworded. ', 1) + "\n\n# a new comment\n\n"
        path.write_text(text)
    baseline = methods_copy / "baseline/__init__.py"
    baseline.write_text(
        baseline.read_text().replace('NAME = "baseline"', "NAME = (\n    'baseline'  # quoted otherwise\n)")
    )
    assert _digests() == before


def test_the_plugin_contract_is_not_method_code(methods_copy):
    """benchmarks/methods/__init__.py decides only the resolved parameters, which the spec holds."""
    before = _digests()
    init = methods_copy / "__init__.py"
    init.write_text(init.read_text() + "\nEXTRA_CONSTANT = 3\n")
    assert _digests() == before


def test_modules_named_in_strings_and_relative_imports_are_followed(methods_copy):
    pkg = methods_copy / "mymethod"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('from . import helpers\nMODEL_MODULE = "benchmarks.methods.mymethod.model"\n')
    (pkg / "helpers.py").write_text("from ..common import switch\n")
    (methods_copy / "elsewhere.py").write_text("X = 1\n")
    (methods_copy / "common/late.py").write_text("Y = 1\n")
    # model.py is a file of the package anyway; the string names a module outside it
    (pkg / "model.py").write_text('REGISTERED = ("benchmarks.methods.common.late",)\n')
    files = {p.relative_to(methods_copy).as_posix() for p in CD.method_files("mymethod")}
    assert files == {
        "mymethod/__init__.py",
        "mymethod/helpers.py",
        "mymethod/model.py",
        "common/__init__.py",
        "common/switch.py",
        "common/late.py",
    }
    first = S.method_code_digest("mymethod")
    (methods_copy / "common/late.py").write_text("Y = 2\n")
    _clear()
    assert S.method_code_digest("mymethod") != first


def test_a_broken_module_is_named(methods_copy):
    (methods_copy / "orsod/selection.py").write_text("def broken(:\n")
    with pytest.raises(InputError, match="selection.py") as err:
        S.method_code_digest("orsod")
    assert "does not parse" in str(err.value)
    with pytest.raises(InputError, match="unknown method 'nosuch'"):
        CD.method_files("nosuch")


def test_a_code_edit_changes_exactly_the_spec_hashes_of_its_cells(methods_copy):
    """Through the spec the DAG sees: ELDET's cells of the default grid, nothing else (ELDET has no
    students); a BCKD edit reaches the three BCKD cells and not the teacher's."""
    grid = G.validate_grid(yaml.safe_load((REPO / "benchmarks/grids/default.yaml").read_text()))

    def hashes() -> dict[str, str]:
        _clear()
        return {c.id: S.spec_hash(S.cell_spec(grid, c)) for c in G.expand_cells(grid)}

    before = hashes()
    crosskd = methods_copy / "eldet/crosskd.py"
    crosskd.write_text(crosskd.read_text() + "\nEXTRA_CONSTANT = 4\n")
    after = hashes()
    eldet = {f"synth/combined-0.4/{d}/eldet/seed{k}" for d in ("retinanet", "fcos") for k in range(3)}
    assert {c for c in before if before[c] != after[c]} == eldet
    model = methods_copy / "bckd/model.py"
    model.write_text(model.read_text() + "\nEXTRA_CONSTANT = 5\n")
    again = hashes()
    assert {c for c in after if after[c] != again[c]} == {f"synth/clean-0/gfl/bckd/seed{k}" for k in range(3)}


def test_the_spec_records_the_digest_of_the_repository_code():
    _clear()
    grid = G.validate_grid(yaml.safe_load((REPO / "benchmarks/grids/default.yaml").read_text()))
    cell = G.parse_cell_id(grid, "synth/combined-0.4/retinanet/adele/seed1")
    assert S.cell_spec(grid, cell)["method"]["code"] == S.method_code_digest("adele")
    assert len(S.method_code_digest("adele")) == 16
