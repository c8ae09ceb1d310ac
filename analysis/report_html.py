"""Rendering of the reports: styled tables and seaborn figures for the notebooks, self-contained HTML.

Why here and not in the notebooks: the notebooks stay thin (a parameters cell and calls), and what
makes a report readable offline -- "not run" shown as text, figures as inline PNG, no script or
style loaded from a CDN -- is tested code.

* :func:`comparison_table` / :func:`style_comparison`: the published-vs-reproduced frame of
  :func:`analysis.reproduction.compare` as a readable table ("12.3 ± 0.4 (n=3)", or the status).
* :func:`plot_comparison`, :func:`plot_reproduced`, :func:`plot_tide`, :func:`plot_probe_columns`:
  seaborn figures (``None`` when there is nothing to plot, so the notebook prints "not run").
* :func:`export_html`: an executed notebook -> HTML with nbconvert's lab template, images embedded
  as data URIs, code hidden, and the template's CDN ``<script src>`` tags (MathJax, require.js:
  the reports use neither) removed; :func:`network_refs` lists anything a page would still load
  from the network (the tests assert it is empty).
* :func:`build_index`: ``index.html`` linking every report, with per paper table the counts of
  published numbers, those the suite can reproduce, reproduced, and inside the reproduced CI.

CLI::

    python -m analysis.report_html html --notebook NB.ipynb --out NB.html
    python -m analysis.report_html index --results-dir results --grid default --out index.html
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import (
    claims_table,
    claims_view,
    index_glance,
    memorization,
    plot_style,  # noqa: F401  (selects the Agg backend before pyplot)
    reproduction,
)
from analysis.method_gains import host_note
from analysis.notebook_specs import NOTEBOOKS, NotebookSpec
from benchmarks.atomic import write_text
from benchmarks.errors import InputError, run_cli

NOT_RUN = "not run"


# ---------------------------------------------------------------------------------- tables
def _num(v: float, spec: str = ".2f") -> str:
    return "" if v is None or pd.isna(v) else format(float(v), spec)


def reproduced_text(row: dict) -> str:
    """'mean ± std (n=k)' for reproduced rows, else the status ("not run", "outside suite: ...")."""
    if row["status"] != "reproduced":
        return row["status"]
    return _mean_text(row)


def _inside(v) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return "—"


def split_stand_in(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows on the paper's own dataset or not run, rows measured on a synthetic stand-in)."""
    if frame.empty:
        return frame, frame
    stand = frame["status"] == reproduction.STAND_IN
    return frame[~stand], frame[stand]


def stand_in_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Stand-in rows of a compare() frame: the paper row they stand for and the synthetic value --
    no published number beside it, no diff, no interval (they reproduce nothing)."""
    cols = ["table", "paper dataset", "grid dataset", "detector", "method", "noise", "rate", "metric", "setting",
            "stand-in value (mean ± std, n)"]  # fmt: skip
    _, stand = split_stand_in(frame)
    if stand.empty:
        return pd.DataFrame(columns=cols)
    out = stand[["table", "dataset", "grid_dataset", "detector", "method", "noise", "rate", "metric", "setting"]].copy()
    out.columns = cols[:-1]
    out["rate"] = stand["rate"].map(lambda r: "" if pd.isna(r) else f"{r:g}")
    out[cols[-1]] = [_mean_text(r) for r in stand.to_dict("records")]
    return out[cols].reset_index(drop=True)


def _mean_text(row: dict) -> str:
    std = "" if pd.isna(row["std"]) else f" ± {row['std']:.2f}"
    return f"{row['mean']:.2f}{std} (n={int(row['n'])})"


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The display form of a compare() frame: one row per published number (stand-in rows left out:
    :func:`stand_in_table` shows them apart)."""
    cols = ["table", "dataset", "detector", "method", "noise", "rate", "metric", "setting", "published",
            "reproduced", "diff", "95% CI", "published in CI", "caveat"]  # fmt: skip
    frame, _ = split_stand_in(frame)
    if frame.empty:
        return pd.DataFrame(columns=cols)
    out = frame[["table", "dataset", "detector", "method", "noise", "rate", "metric", "setting", "published"]].copy()
    out["rate"] = frame["rate"].map(lambda r: "" if pd.isna(r) else f"{r:g}")
    recs = frame.to_dict("records")
    out["reproduced"] = [reproduced_text(r) for r in recs]
    out["diff"] = frame["diff"].map(_num)
    out["95% CI"] = [f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if not pd.isna(r["ci_low"]) else "" for r in recs]
    out["published in CI"] = frame["inside_ci"].map(_inside)
    out["caveat"] = frame["caveat"].fillna("")
    return out[cols].reset_index(drop=True)


def _status_colour(value: str) -> str:
    if value.startswith("outside suite"):
        return "color: #888"
    if value in (NOT_RUN, "no value (the cells ran)") or value.startswith("not measured"):
        return "color: #a60; font-style: italic"
    return ""


def style_comparison(frame: pd.DataFrame):
    """A pandas Styler of :func:`comparison_table` (status rows greyed, CI verdict coloured)."""
    table = comparison_table(frame)
    styler = table.style.hide(axis="index").format({"published": "{:g}"})
    styler = styler.map(_status_colour, subset=["reproduced"])
    styler = styler.map(lambda v: {"yes": "color: #070", "no": "color: #b00"}.get(v, ""), subset=["published in CI"])
    return styler


def style_frame(frame: pd.DataFrame, floats: str = "{:.2f}"):
    """Generic Styler: floats formatted, NaN shown empty, no index."""
    num = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return frame.style.hide(axis="index").format({c: floats for c in num}, na_rep="")


def status_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """How many published numbers are in each status (a quick overview above the table)."""
    if frame.empty:
        return pd.DataFrame(columns=["status", "count"])
    s = frame["status"].str.replace(r"^(outside suite|not measured): .*", r"\1", regex=True)
    return s.value_counts().rename_axis("status").reset_index(name="count")


# --------------------------------------------------------------------------------- figures
def _plt():
    import matplotlib.pyplot as plt
    import seaborn as sns

    plot_style.apply_style()
    return plt, sns


def plot_comparison(frame: pd.DataFrame, *, title: str = ""):
    """Reproduced mean (with CI where n >= 2) against published, one panel per metric; None if empty.

    Only rows reproduced on the paper's own dataset: a stand-in value is never a point here."""
    rep = frame[frame["status"] == "reproduced"]
    if rep.empty:
        return None
    plt, sns = _plt()
    metrics = list(dict.fromkeys(rep["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        d = rep[rep["metric"] == metric]
        sns.scatterplot(data=d, x="published", y="mean", hue="method", style="detector", ax=ax, s=60)
        err = d.dropna(subset=["ci_low"])
        if not err.empty:
            ax.errorbar(err["published"], err["mean"], yerr=[err["mean"] - err["ci_low"], err["ci_high"] - err["mean"]],
                        fmt="none", ecolor="grey", lw=1)  # fmt: skip
        lo = min(d["published"].min(), d["mean"].min())
        hi = max(d["published"].max(), d["mean"].max())
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1)
        ax.set(title=metric, xlabel="published", ylabel="reproduced (mean over seeds)")
        if ax.get_legend() is not None and ax is not axes[0][-1]:
            ax.get_legend().remove()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reproduced(grid: pd.DataFrame, *, metric: str = "AP"):
    """Bar chart of reproduced mean per detector x method, one panel per (dataset, setting); None if empty."""
    if grid.empty:
        return None
    plt, sns = _plt()
    g = grid.assign(setting=grid["noise"] + "-" + grid["rate"].map(lambda r: f"{r:g}"))
    panels = list(dict.fromkeys(zip(g["dataset"], g["setting"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, (ds, setting) in zip(axes[0], panels):
        d = g[(g["dataset"] == ds) & (g["setting"] == setting)]
        sns.barplot(data=d, x="detector", y="mean", hue="method", ax=ax)
        ax.set(title=f"{ds} {setting}", ylabel=f"{metric} (mean over seeds)", xlabel="")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_tide(tide_cells: pd.DataFrame, methods: Sequence[str] | None = None):
    """TIDE dAP per error type (mean over cells) per method and setting; None if no cells."""
    errors = [c for c in ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss") if c in tide_cells.columns]
    d = tide_cells if methods is None else tide_cells[tide_cells["method"].isin(list(methods))]
    if d.empty or not errors:
        return None
    plt, sns = _plt()
    long = d.melt(id_vars=["dataset", "noise", "rate", "detector", "method", "seed"], value_vars=errors,
                  var_name="error", value_name="dAP")  # fmt: skip
    long["setting"] = long["noise"] + "-" + long["rate"].map(lambda r: f"{float(r):g}")
    grid = sns.catplot(data=long, x="error", y="dAP", hue="method", col="setting", kind="bar", height=3.4, aspect=1.3)
    grid.set_axis_labels("TIDE error type", "dAP (AP points)")
    return grid.figure


def probe_frame(
    ctx: reproduction.Context,
    columns: Sequence[str],
    methods: Sequence[str] | None = None,
    detectors: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long frame (cell identity, epoch, column, value) of every one of ``columns`` in the probe.csv
    of each cell of ``methods`` x ``detectors``; a probe.csv without one of them is an error (a
    report must not plot another quantity than the one it names). Cells with no probe.csv (probes
    off) are skipped."""
    rows = []
    keys = ("dataset", "noise", "rate", "detector", "method", "seed")
    for cell in ctx.cells.to_dict("records"):
        if methods is not None and cell["method"] not in methods:
            continue
        if detectors and cell["detector"] not in detectors:
            continue
        path = ctx.root / "runs" / cell["cell"] / "probe.csv"
        if not path.is_file():
            continue
        probe = pd.read_csv(path)
        missing = [c for c in columns if c not in probe.columns]
        if missing:
            raise InputError(f"probe.csv has no column(s) {missing} (it has {list(probe.columns)})", path=path)
        for col in columns:
            for epoch, value in zip(probe["epoch"], pd.to_numeric(probe[col], errors="coerce")):
                if not pd.isna(value):
                    rows.append({**{k: cell[k] for k in keys}, "epoch": epoch, "column": col, "value": value})
    return pd.DataFrame(rows, columns=[*keys, "epoch", "column", "value"])


def plot_probe_columns(long: pd.DataFrame):
    """Per-epoch probe quantity, one line per method (band over seeds), a panel per column x detector; None if empty."""
    if long.empty:
        return None
    plt, sns = _plt()
    long = long.assign(setting=long["noise"] + "-" + long["rate"].map(lambda r: f"{r:g}"))
    grid = sns.relplot(data=long, x="epoch", y="value", hue="method", style="setting", col="detector", row="column",
                       kind="line", height=3.2, aspect=1.2, errorbar=("ci", 95),
                       facet_kws={"sharey": "row"})  # fmt: skip
    grid.set_axis_labels("epoch", "")
    grid.set_titles("{row_name} | {col_name}")
    return grid.figure


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=plot_style.DPI, bbox_inches="tight")
    return buf.getvalue()


def figure_png(fig) -> str:
    """A figure as a base64 PNG data URI (for pages built outside a notebook)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def figure_file_png(path: str | Path) -> str:
    """A PNG file (an analysis-stage figure) as a data URI, so the report stays self-contained."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def spec_figures(ctx: reproduction.Context, spec: NotebookSpec) -> list[Path]:
    """The analysis figures (PNG) a report shows beside its tables: its spec's globs under the grid root."""
    return [p for pattern in spec.figures for p in sorted(ctx.root.glob(pattern))]


def figure_image(fig):
    """A figure as an IPython PNG image: displays inline whatever matplotlib backend the kernel has
    (plot_style selects Agg, under which ``display(fig)`` would show only the figure's text repr)."""
    from IPython.display import Image

    return Image(data=png_bytes(fig), format="png")


# ------------------------------------------------------------------------------------ HTML
_CDN_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I)
_NETWORK = re.compile(
    r"<(?:script|img|iframe|link|source|video|audio|embed)\b[^>]*\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)"
    r"|url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)"
    r"|@import\s+[\"']((?:https?:)?//[^\"']+)",
    re.I,
)


def network_refs(text: str) -> list[str]:
    """Every URL a browser would fetch to display ``text`` (scripts, styles, images, fonts, imports).

    Plain hyperlinks (``<a href>``) are not loads and are not listed.
    """
    return sorted({next(g for g in m.groups() if g) for m in _NETWORK.finditer(text)})


def strip_network(text: str) -> str:
    """Remove CDN script tags (nbconvert's MathJax and require.js loaders)."""
    return _CDN_SCRIPT.sub("", text)


def export_html(notebook: str | Path, out: str | Path, *, title: str | None = None) -> Path:
    """Executed notebook -> self-contained HTML (inline images, no code, nothing loaded from the network)."""
    import nbformat
    from nbconvert import HTMLExporter

    path = Path(notebook)
    if not path.is_file():
        raise InputError("notebook not found", path=path)
    nb = nbformat.read(path, as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab", embed_images=True, exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)  # fmt: skip
    body, _ = exporter.from_notebook_node(nb)
    body = strip_network(body)
    left = network_refs(body)
    if left:
        raise InputError(f"rendered HTML still loads from the network: {left[:3]}", path=out)
    write_text(out, body)
    return Path(out)


_INDEX_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; } th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f0f0f0; } td.n { text-align: right; } .muted { color: #777; } h2 { margin-top: 1.5em; }
"""


def index_rows(ctx: reproduction.Context, specs: Sequence[NotebookSpec] = NOTEBOOKS) -> pd.DataFrame:
    """Per report and paper table: published, in suite, reproduced, testable (n >= 2), inside CI."""
    frames = []
    for spec in specs:
        if not spec.tables or spec.paper == "all":
            continue
        summary = reproduction.summary(reproduction.compare(ctx, spec.paper, spec.tables))
        frames.append(summary.assign(report=spec.name))
    if not frames:
        return pd.DataFrame(columns=["report", "paper", "table", "published", "in_suite", "reproduced", "testable", "inside_ci"])  # fmt: skip
    return pd.concat(frames, ignore_index=True)[["report", "paper", "table", "published", "in_suite", "reproduced", "testable", "inside_ci"]]  # fmt: skip


GAINS_SHOWN = [
    ("noise", "noise"), ("rate", "rate"), ("detector", "detector"), ("method", "method"), ("n", "seeds"),
    ("AP", "AP"), ("AP_base", "baseline AP"), ("dAP", "dAP"), ("dAP_std", "dAP std"), ("wins", "wins"),
    ("p_t", "p (paired t)"), ("IS", "IS"), ("IS_base", "IS baseline"),
    ("consistency", "consistency"), ("consistency_base", "consistency baseline"),
]  # fmt: skip


def gains_section(gains_csv: Path) -> list[str]:
    """The grid's own result: each method against its paired baseline (tables/gains.csv), if present."""
    if not gains_csv.is_file():
        return []
    frame = pd.read_csv(gains_csv, dtype=str).fillna("")
    esc = html.escape
    parts = [
        "<h2>Methods against their paired baseline (this grid)</h2>",
        "<p>AP on clean val in points, means over seeds; dAP = method - baseline with the same dataset, noise, "
        "detector and seed; wins = seeds where the method is ahead; p = two-sided paired t-test; IS (lower) and "
        "matching consistency (higher) = more stable DETR matching. Source: <code>tables/gains.csv</code>. "
        + esc(host_note(list(frame["host"]) if "host" in frame else []))
        + "</p>",
        "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for _, h in GAINS_SHOWN) + "</tr>",
    ]
    for r in frame.to_dict("records"):
        cells = []
        for col, _ in GAINS_SHOWN:
            v = r.get(col, "")
            try:
                v = (
                    f"{float(v):.3g}"
                    if col in ("p_t", "IS", "IS_base", "consistency", "consistency_base", "rate")
                    else (f"{float(v):.2f}" if col.startswith(("AP", "dAP")) else v)
                )
            except ValueError:
                pass
            cells.append(f"<td>{esc(str(v))}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return parts


def early_learning_section(root: Path) -> list[str]:
    """Does this grid show the phenomenon? The pretraining runs, then per noisy baseline the CA / GTBA
    transition epochs and the clean-label peak-and-drop (tables/{pretraining,transition,memorization}.csv)."""
    esc = html.escape
    parts: list[str] = []
    pre = root / "tables" / "pretraining.csv"
    if pre.is_file():
        frame = pd.read_csv(pre, dtype=str).fillna("")
        parts += ["<h2>Pretraining stage</h2>",
                  "<p>Each run on its source set's clean val (AP in points). Source: <code>tables/pretraining.csv</code>.</p>",
                  "<table><tr><th>pretrained detector</th><th>used by</th><th>source set</th><th>AP</th><th>AP50</th>"
                  "<th>epochs</th></tr>"]  # fmt: skip
        for r in frame.to_dict("records"):
            parts.append(f"<tr><td>{esc(r['detector'])}</td><td>{esc(r['used_by'])}</td><td>{esc(r['source'])}</td>"
                         f"<td class='n'>{100 * float(r['AP']):.1f}</td><td class='n'>{100 * float(r['AP50']):.1f}</td>"
                         f"<td class='n'>{esc(r['epochs'])}</td></tr>")  # fmt: skip
        parts.append("</table>")
    mem, trans = root / "tables" / "memorization.csv", root / "tables" / "transition.csv"
    if not mem.is_file():
        return parts
    m = pd.read_csv(mem)
    m = m[m["method"] == "baseline"]

    def shown_epoch(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:g}"

    epochs = {
        (r["dataset"], r["detector"], r["noise"], r["rate"], r["seed"]): (shown_epoch(r["CA"]), shown_epoch(r["GTBA"]))
        for r in reproduction.read_transitions(trans).to_dict("records")
        if r["method"] == "baseline"
    }
    shown = int(m["memorized"].astype(bool).sum())
    records = m.to_dict("records")
    tasks = [memorization.read_task_columns(r) for r in records]
    per_task = memorization.task_summary(tasks)
    parts += ["<h2>Early learning and memorization (noisy baselines)</h2>",
              f"<p>Memorization (train-set AP against the clean labels peaks before the last epoch and ends at least 10 % "
              f"below the peak while the AP against the noisy labels still rises) in <b>{shown} of {len(m)}</b> noisy "
              f"baseline cells; the same test per task on the CA / GTBA curves: {esc(per_task)} (columns CA / GTBA "
              "clean: drop from the clean-label peak, its epoch, * = memorized); CA / GTBA transition epochs "
              "(-: no transition found, the reason is in "
              "<code>tables/transition.csv</code>). Sources: <code>tables/memorization.csv</code>, "
              "<code>tables/transition.csv</code>.</p>",
              "<table><tr><th>detector</th><th>noise</th><th>seed</th><th>clean-label AP: peak (epoch) &rarr; last</th>"
              "<th>drop</th><th>noisy-label AP: at peak &rarr; last</th><th>memorization</th><th>CA clean</th>"
              "<th>GTBA clean</th><th>CA epochs</th><th>GTBA epochs</th></tr>"]  # fmt: skip
    for r, task in zip(records, tasks):
        ca, gt = epochs.get((r["dataset"], r["detector"], r["noise"], float(r["rate"]), int(r["seed"])), ("", ""))
        parts.append(
            f"<tr><td>{esc(r['detector'])}</td><td>{esc(r['noise'])}-{float(r['rate']):g}</td><td class='n'>{r['seed']}</td>"
            f"<td class='n'>{100 * r['ap_clean_peak']:.1f} ({r['peak_epoch']}/{r['epochs']}) &rarr; {100 * r['ap_clean_last']:.1f}</td>"
            f"<td class='n'>{100 * r['drop']:.0f} %</td>"
            f"<td class='n'>{100 * r['ap_noisy_at_peak']:.1f} &rarr; {100 * r['ap_noisy_last']:.1f}</td>"
            f"<td>{'yes' if bool(r['memorized']) else 'no'}</td><td>{esc(memorization.task_cell(task, 'ca'))}</td>"
            f"<td>{esc(memorization.task_cell(task, 'gtba'))}</td><td>{esc(str(ca))}</td><td>{esc(str(gt))}</td></tr>"
        )  # fmt: skip
    parts.append("</table>")
    return parts


def build_index(results_dir: str | Path, grid: str, out: str | Path, *, reports_dir: str | Path | None = None) -> Path:
    """Write ``index.html``: links to every report and the per-table reproduction counts."""
    ctx = reproduction.load_context(results_dir, grid)
    reports_dir = Path(reports_dir) if reports_dir is not None else Path(out).parent
    counts = index_rows(ctx)
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Reports: grid {esc(grid)}</title><style>{_INDEX_CSS}{index_glance.CSS}</style></head><body>",
        f"<h1>Reproduction reports: grid <code>{esc(grid)}</code></h1>",
        f"<p>{len(ctx.cells)} finished cells under <code>{esc(str(ctx.root / 'runs'))}</code>. "
        "Counts per paper table: <b>published</b> numbers, those the suite can train (<b>in suite</b>), "
        "<b>reproduced</b> (at least one seed on the paper's own dataset; synthetic stand-ins never count), <b>testable</b> (n &ge; 2 seeds) and <b>within tolerance</b> "
        "(published value inside the reproduced 95 % t-interval).</p>",
    ]
    if any(ctx.cells["dataset"].map(lambda d: ctx.datasets.get(d) == "synthetic")):
        parts.append("<p class='muted'>This grid trains on a synthetic stand-in dataset: its numbers show the "
                     "machinery and are not comparable with the papers'.</p>")  # fmt: skip
    claims_csv = ctx.root / "tables" / "claims.csv"
    claim_table = claims_table.read_table(claims_csv) if claims_csv.is_file() else None
    parts += index_glance.glance_section(ctx.root, counts, claim_table, reports_dir)
    parts.append("<h2>Reports</h2><table><tr><th>report</th><th>paper</th><th>what</th><th>tables</th>"
                 "<th>published</th><th>in suite</th><th>reproduced</th><th>testable</th><th>within tolerance</th></tr>")  # fmt: skip
    for spec in NOTEBOOKS:
        exists = (reports_dir / f"{spec.name}.html").is_file()
        link = f"<a href='{esc(spec.name)}.html'>{esc(spec.name)}</a>" if exists else f"{esc(spec.name)} <span class='muted'>(missing)</span>"  # fmt: skip
        sub = counts[counts["report"] == spec.name]
        nums = "".join(f"<td class='n'>{int(sub[c].sum())}</td>" for c in ("published", "in_suite", "reproduced", "testable", "inside_ci")) if len(sub) else "<td colspan='5' class='muted'>—</td>"  # fmt: skip
        parts.append(f"<tr><td>{link}</td><td>{esc(spec.paper)}</td><td>{esc(spec.title)}</td><td class='n'>{len(sub)}</td>{nums}</tr>")  # fmt: skip
    parts.append("</table><h2>Per paper table</h2><table><tr><th>paper</th><th>table</th><th>report</th>"
                 "<th>published</th><th>in suite</th><th>reproduced</th><th>testable</th><th>within tolerance</th></tr>")  # fmt: skip
    for r in counts.to_dict("records"):
        nums = "".join(f"<td class='n'>{int(r[c])}</td>" for c in ("published", "in_suite", "reproduced", "testable", "inside_ci"))  # fmt: skip
        parts.append(f"<tr><td>{esc(r['paper'])}</td><td>{esc(r['table'])}</td><td><a href='{esc(r['report'])}.html'>{esc(r['report'])}</a></td>{nums}</tr>")  # fmt: skip
    parts.append("</table>")
    parts += claims_view.index_section(claim_table)
    parts += gains_section(ctx.root / "tables" / "gains.csv")
    parts += early_learning_section(ctx.root)
    parts.append("</body></html>\n")
    text = "\n".join(parts)
    assert not network_refs(text)
    write_text(out, text)
    return Path(out)


# ------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.report_html", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("html", help="executed notebook -> self-contained HTML")
    h.add_argument("--notebook", required=True)
    h.add_argument("--out", required=True)
    h.add_argument("--title")
    i = sub.add_parser("index", help="index.html of a grid's reports")
    i.add_argument("--results-dir", required=True, help="the grid's results_dir (parent of results/<grid>)")
    i.add_argument("--grid", required=True)
    i.add_argument("--out", required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "html":
        export_html(args.notebook, args.out, title=args.title)
    else:
        build_index(args.results_dir, args.grid, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

__all__ = [
    "NOT_RUN",
    "build_index",
    "comparison_table",
    "export_html",
    "figure_image",
    "figure_png",
    "network_refs",
    "plot_comparison",
    "plot_probe_columns",
    "plot_reproduced",
    "plot_tide",
    "probe_frame",
    "strip_network",
    "style_comparison",
    "style_frame",
]
