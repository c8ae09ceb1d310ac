"""Method cost table: training time and peak memory of every cell, as ratios to its baseline.

Like the ELDET discussion's training-cost table (RetinaNet on VOC: baseline 2.51 h, ELDET 4.23 h,
ORSOD 3.96 h, ADELE 4.11 h on one A100), computed from the cells' ``cost.json``:

* **time** = ``train_seconds`` (the training loop across resumes, per-epoch probes and method hooks
  included, final evaluation excluded: what a method adds to training);
* **memory** = ``peak_gpu_mb`` on a GPU, else ``peak_host_mb`` (process peak RSS; ``memory_kind``
  says which);
* **ratios** are to the *baseline* cell with the same dataset, noise, rate, detector and seed (the
  paired cell: same initialisation and data order), so machine load cancels only as far as the two
  cells ran under the same conditions; ``device`` is listed to compare like with like.

Rows: ``level = cell`` (one per cell), ``level = mean`` (per dataset/noise/rate/detector/method over
seeds: mean time, memory and ratios, n), then ``level = published``: the papers' own cost rows from
``analysis/references`` (metrics ``hours`` and ``memory_mb``) with their ratios to the baseline row of
the same table, dataset and detector. The Markdown has one table per level.

CLI::

    python -m analysis.cost_table --cells results/G/cells.json --out results/G/tables/cost.csv \\
        [--markdown results/G/tables/cost.md]
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Sequence

from analysis.cell_files import cells_of
from analysis.table_io import check_table_outputs, rows_to_csv, table_parser, write_tables
from analysis.table_io import fmt as _fmt
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli

BASELINE = "baseline"
KEY = ("dataset", "noise", "rate", "detector")
COLUMNS = [
    "level", "dataset", "noise", "rate", "detector", "method", "seed", "n", "device", "memory_kind",
    "train_seconds", "train_hours", "memory_mb", "time_ratio", "memory_ratio", "source",
]  # fmt: skip


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def collect_cells(source) -> list[dict]:
    """One record per cell of ``source`` (a cells.json or CellRefs) that has a ``cost.json``."""
    cells = []
    for ref in cells_of(source):
        metrics_file, cost_file = ref.metrics_file, ref.file("cost.json")
        if not cost_file.is_file():
            continue
        m, c = read_json(metrics_file), read_json(cost_file)
        missing = [k for k in (*KEY, "method", "seed") if k not in m]
        if missing:
            raise InputError(f"metrics.json lacks {missing}", path=metrics_file)
        gpu = c.get("peak_gpu_mb")
        cells.append(
            {
                **{k: m[k] for k in KEY},
                "method": m["method"],
                "seed": int(m["seed"]),
                "device": c.get("device", ""),
                "memory_kind": "gpu" if gpu is not None else "host",
                "train_seconds": _num(c.get("train_seconds")),
                "memory_mb": _num(gpu if gpu is not None else c.get("peak_host_mb")),
                "source": f"{ref.id}/cost.json",
            }
        )
    return cells


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) and b > 0 else float("nan")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def with_ratios(cells: list[dict]) -> list[dict]:
    """Add time/memory ratios to the paired baseline cell (NaN when there is none)."""
    base = {(*(c[k] for k in KEY), c["seed"]): c for c in cells if c["method"] == BASELINE}
    out = []
    for c in cells:
        b = base.get((*(c[k] for k in KEY), c["seed"]))
        out.append(
            {
                **c,
                "level": "cell",
                "n": 1,
                "train_hours": c["train_seconds"] / 3600.0,
                "time_ratio": _ratio(c["train_seconds"], b["train_seconds"]) if b else float("nan"),
                "memory_ratio": _ratio(c["memory_mb"], b["memory_mb"]) if b else float("nan"),
            }
        )
    return out


def summarise(rows: list[dict]) -> list[dict]:
    """Per (dataset, noise, rate, detector, method): means over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(*(r[k] for k in KEY), r["method"])].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: (kv[0][:4], kv[0][4] != BASELINE, kv[0][4])):
        t = _mean([r["train_seconds"] for r in rs])
        out.append(
            {
                **dict(zip((*KEY, "method"), key)),
                "level": "mean",
                "seed": "",
                "n": len(rs),
                "device": ",".join(sorted({r["device"] for r in rs})),
                "memory_kind": ",".join(sorted({r["memory_kind"] for r in rs})),
                "train_seconds": t,
                "train_hours": t / 3600.0,
                "memory_mb": _mean([r["memory_mb"] for r in rs]),
                "time_ratio": _mean([r["time_ratio"] for r in rs]),
                "memory_ratio": _mean([r["memory_ratio"] for r in rs]),
                "source": "",
            }
        )
    return out


def published_rows() -> list[dict]:
    """The papers' cost rows (``hours``, ``memory_mb``) with ratios to their table's baseline row."""
    from analysis.references import load_references

    df = load_references()
    df = df[df["metric"].isin(["hours", "memory_mb"])]
    table: dict[tuple, dict] = defaultdict(dict)
    for r in df.to_dict("records"):
        key = (r["paper"], r["table"], r["dataset"], r["detector"], r["method"])
        table[key][r["metric"]] = float(r["value"])
    out = []
    for (paper, label, dataset, detector, method), v in table.items():
        b = table.get((paper, label, dataset, detector, BASELINE), {})
        hours, mem = v.get("hours", float("nan")), v.get("memory_mb", float("nan"))
        out.append(
            {
                "level": "published",
                "dataset": dataset,
                "noise": "",
                "rate": "",
                "detector": detector,
                "method": method,
                "seed": "",
                "n": "",
                "device": "",
                "memory_kind": "gpu",
                "train_seconds": hours * 3600.0,
                "train_hours": hours,
                "memory_mb": mem,
                "time_ratio": _ratio(hours, b.get("hours", float("nan"))),
                "memory_ratio": _ratio(mem, b.get("memory_mb", float("nan"))),
                "source": f"{paper}: {label}",
            }
        )
    return out


def build_table(source, *, published: bool = True) -> list[dict]:
    cells = with_ratios(collect_cells(source))
    return cells + summarise(cells) + (published_rows() if published else [])


def to_csv(rows: list[dict]) -> str:
    return rows_to_csv(rows, COLUMNS)


def to_markdown(rows: list[dict]) -> str:
    lines = ["# Training cost by method", ""]
    lines.append(
        "Time = training loop (probes and method hooks included); memory = peak GPU memory on a GPU, "
        "else peak host RSS. Ratios are to the baseline cell with the same dataset, noise, detector "
        "and seed; compare only cells run on the same device and load."
    )
    sections = [
        ("mean", "Mean over seeds", ["dataset", "noise", "rate", "detector", "method", "n", "device"]),
        ("cell", "Cells", ["dataset", "noise", "rate", "detector", "method", "seed", "device"]),
        ("published", "Published (papers)", ["source", "dataset", "detector", "method"]),
    ]
    for level, title, ident in sections:
        rs = [r for r in rows if r["level"] == level]
        if not rs:
            continue
        head = [*ident, "time", "memory (MB)", "time ratio", "memory ratio"]
        lines += ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rs:
            time = (
                _fmt(r["train_hours"], ".2f") + " h" if level == "published" else _fmt(r["train_seconds"], ".0f") + " s"
            )
            vals = [str(r[k]) for k in ident] + [
                time,
                _fmt(r["memory_mb"], ".0f"),
                _fmt(r["time_ratio"], ".2f"),
                _fmt(r["memory_ratio"], ".2f"),
            ]
            lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = table_parser("python -m analysis.cost_table", __doc__)
    parser.add_argument("--no-published", action="store_true", help="leave out the papers' cost rows")
    args = parser.parse_args(argv)
    check_table_outputs(args)
    rows = build_table(args.cells, published=not args.no_published)
    write_tables(args, to_csv(rows), to_markdown(rows))
    n = sum(r["level"] == "cell" for r in rows)
    print(f"[cost_table] {n} cells -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
