"""The claims table of a grid: every headline claim, its published number and its verdict here.

A DAG output (``results/<grid>/tables/claims.{csv,md}``, rule ``claims_table``) read by the summary
report and the index, so the verdicts are computed once from exactly the cell files the DAG gives
(no globbing of the runs directory). Columns: claim, paper, statement, dataset (the grid dataset,
marked when it is a synthetic stand-in), published, published source, n pairs, mean diff +- std,
t, p, sign test, holds (:mod:`analysis.claims` has the rules).

CLI::

    python -m analysis.claims_table --cells results/G/cells.json [--probes P1 ...] [--costs C1 ...] \\
        [--transitions results/G/tables/transition.csv] [--metrics M1 M2 ...] \\
        --out results/G/tables/claims.csv [--markdown results/G/tables/claims.md]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import claims, reproduction
from analysis.table_io import rows_to_csv
from benchmarks.atomic import write_text
from benchmarks.errors import InputError, run_cli

DISPLAY = ["claim", "paper", "statement", "dataset", "published", "published source", "n pairs",
           "mean diff ± std", "t", "p", "sign test", "holds"]  # fmt: skip


def context_from_files(
    metrics: Sequence[str | Path] | None = None,
    probes: Sequence[str | Path] = (),
    costs: Sequence[str | Path] | None = None,
    transitions: str | Path | None = None,
    cells_file: str | Path | None = None,
) -> reproduction.Context:
    """A grid context from exactly these files (the DAG's inputs).

    ``cells_file`` is the grid's ``cells.json`` (analysis/cell_files.py): the datasets' sources, the
    method entries and, when ``metrics`` is not given, the cells' metrics.json files.
    """
    from analysis.cell_files import read_manifest

    datasets: dict[str, str] = {}
    methods: dict[str, dict] = {}
    name, root = "", Path(".")
    if cells_file is not None:
        manifest = read_manifest(cells_file)
        datasets, methods = dict(manifest.datasets), dict(manifest.methods)
        name, root = manifest.grid, Path(cells_file).parent
        if metrics is None:
            metrics = [ref.metrics_file for ref in manifest.cells]
    if metrics is None:
        raise InputError("give the cells: --cells results/<grid>/cells.json and/or --metrics files")
    for m in metrics:
        if not Path(m).is_file():
            raise InputError("metrics.json not found", path=m)
    cells = reproduction.cells_from_files(metrics, costs)
    for ds in cells["dataset"].unique():
        datasets.setdefault(ds, ds)
    if transitions is not None and not Path(transitions).is_file():
        raise InputError("transition table not found", path=transitions)
    trans = reproduction.read_transitions(transitions) if transitions is not None else None
    if trans is None:
        trans = pd.DataFrame(columns=reproduction.TRANSITION_COLUMNS)
    probe = reproduction.probe_means(probes, metrics)
    return reproduction.Context(name, root, datasets, cells, trans, methods, probe)


def _num(v, spec: str = ".3g") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(float(v), spec)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The reader's form of an evaluate() frame (or of claims.csv read back): one row per claim."""
    rows = []
    for r in table.to_dict("records"):
        md, sd = r["mean_diff"], r["std_diff"]
        diff = "" if pd.isna(md) else f"{float(md):+.2f}" + ("" if pd.isna(sd) else f" ± {float(sd):.2f}")
        sign = "" if int(r["n_pairs"] or 0) == 0 else f"{int(r['n_pos'])}+ / {int(r['n_neg'])}-"
        if sign and not pd.isna(r["p_sign"]):
            sign += f", p={float(r['p_sign']):.3g}"
        rows.append({
            "claim": r["claim"], "paper": r["paper"], "statement": r["statement"], "dataset": r["dataset"] or "",
            "published": "none printed" if pd.isna(r["published"]) else f"{float(r['published']):+.2f}",
            "published source": r["published_source"], "n pairs": int(r["n_pairs"] or 0), "mean diff ± std": diff,
            "t": _num(r["t"]), "p": _num(r["p_t"]), "sign test": sign, "holds": r["holds"],
        })  # fmt: skip
    return pd.DataFrame(rows, columns=DISPLAY)


def read_table(path: str | Path) -> pd.DataFrame:
    """claims.csv back as an evaluate() frame (numbers as floats, stand_in as bool)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in claims.COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"claims table lacks columns {missing}", path=path)
    for col in ("published", "mean_diff", "std_diff", "t", "p_t", "p_sign"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("n_pairs", "n_pos", "n_neg"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0).astype(int)
    frame["stand_in"] = frame["stand_in"].str.lower() == "true"
    return frame


def _md_rows(frame: pd.DataFrame) -> list[str]:
    disp = display_table(frame)
    out = ["| " + " | ".join(DISPLAY) + " |", "|" + "---|" * len(DISPLAY)]
    for r in disp.to_dict("records"):
        out.append("| " + " | ".join(str(r[c]).replace("|", "/") for c in DISPLAY) + " |")
    return out


def to_markdown(table: pd.DataFrame) -> str:
    """Own-dataset claims, then (if any) the stand-in claims in a section of their own."""
    own = table[~table["stand_in"].astype(bool)]
    stand = table[table["stand_in"].astype(bool)]
    lines = [
        "# Headline claims",
        "",
        f"d = A - B per pair (same dataset, detector, setting, seed, schedule); holds = mean d > 0 with a one-sided "
        f"paired t-test p < {claims.ALPHA} (sign test beside it); 'n<2' = not testable; 'none printed' = the paper "
        "states the claim without a number.",
        "",
        *(_md_rows(own) if len(own) else ["No claim has cells on a paper's own dataset in this grid."]),
    ]
    if len(stand):
        lines += ["", "## Stand-in (synthetic data in place of the paper's dataset; not counted)", "", *_md_rows(stand)]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.claims_table", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", help="results/<grid>/cells.json: the cells, dataset sources and method entries")
    p.add_argument("--metrics", nargs="+", help="the cells' metrics.json files (default: those of --cells)")
    p.add_argument("--probes", nargs="*", default=[], help="the cells' probe.csv files")
    p.add_argument("--costs", nargs="*", help="the cells' cost.json files (trained epochs)")
    p.add_argument("--transitions", help="tables/transition.csv (transition claims)")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--markdown", help="Markdown to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ctx = context_from_files(args.metrics, args.probes, args.costs, args.transitions, args.cells)
    table = claims.evaluate(ctx)
    text = rows_to_csv(table.to_dict("records"), claims.COLUMNS)
    md = to_markdown(table)  # both built before anything is written
    write_text(args.out, text)
    if args.markdown:
        write_text(args.markdown, md)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
