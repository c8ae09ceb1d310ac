"""Paper-shaped tables: a compare() frame laid out as the paper prints the table.

Why: the long format (one row per published number) is right for a CSV and wrong for a reader --
the ELDET transition table is 78 long rows where the paper has a 13 x 4 grid. Here each paper table
keeps its own rows and columns; each cell holds the published number and the reproduced mean +- std
(n) under it, coloured by whether the published value lies in the reproduced 95 % interval. Caveats
are listed once under the table (numbered, the cells carry the number). Stand-in values (synthetic
data in place of the paper's dataset) never enter this view: :func:`paper_table_html` with
``stand_in=True`` lays them out in the same shape in a section of their own, without the published
numbers.

Layout of a table: the column axis is ``metric`` when the table prints several metrics, else the
noise setting, else the ablation ``setting`` (:data:`COLUMN_AXIS` overrides it where the paper
differs); the rows are the other key columns that vary within the table, in the paper's order.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import pandas as pd

from analysis import reproduction

#: Key columns of a published number, in the order a row label reads them.
ROW_KEYS = ("dataset", "detector", "student_backbone", "teacher", "teacher_backbone", "method", "setting",
            "noise_rate", "schedule", "epochs", "metric")  # fmt: skip
#: (paper, table) -> the column axis where the generic rule does not give the paper's layout.
COLUMN_AXIS = {
    ("eldet", "rebuttal: early-learning termination epochs"): "setting",  # loc / cls / difference
}
#: Row keys left out where the other keys already tell the rows apart (BCKD's teacher columns
#: repeat the method; a table's schedule is printed per row only where it differs within a method).
REDUNDANT = ("teacher", "teacher_backbone", "schedule")
LABELS = {"noise_rate": "noise", "student_backbone": "backbone", "teacher_backbone": "teacher backbone"}
CSS = """
table.paper { border-collapse: collapse; margin: 0.4em 0 0.2em; font-size: 0.92em; }
table.paper th, table.paper td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
table.paper th { background: #f2f2f2; }
table.paper td .pub { font-weight: 600; } table.paper td .rep { color: #333; font-size: 0.92em; }
td.inside { background: #e3f4e6; } td.outside { background: #fbe3e1; } td.untested { background: #fff3dc; }
td.notrun .rep, td.suite .rep { color: #888; font-style: italic; } td.standin { background: #eef1f8; }
p.legend { font-size: 0.85em; color: #555; } ol.caveats { font-size: 0.85em; color: #444; }
div.side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
div.side div.figures { max-width: 46em; } div.side img { max-width: 100%; }
figcaption { font-size: 0.85em; color: #555; }
"""
LEGEND = ("<p class='legend'>Each cell: <b>published</b>, then reproduced mean ± std (n seeds). "
          "<span style='background:#e3f4e6'>green</span>: published inside the reproduced 95 % t-interval; "
          "<span style='background:#fbe3e1'>red</span>: outside; <span style='background:#fff3dc'>amber</span>: "
          "reproduced with n &lt; 2 (no interval); grey text: not run / outside the suite / not measured.</p>")  # fmt: skip


def _noise_rate(noise, rate) -> str:
    if not noise and pd.isna(rate):
        return ""
    if pd.isna(rate):
        return str(noise)
    return f"{noise} {float(rate):g}" if noise else f"{float(rate):g}"


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.copy()
    f["noise_rate"] = [_noise_rate(n, r) for n, r in zip(f["noise"].fillna(""), f["rate"])]
    for col in ROW_KEYS:
        f[col] = f[col].map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
    return f


def layout(frame: pd.DataFrame, paper: str, table: str) -> tuple[str, list[str]]:
    """(column axis, row key columns) of one paper table's rows of a compare() frame."""
    f = _prepared(frame)
    varying = [c for c in ROW_KEYS if f[c].nunique() > 1]
    col = COLUMN_AXIS.get((paper, table))
    if col is None:
        col = next((c for c in ("metric", "noise_rate", "setting") if c in varying), "method")
    rows = [c for c in varying if c != col]
    for k in REDUNDANT:  # a teacher's name repeats what the method says: drop it when rows stay distinct
        rest = [c for c in rows if c != k]
        if k in rows and rest and f.groupby([*rest, col]).size().max() == 1:
            rows = rest
    return col, rows


def _cell_class(r: dict) -> str:
    status = r["status"]
    if status == reproduction.STAND_IN:
        return "standin"
    if status == "reproduced":
        if r["inside_ci"] is True:
            return "inside"
        if r["inside_ci"] is False:
            return "outside"
        return "untested"
    return "suite" if status.startswith("outside suite") else "notrun"


def _value_text(r: dict) -> str:
    std = "" if pd.isna(r["std"]) else f" ± {r['std']:.2f}"
    return f"{r['mean']:.2f}{std} ({int(r['n'])})"


#: Metrics printed as whole numbers or with their own decimals (epochs, counts, MB, minutes).
_PLAIN = frozenset({"epoch", "positive_cases", "memory_mb", "train_minutes", "epochs_to_40AP", "params_m", "gflops"})


def published_text(r: dict) -> str:
    """The published value as printed: 49.0 stays 49.0 (AP points), epochs stay whole (4, +4.75)."""
    v = float(r["published"])
    return f"{v:g}" if r["metric"] in _PLAIN else str(v)


def _status_short(status: str) -> str:
    for head in ("outside suite", "not measured"):
        if status.startswith(head):
            return head
    return status


def paper_table_html(frame: pd.DataFrame, paper: str, table: str, *, stand_in: bool = False) -> str:
    """One paper table (its rows of a compare() frame) as an HTML table in the paper's layout.

    ``stand_in=False``: published and reproduced, stand-in values shown as "not run" (they are
    apart); ``stand_in=True``: only the stand-in values, no published number ('' if there are none).
    """
    rows = frame[(frame["paper"] == paper) & (frame["table"] == table)]
    if stand_in:
        rows = rows[rows["status"] == reproduction.STAND_IN]
    if rows.empty:
        return ""
    col, row_keys = layout(frame[(frame["paper"] == paper) & (frame["table"] == table)], paper, table)
    f = _prepared(rows)
    caveats: list[str] = []
    esc = html.escape
    cols = list(dict.fromkeys(f[col]))
    labels = list(dict.fromkeys(tuple(r[k] for k in row_keys) for r in f.to_dict("records")))
    cells: dict[tuple, list[dict]] = {}
    for r in f.to_dict("records"):
        cells.setdefault((tuple(r[k] for k in row_keys), r[col]), []).append(r)
    head = "".join(f"<th>{esc(LABELS.get(k, k))}</th>" for k in row_keys)
    head += "".join(f"<th>{esc(c) or '—'}</th>" for c in cols)
    out = [f"<table class='paper'><tr>{head}</tr>"]
    for label in labels:
        tds = "".join(f"<td>{esc(v)}</td>" for v in label)
        for c in cols:
            recs = cells.get((label, c), [])
            if not recs:
                tds += "<td></td>"
                continue
            r = recs[0]
            marks = ""
            if not stand_in:
                for cav in [x for x in str(r.get("caveat") or "").split("; ") if x and not x.startswith("stand-in")]:
                    if cav not in caveats:
                        caveats.append(cav)
                    marks += f"<sup>{caveats.index(cav) + 1}</sup>"
            if stand_in:
                body, cls = f"<div class='rep'>{esc(_value_text(r))}</div>", "standin"
            else:
                shown = dict(r, status="not run") if r["status"] == reproduction.STAND_IN else r
                cls = _cell_class(shown)
                rep = _value_text(shown) if shown["status"] == "reproduced" else _status_short(shown["status"])
                body = f"<div class='pub'>{published_text(r)}{marks}</div><div class='rep'>{esc(rep)}</div>"
            title = esc(r["status"], quote=True)
            tds += f"<td class='{cls}' title='{title}'>{body}</td>"
        out.append(f"<tr>{tds}</tr>")
    out.append("</table>")
    if caveats:
        out.append("<ol class='caveats'>" + "".join(f"<li>{esc(c)}</li>" for c in caveats) + "</ol>")
    return "\n".join(out)


def csv_download(frame: pd.DataFrame, filename: str) -> str:
    """A link that downloads ``frame`` as CSV from a data URI (no server, no network)."""
    data = base64.b64encode(frame.to_csv(index=False).encode("utf-8")).decode("ascii")
    return (f"<p><a download='{html.escape(filename, quote=True)}' href='data:text/csv;base64,{data}'>"
            f"Download the long-format table ({len(frame)} rows, CSV)</a></p>")  # fmt: skip


def report_html(
    frame: pd.DataFrame,
    paper: str,
    tables: list[str],
    *,
    name: str = "report",
    figures: Sequence[tuple[str, str]] = (),
    no_figure: str = "",
) -> str:
    """Every table of a report in the paper's layout with its figures beside it (``(caption, PNG
    data URI)`` pairs; ``no_figure`` says why there is none), stand-in sections apart, the CSV link."""
    parts = [f"<style>{CSS}</style>", LEGEND, "<div class='side'><div class='tables'>"]
    stand = []
    for table in tables:
        body = paper_table_html(frame, paper, table)
        if body:
            parts += [f"<h4>{html.escape(table)}</h4>", body]
    parts.append("</div><div class='figures'>")
    for caption, uri in figures:
        parts.append(f"<figure><img src='{uri}' alt='{html.escape(caption, quote=True)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    if not figures and no_figure:
        parts.append(f"<p class='legend'><b>not run</b>: {html.escape(no_figure)}</p>")
    parts.append("</div></div>")
    for table in tables:
        apart = paper_table_html(frame, paper, table, stand_in=True)
        if apart:
            stand += [f"<h4>{html.escape(table)} (stand-in values)</h4>", apart]
    if stand:
        parts += [
            "<h3>Stand-in results (synthetic data, not the paper's dataset)</h3>",
            "<p class='legend'>These cells ran on the grid's synthetic set in place of the paper's dataset: they "
            "show the machinery and reproduce no published number (no published value beside them, no interval "
            "check, not in the figure, not counted).</p>",
            *stand,
        ]
    parts.append(csv_download(frame, f"{name}.csv"))
    return "\n".join(parts)


__all__ = ["COLUMN_AXIS", "csv_download", "layout", "paper_table_html", "report_html"]
