"""Number formatting and CSV text shared by the grid-level tables (cost, gains): NaN prints as an
empty field, so a missing pairing reads as blank rather than as a number."""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections.abc import Sequence

from benchmarks.atomic import check_outputs, write_texts


def fmt(v, spec: str = ".2f") -> str:
    """``v`` formatted with ``spec`` when it is a float ('' for NaN), else ``str(v)``."""
    if isinstance(v, float):
        return "" if math.isnan(v) else format(v, spec)
    return str(v)


def rows_to_csv(rows: list[dict], columns: Sequence[str], spec: str = ".6g") -> str:
    """CSV text of ``rows`` restricted to ``columns`` (missing keys blank), floats as ``spec``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: fmt(r.get(k, ""), spec) for k in columns})
    return buf.getvalue()


def table_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The CLI every grid-level table shares: ``--cells`` in, ``--out`` CSV and optional ``--markdown``."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument(
        "--cells", required=True, help="results/<grid>/cells.json: the cells to read (analysis/cell_files.py)"
    )
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--markdown", help="Markdown to write")
    return p


def check_table_outputs(args: argparse.Namespace) -> None:
    """Before any work: ``--out`` and ``--markdown`` are two files and neither is ``--cells``."""
    check_outputs({"--cells": args.cells}, {"--out": args.out, "--markdown": args.markdown})


def write_tables(args: argparse.Namespace, csv_text: str, markdown_text: str) -> None:
    """Write the CSV and, if asked, the Markdown, all-or-nothing. The CLIs call
    :func:`check_table_outputs` right after parsing, before any work."""
    files = {args.out: csv_text}
    if args.markdown:
        files[args.markdown] = markdown_text
    write_texts(files)
