"""Pre-flight check of the grid files named on a Snakemake command line.

Snakemake parses ``--configfile`` itself, before the workflow runs, and reports a YAML syntax error
as "Config file is not valid JSON or YAML" without the file or the line. ``envs/run`` calls this
module before ``snakemake`` so that the user sees ``error: FILE (line L, column C): ...`` instead;
the grid's content is then validated by the workflow itself (``benchmarks/grids/grid.py``).

    python -m benchmarks.grids.preflight snakemake -n --configfile benchmarks/grids/mine.yaml
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.errors import InputError, run_cli

OPTIONS = ("--configfile", "--configfiles")


def configfiles(argv: Sequence[str]) -> list[Path]:
    """The files given to ``--configfile`` / ``--configfiles`` (also as ``--configfile=F``)."""
    files, taking = [], False
    for arg in argv:
        if any(arg.startswith(opt + "=") for opt in OPTIONS):
            files.append(Path(arg.split("=", 1)[1]))
            taking = False
        elif arg in OPTIONS:
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking and arg.endswith((".yaml", ".yml", ".json")):
            files.append(Path(arg))
    return files


def check(path: Path) -> None:
    import yaml

    if not path.is_file():
        raise InputError("config file not found", path=path)
    try:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path=path, where=where) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for path in configfiles(argv):
        check(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
