"""How the claims table reads: a styled table, a verdict figure, and the index's per-paper counts.

Why apart from :mod:`analysis.claims_table`: that module computes and writes the DAG's table; this
one only renders it (summary notebook, index page), so the rendering can change without touching
what the DAG produces.
"""

from __future__ import annotations

import html

import pandas as pd

from analysis import claims, plot_style
from analysis.claims_table import display_table

VERDICT_COLOURS = {"yes": "#1a7f37", "no": "#b00020", "not significant": "#b26a00", "not run": "#888888"}


def verdict_colour(holds: str) -> str:
    """Colour of a verdict: 'yes...' green, 'no...' red, 'not run' grey, else ('not significant', 'n<2') amber."""
    h = str(holds)
    if h.startswith("yes"):
        return VERDICT_COLOURS["yes"]
    if h == "not run":
        return VERDICT_COLOURS["not run"]
    if h == "no" or h.startswith("no ("):
        return VERDICT_COLOURS["no"]
    return VERDICT_COLOURS["not significant"]


def style_claims(table: pd.DataFrame):
    """A left-aligned Styler of the claims (one row per claim), the verdict coloured."""
    disp = display_table(table)
    styler = disp.style.hide(axis="index")
    styler = styler.set_properties(**{"text-align": "left", "vertical-align": "top"})
    styler = styler.set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
    return styler.map(lambda v: f"color: {verdict_colour(v)}; font-weight: bold", subset=["holds"])


def plot_claims(table: pd.DataFrame, *, title: str = ""):
    """Reproduced mean d (bar, +- std) per claim, coloured by verdict, the published contrast as a
    black diamond; legend outside the axes. None when no claim has pairs."""
    have = table[table["n_pairs"].astype(int) > 0]
    if have.empty:
        return None
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plot_style.apply_style()
    have = have.iloc[::-1]  # first claim on top
    y = list(range(len(have)))
    fig, ax = plt.subplots(figsize=(8.5, 0.8 + 0.42 * len(have)))
    colours = [verdict_colour(h) for h in have["holds"]]
    xerr = have["std_diff"].astype(float).fillna(0.0)
    ax.barh(y, have["mean_diff"].astype(float), xerr=xerr, color=colours, alpha=0.85, capsize=3)
    pub = have["published"].astype(float)
    ax.scatter(pub, y, marker="D", color="black", zorder=3, s=28)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y, have["claim"])
    ax.set(xlabel="contrast d = A - B (AP points, epochs, IS or consistency)", title=title)
    handles = [Patch(color=c, label=k) for k, c in VERDICT_COLOURS.items() if k != "not run"]
    handles.append(Line2D([], [], marker="D", color="black", ls="", label="published"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="holds")
    fig.tight_layout()
    return fig


def index_section(table: pd.DataFrame | None) -> list[str]:
    """The index's claims block: per paper holding / not holding / not run (own dataset only), then
    every claim's verdict at a glance; stand-in verdicts listed apart, uncounted."""
    esc = html.escape
    if table is None:
        return ["<h2>Headline claims</h2><p class='muted'>not run: no <code>tables/claims.csv</code>.</p>"]
    counts = claims.verdict_counts(table)
    parts = [
        "<h2>Headline claims</h2>",
        "<p>From <code>tables/claims.csv</code>: a claim holds when the paired contrast is positive with a one-sided "
        f"paired t-test p &lt; {claims.ALPHA}. Counted only on the paper's own dataset.</p>",
        "<table><tr><th>paper</th><th>holding</th><th>not holding</th><th>not run</th></tr>",
    ]
    for r in counts.to_dict("records"):
        parts.append(f"<tr><td>{esc(r['paper'])}</td><td class='n'>{r['holding']}</td>"
                     f"<td class='n'>{r['not_holding']}</td><td class='n'>{r['not_run']}</td></tr>")  # fmt: skip
    parts.append("</table>")
    for label, sub in (("", table[~table["stand_in"]]), (" (stand-in: synthetic data, not counted)", table[table["stand_in"]])):  # fmt: skip
        if sub.empty:
            continue
        parts.append(f"<h3>Claims{esc(label)}</h3><table><tr><th>claim</th><th>paper</th><th>published</th>"
                     "<th>reproduced d</th><th>n</th><th>holds</th></tr>")  # fmt: skip
        for r in display_table(sub).to_dict("records"):
            colour = verdict_colour(r["holds"])
            parts.append(
                f"<tr><td title='{esc(r['statement'])}'>{esc(r['claim'])}</td><td>{esc(r['paper'])}</td>"
                f"<td>{esc(r['published'])}</td><td>{esc(r['mean diff ± std'])}</td><td class='n'>{r['n pairs']}</td>"
                f"<td style='color: {colour}; font-weight: bold'>{esc(str(r['holds']))}</td></tr>"
            )
        parts.append("</table>")
    return parts


__all__ = ["index_section", "plot_claims", "style_claims", "verdict_colour"]
