"""Pretraining-stage table: what each run of the grid's self-made pretraining reached, and who uses it.

    python -m analysis.pretraining_table \\
        --metrics results/G/runs/<source>/clean-0/<det>/baseline/seed0/metrics.json ... \\
        [--used-by retinanet=retinanet,faster_rcnn fcos=fcos,gfl ...] \\
        --out results/G/tables/pretraining.csv [--markdown results/G/tables/pretraining.md]

One row per pretraining run (the DAG hands the runs' ``metrics.json``): the detector, its AP / AP50
on the source set's own clean val split, epochs, training-loop seconds, and the grid detectors that
start from it (``pretraining.shared``). Without these numbers a weak fine-tuned cell could not be
told apart from a weak start.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.atomic import write_text
from benchmarks.errors import InputError, run_cli

COLUMNS = ["detector", "used_by", "source", "AP", "AP50", "epochs", "train_seconds"]


def build_rows(metrics_files: Sequence[str | Path], used_by: dict[str, list[str]]) -> list[dict]:
    rows = []
    for path in metrics_files:
        path = Path(path)
        if not path.is_file():
            raise InputError("pretraining run has no metrics.json (train it first)", path=path)
        rec = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in ("detector", "dataset", "AP", "AP50") if k not in rec]
        if missing:
            raise InputError(f"missing keys {missing}", path=path)
        cost_file = path.parent / "cost.json"
        cost = json.loads(cost_file.read_text(encoding="utf-8")) if cost_file.is_file() else {}
        rows.append(
            {
                "detector": rec["detector"],
                "used_by": " ".join(used_by.get(rec["detector"], [rec["detector"]])),
                "source": rec["dataset"],
                "AP": float(rec["AP"]),
                "AP50": float(rec["AP50"]),
                "epochs": cost.get("epochs", ""),
                "train_seconds": cost.get("train_seconds", ""),
            }
        )
    if not rows:
        raise InputError("no pretraining run given (--metrics)")
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.4f}" if k in ("AP", "AP50") else v) for k, v in r.items()})
    return out.getvalue()


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "# Pretraining stage: each run on its source set's clean val",
        "",
        "| pretrained detector | used by | source set | AP | AP50 | epochs | training loop s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        secs = f"{float(r['train_seconds']):.0f}" if r["train_seconds"] != "" else ""
        lines.append(
            f"| {r['detector']} | {r['used_by']} | {r['source']} | {100 * r['AP']:.1f} | {100 * r['AP50']:.1f} | "
            f"{r['epochs']} | {secs} |"
        )
    return "\n".join(lines) + "\n"


def parse_used_by(items: Sequence[str]) -> dict[str, list[str]]:
    """``DET=A,B`` items (what the workflow passes from ``grid.pretraining_users``) -> a mapping."""
    out = {}
    for item in items:
        det, sep, users = item.partition("=")
        if not sep or not det or not users:
            raise InputError(f"--used-by takes DET=A,B items, got '{item}'")
        out[det] = users.split(",")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.pretraining_table",
        description="AP of every pretraining run on its source set, and the detectors that start from it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--metrics", nargs="+", required=True, help="the pretraining runs' metrics.json files")
    p.add_argument("--used-by", nargs="*", default=[], help="DET=A,B: grid detectors that start from DET's run")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--markdown", default=None, help="also write a Markdown table here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rows = build_rows(args.metrics, parse_used_by(args.used_by))
    write_text(args.out, to_csv(rows))
    if args.markdown:
        write_text(args.markdown, to_markdown(rows))
    print(f"[pretraining] {len(rows)} runs -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
