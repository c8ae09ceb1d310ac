"""Method gains: every method's accuracy (and DETR matching stability) against its paired baseline.

The question a reader of issues 6-8 asks first is "did the method beat the baseline, and by more
than seed noise?". For each method cell the *paired* baseline is the baseline cell with the same
dataset, noise, rate, detector and seed (same initialisation, data order and noisy labels), and
d = method - baseline per seed. Per (dataset, noise, rate, detector, method) the table gives:

* ``AP`` / ``AP50`` of both sides, mean and standard deviation over seeds (COCO, clean val, points);
* ``dAP`` mean and std, the number of seeds the method won (``wins`` of ``n``) and a two-sided
  paired t-test p-value (``p_t``; NaN for n < 2). With 3 seeds a p-value only separates large,
  consistent effects from noise; ``wins`` says the direction seed by seed;
* for DETR cells, from ``probe.csv``: ``IS`` = mean over epochs of DN-DETR's instability (changed
  query-object assignments between consecutive epochs, lower is more stable) and
  ``consistency`` = mean over epochs of OD-DETR's matching consistency (fraction of objects the
  online model and the EMA matcher assign to the same query, higher is more stable), method and
  baseline side by side (NaN where the column is absent).

Cells with no paired baseline are listed with NaN baseline columns, so nothing is silently dropped.

CLI::

    python -m analysis.method_gains --cells results/G/cells.json --out results/G/tables/gains.csv \\
        [--markdown results/G/tables/gains.md]
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from analysis.cell_files import IDENTITY_KEYS, cells_of, identity
from analysis.table_io import check_table_outputs, rows_to_csv, table_parser, write_tables
from analysis.table_io import fmt as _fmt
from benchmarks.data.coco import read_json
from benchmarks.errors import InputError, run_cli
from benchmarks.training.host_info import describe

BASELINE = "baseline"
KEY = ("dataset", "noise", "rate", "detector")
PROBE_MEANS = {"IS": "IS", "consistency": "match_consistency"}  # table column -> probe.csv column
COLUMNS = [
    "dataset", "noise", "rate", "detector", "method", "n", "seeds",
    "AP", "AP_std", "AP_base", "AP_base_std", "dAP", "dAP_std", "wins", "p_t",
    "AP50", "AP50_base", "dAP50",
    "IS", "IS_base", "consistency", "consistency_base", "host",
]  # fmt: skip


def _probe_means(probe_file: Path) -> dict[str, float]:
    """Mean over epochs of each matching-stability column of ``probe.csv`` (NaN when absent/empty)."""
    out = {name: float("nan") for name in PROBE_MEANS}
    if not probe_file.is_file():
        return out
    with open(probe_file, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for name, col in PROBE_MEANS.items():
        vals = []
        for line, r in enumerate(rows, 2):
            if r.get(col) in (None, ""):
                continue
            try:
                vals.append(float(r[col]))
            except ValueError:
                raise InputError(
                    f"column {col!r}: {r[col]!r} is not a number", path=probe_file, where=f"line {line}"
                ) from None
        if vals:
            out[name] = float(np.mean(vals))
    return out


def check_metrics(m: dict, ref, path: Path) -> None:
    """A cell's metrics.json must be the cell the manifest lists there (a copied or hand-edited file
    would pair one baseline twice) and hold AP / AP50 as fractions in [0, 1]."""
    try:
        ident = identity(m)
    except (TypeError, ValueError) as exc:
        raise InputError(f"malformed cell identity ({exc})", path=path) from None
    for key in IDENTITY_KEYS:
        if ident[key] != getattr(ref.cell, key):
            raise InputError(
                f"says {key} {m[key]!r}, but it is the file of cell {ref.id} ({key} {getattr(ref.cell, key)!r})",
                path=path,
            )
    for key in ("AP", "AP50"):
        v = m[key]
        if type(v) not in (int, float) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
            raise InputError(f"{key} must be a fraction in [0, 1], got {v!r}", path=path)


def collect_cells(source) -> list[dict]:
    """One record per cell of ``source`` (a cells.json or CellRefs, see analysis/cell_files.py), AP in points."""
    cells = []
    for ref in cells_of(source):
        metrics_file = ref.metrics_file
        m = read_json(metrics_file)
        missing = [k for k in (*KEY, "method", "seed", "AP", "AP50") if k not in m]
        if missing:
            raise InputError(f"metrics.json lacks {missing}", path=metrics_file)
        check_metrics(m, ref, metrics_file)
        cells.append(
            {
                **{k: m[k] for k in KEY},
                "method": m["method"],
                "seed": int(m["seed"]),
                "AP": 100.0 * float(m["AP"]),
                "AP50": 100.0 * float(m["AP50"]),
                **_probe_means(metrics_file.with_name("probe.csv")),
                "host": describe(m["host"]) if isinstance(m.get("host"), dict) else None,
            }
        )
    return cells


def host_note(hosts: list[str], unknown: int = 0) -> str:
    """Where the cells were trained (``hosts``: described hosts, ``unknown``: cells recording none).
    Results on CPU repeat bit for bit only on the same kind of processor
    (benchmarks/training/host_info.py), so the tables say which one."""
    hosts = sorted({h for h in hosts if h})
    if not hosts:
        return ""
    text = "Trained on " + "; ".join(hosts) + (f" ({unknown} cells record no host)" if unknown else "")
    return text + (
        ". Another processor's floating-point kernels give other numbers, by more than the seed spread "
        "where the seeds share one pretraining run."
    )


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def _std(xs: list[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else float("nan")


def paired_t(d: list[float]) -> float:
    """Two-sided paired t-test p-value of mean(d) = 0 (NaN below 2 pairs or with zero spread)."""
    if len(d) < 2 or float(np.std(d)) == 0.0:
        return float("nan")
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def build_table(cells: list[dict]) -> list[dict]:
    base = {(*(c[k] for k in KEY), c["seed"]): c for c in cells if c["method"] == BASELINE}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        if c["method"] != BASELINE:
            groups[(*(c[k] for k in KEY), c["method"])].append(c)
    rows = []
    for key, cs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        cs = sorted(cs, key=lambda c: c["seed"])
        bs = [base.get((*key[:4], c["seed"])) for c in cs]
        paired = [(c, b) for c, b in zip(cs, bs) if b is not None]
        d = [c["AP"] - b["AP"] for c, b in paired]
        d50 = [c["AP50"] - b["AP50"] for c, b in paired]
        row = {
            **dict(zip((*KEY, "method"), key)),
            "n": len(cs),
            "seeds": " ".join(str(c["seed"]) for c in cs),
            "AP": _mean([c["AP"] for c in cs]),
            "AP_std": _std([c["AP"] for c in cs]),
            "AP_base": _mean([b["AP"] for _, b in paired]),
            "AP_base_std": _std([b["AP"] for _, b in paired]),
            "dAP": _mean(d),
            "dAP_std": _std(d),
            "wins": f"{sum(x > 0 for x in d)}/{len(d)}",
            "p_t": paired_t(d),
            "AP50": _mean([c["AP50"] for c in cs]),
            "AP50_base": _mean([b["AP50"] for _, b in paired]),
            "dAP50": _mean(d50),
        }
        for name in PROBE_MEANS:
            row[name] = _mean([c[name] for c in cs])
            row[f"{name}_base"] = _mean([b[name] for _, b in paired])
        row["host"] = "; ".join(sorted({x["host"] for x in (*cs, *(b for _, b in paired)) if x.get("host")}))
        rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    return rows_to_csv(rows, COLUMNS)


def _pm(mean: float, std: float) -> str:
    return _fmt(mean) + ("" if math.isnan(std) else f" ± {std:.2f}")


def to_markdown(rows: list[dict], note: str = "") -> str:
    lines = [
        "# Method gains over the paired baseline",
        "",
        "AP on clean val (points), mean ± std over seeds; dAP = method - baseline with the same "
        "dataset, noise, detector and seed; wins = seeds where the method is ahead; p = two-sided "
        "paired t-test. IS (lower = more stable) and consistency (higher = more stable) are means "
        "over epochs of the DETR matching-stability probes.",
        "",
        *([note, ""] if note else []),
        "| setting | detector | method | n | AP | baseline AP | dAP | wins | p | dAP50 | IS (base) | consistency (base) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        setting = r["noise"] if r["noise"] == "clean" else f"{r['noise']}-{r['rate']:g}"
        stab = {
            name: ("" if math.isnan(r[name]) else f"{r[name]:.3g} ({_fmt(r[name + '_base'], '.3g')})")
            for name in PROBE_MEANS
        }
        lines.append(
            f"| {setting} | {r['detector']} | {r['method']} | {r['n']} | {_pm(r['AP'], r['AP_std'])} | "
            f"{_pm(r['AP_base'], r['AP_base_std'])} | {_pm(r['dAP'], r['dAP_std'])} | {r['wins']} | "
            f"{_fmt(r['p_t'], '.3f')} | {_fmt(r['dAP50'])} | {stab['IS']} | {stab['consistency']} |"
        )
    if not rows:
        lines.append("| (no method cells) | | | | | | | | | | | |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = table_parser("python -m analysis.method_gains", __doc__).parse_args(argv)
    check_table_outputs(args)
    cells = collect_cells(args.cells)
    rows = build_table(cells)
    note = host_note([c["host"] for c in cells], sum(1 for c in cells if not c["host"]))
    write_tables(args, to_csv(rows), to_markdown(rows, note))
    print(f"[method_gains] {len(rows)} method rows -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
