"""Record a run's default results into every method's ``metafile.yml`` (its ``default:`` block).

    python -m analysis.metafile_record --results results/default \\
        --source "fresh-clone all at <commit> (<date>)" [--this-host] [--dry-run]

Why a tool: the recorded numbers are what the accuracy tier (``tests/test_method_accuracy.py``)
holds every later run to, and they are only reproducible on the kind of CPU that produced them
(``benchmarks/training/host_info.py``). A researcher on another machine re-records them from their
own ``all`` instead of editing nine files by hand; the numbers and tolerances come from the
run's ``tables/gains.csv`` by the one rule of ``analysis.method_metafile.tolerance_for``.

Per method package, the rows are every gains row of that method (AP and dAP), and for
``baseline`` every paired baseline (``AP_base``) once per detector and setting. The host is read
from the run's cells (``metrics.json``'s ``host``; all must agree); cells written before the host
was recorded need ``--this-host``, which states that the run was made on this machine. Only the
``default:`` block (the file's last) is rewritten; the rest of each file is kept byte for byte.
Nothing is written unless every metafile can be.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from analysis.method_metafile import load_metafile, tolerance_for
from benchmarks.atomic import atomic_open
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, open_utf8, run_cli
from benchmarks.training.host_info import describe, host_info

METHODS = Path(__file__).resolve().parents[1] / "benchmarks" / "methods"
KEY = ("detector", "noise", "rate")
GAINS_COLUMNS = ("method", "detector", "noise", "rate", "n", "AP", "AP_std", "AP_base", "AP_base_std", "dAP", "dAP_std")


def _num(row: dict, column: str, where: str) -> float:
    try:
        x = float(row[column])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: column {column!r} is missing or not a number ({row.get(column)!r})") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: column {column!r} is {x}")
    return x


def _stat(mean: float, std: float) -> dict:
    return {"mean": round(mean, 2), "std": round(std, 2), "tolerance": tolerance_for(std)}


def results_for(method: str, gains: list[dict], source: str = "gains.csv") -> list[dict]:
    """The ``default.results`` rows of ``method`` from a gains table's rows, sorted by detector and setting."""
    rows: dict[tuple, dict] = {}
    for i, g in enumerate(gains):
        where = f"{source} row {i + 2}"
        if method != "baseline" and g.get("method") != method:
            continue
        key = (g["detector"], g["noise"], _num(g, "rate", where))
        n = _num(g, "n", where)
        if not n.is_integer() or n < 1:
            raise InputError(f"{where}: column 'n' must be a positive whole number of seeds, got {g['n']!r}")
        n = int(n)
        if method == "baseline":
            row = {"n": n, "AP": _stat(_num(g, "AP_base", where), _num(g, "AP_base_std", where))}
            if key in rows and rows[key] != row:
                raise InputError(f"{where}: paired baseline {key} differs from an earlier row of the same setting")
        else:
            if key in rows:
                raise InputError(f"{where}: {method} on {key} appears twice")
            row = {
                "n": n,
                "AP": _stat(_num(g, "AP", where), _num(g, "AP_std", where)),
                "dAP": _stat(_num(g, "dAP", where), _num(g, "dAP_std", where)),
            }
        rows[key] = row
    return [dict(zip(KEY, k), **rows[k]) for k in sorted(rows, key=lambda k: (k[0], k[1], k[2]))]


def _flow(value) -> str:
    """A YAML flow mapping in the metafiles' one-line style (JSON scalars are YAML scalars)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer() and value == 0:
        return "0"
    return json.dumps(value)


def default_block(source: str, host: dict, results: list[dict]) -> str:
    """The text of a metafile's ``default:`` block."""
    lines = ["default:", f"  source: {json.dumps(source)}", f"  host: {_flow(host)}", "  results:"]
    lines += [f"    - {_flow(r)}" for r in results]
    return "\n".join(lines) + "\n"


def replace_default(text: str, block: str, path: Path) -> str:
    """``text`` with its last top-level block, which must be ``default:``, replaced by ``block``."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("default:")]
    if len(starts) != 1:
        raise InputError(f"{path}: expected one top-level 'default:' block, found {len(starts)}")
    tail = lines[starts[0] + 1 :]
    if any(line[:1] not in ("", " ", "\n", "#") for line in tail):
        raise InputError(f"{path}: 'default:' must be the file's last top-level block")
    return "".join(lines[: starts[0]]) + block


def run_host(results: Path, this_host: bool) -> dict:
    """The host every cell of ``results`` was trained on (``metrics.json``'s ``host``)."""
    seen: dict[str, dict] = {}
    missing = []
    for m in sorted((results / "runs").glob("**/metrics.json")):
        record = read_json(m)
        if not isinstance(record, dict):
            raise InputError("not a JSON object of a cell's metrics", path=m)
        host = record.get("host")
        if host is None:
            missing.append(m)
        else:
            seen.setdefault(json.dumps(host, sort_keys=True), host)
    here = host_info()
    if len(seen) > 1:
        raise InputError(f"{results}: cells were trained on {len(seen)} hosts: " + "; ".join(map(describe, seen.values())))  # fmt: skip
    if missing and not this_host:
        raise InputError(
            f"{results}: {len(missing)} cells record no host (e.g. {missing[0]}); if the run was made on this "
            f"machine ({describe(here)}), say so with --this-host"
        )
    if seen:
        host = next(iter(seen.values()))
        if missing and host != here:
            raise InputError(f"{results}: the cells that record a host name {describe(host)}, not this machine")
        return host
    return here


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m analysis.metafile_record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--results", type=Path, required=True, help="the run's results directory (results/default)")
    p.add_argument("--source", required=True, help="which run measured it: commit, date, command")
    p.add_argument("--this-host", action="store_true", help="the run was made on this machine (cells without a host)")
    p.add_argument("--methods-dir", type=Path, default=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--dry-run", action="store_true", help="print the new blocks, write nothing")
    args = p.parse_args(argv)
    gains_path = args.results / "tables" / "gains.csv"
    if not gains_path.is_file():
        raise InputError(f"{gains_path}: missing (run `snakemake --cores 2 {gains_path}` first)")
    metafiles = sorted(args.methods_dir.glob("*/metafile.yml"))
    if not metafiles:
        raise InputError(f"no <method>/metafile.yml under --methods-dir {args.methods_dir}")
    with open_utf8(gains_path, newline="") as f:
        reader = csv.DictReader(f)
        lacking = [c for c in GAINS_COLUMNS if c not in (reader.fieldnames or [])]
        if lacking:
            raise InputError(f"lacks the columns {lacking} (rule method_gains writes it)", path=gains_path)
        gains = list(reader)
    host = run_host(args.results, args.this_host)
    new = {}
    for path in metafiles:
        meta = load_metafile(path)
        results = results_for(meta["method"], gains, str(gains_path))
        if not results:
            raise InputError(f"{gains_path}: no row for method {meta['method']!r} ({path} needs at least one)")
        new[path] = replace_default(path.read_text(), default_block(args.source, host, results), path)
    with tempfile.TemporaryDirectory() as tmp:  # every new file must load before any is written
        for path, text in new.items():
            trial = Path(tmp) / path.parent.name / path.name
            trial.parent.mkdir()
            trial.write_text(text)
            load_metafile(trial)
    for path, text in new.items():
        if args.dry_run:
            print(f"# {path}\n{text[text.index('default:') :]}")
            continue
        with atomic_open(path) as f:
            f.write(text)
        print(f"[metafile_record] {path}: {text.count(chr(10) + '    - ')} results from {gains_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
