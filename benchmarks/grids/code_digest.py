"""The digest of the code a method's cells run: edit a method and Snakemake reruns its cells.

A cell's spec (:mod:`benchmarks.grids.spec`) holds the digest of :func:`method_file_hashes` under
``method.code`` (``spec.method_code_digest``, the spec's one hashing convention), so the DAG
treats a change to a method's code like a change to its parameters: exactly the cells of that
method (and, through the teacher hash, their students) rerun, and a checkpoint written by the old
code is not resumed (its cell hash differs).

What is hashed. Every module of the method's package (``benchmarks/methods/<name>/**.py``) and,
transitively, every module under ``benchmarks/methods/`` that one of them imports (``import``,
``from ... import``, relative imports) or names in a string constant (the packages register their
models and hooks by module path: ``MODEL_MODULE = "benchmarks.methods.eldet.model"``). In practice:
the package and the pieces of ``benchmarks/methods/common/`` it uses.

Not hashed:

* ``benchmarks/methods/__init__.py``, the plug-in contract (parameter checks and merging): what it
  decides, the resolved parameters, is in the spec already;
* the shared training code (``benchmarks/training/``, ``benchmarks/train.py``) and the installed
  libraries: an edit there concerns every cell of every grid, so it is rerun deliberately
  (``--forcerun``), and the libraries are pinned by the lock;
* comments, docstrings, blank lines and formatting: each module is hashed as its syntax tree
  (``ast.dump`` without positions, docstrings removed), so ``ruff format`` or a reworded comment
  reruns nothing, and any change to what the code does reruns the cells it concerns. The tree's
  text is Python's own, so a different Python minor version may give other digests (the lock pins
  3.11).

Cost: one parse per module, cached per process (``snakemake -n`` on a 2,000-cell grid parses the
~40 method modules once).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from pathlib import Path

from benchmarks.errors import InputError

METHODS_DIR = Path(__file__).resolve().parents[1] / "methods"
PACKAGE = "benchmarks.methods"
#: a dotted module path inside benchmarks.methods, as it appears in code or in a string
_MODULE_PATH = re.compile(r"^benchmarks\.methods(\.[A-Za-z_]\w*)+$")


def _module_file(dotted: str) -> Path | None:
    """The file of module ``benchmarks.methods.x.y`` (``x/y.py`` or ``x/y/__init__.py``), if any."""
    parts = dotted.split(".")[2:]
    if not parts:
        return None  # benchmarks.methods itself: the contract, not hashed
    base = METHODS_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str:
    """Dotted name of the package holding module file ``path`` (for relative imports)."""
    return ".".join([PACKAGE, *path.relative_to(METHODS_DIR).parts[:-1]])  # x/y.py, x/__init__.py: x


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove the docstring statement of the module and of every class and function."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


@functools.cache
def _parsed(path: Path) -> tuple[str, tuple[str, ...]]:
    """(sha256 of the module's normalised tree, the benchmarks.methods modules it refers to)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise InputError(f"method module does not parse: {exc.msg} (line {exc.lineno})", path=path) from None
    refs: set[str] = set()
    package = _package_of(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            refs.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            refs.add(mod)
            refs.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import submodule`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_PATH.match(node.value):
            refs.add(node.value)
    code = ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)
    # importing a.b.c runs a/__init__.py and a/b/__init__.py too
    refs |= {".".join(r.split(".")[:k]) for r in refs for k in range(3, r.count(".") + 1)}
    ours = sorted(r for r in refs if r == PACKAGE or r.startswith(PACKAGE + "."))
    return hashlib.sha256(code.encode("utf-8")).hexdigest(), tuple(ours)


def method_files(name: str) -> list[Path]:
    """Every module file a method's cells run (see the module docstring), sorted by path."""
    package_dir = METHODS_DIR / name
    if package_dir.is_dir():
        todo = sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)
    elif (METHODS_DIR / f"{name}.py").is_file():
        todo = [METHODS_DIR / f"{name}.py"]
    else:
        raise InputError(f"unknown method '{name}' (no package benchmarks/methods/{name}/)")
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for ref in _parsed(path)[1]:
            found = _module_file(ref)
            if found is not None:
                todo.append(found)
    return sorted(seen)


def method_file_hashes(name: str) -> list[tuple[str, str]]:
    """(path relative to benchmarks/methods/, normalised tree hash) of every file of :func:`method_files`:
    what the spec's ``method.code`` digest is taken of (:func:`benchmarks.grids.spec.method_code_digest`)."""
    return [(path.relative_to(METHODS_DIR).as_posix(), _parsed(path)[0]) for path in method_files(name)]
