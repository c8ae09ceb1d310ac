"""The index at a glance: one block per paper -- claim verdicts, published numbers reproduced within
tolerance, the key figures as thumbnails, and links to the paper's reports.

Why: counts per table answer "how much ran", not "does the paper hold up here"; a reader opening the
index first wants, per paper, the verdicts and the figures. Thumbnails are embedded (data URIs), so
the page stays one self-contained file that loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import claims
from analysis.notebook_specs import NOTEBOOKS, NotebookSpec

PAPER_TITLES = {  # as the paper texts in papers/ print them
    "eldet": "ELDET: Early-Learning Distillation with Noisy Labels for Object Detection (NeurIPS discussion)",
    "bckd": "BCKD: Bridging Cross-task Protocol Inconsistency for Distillation in Dense Object Detection (ICCV 2023)",
    "sssd": "SSSD: Smooth and Stepwise Self-Distillation for Object Detection (ICIP 2023)",
    "od_detr": "OD-DETR: Online Distillation for Stabilizing Training of Detection Transformer (IJCAI 2024)",
    "dn_detr": "DN-DETR: Accelerate DETR Training by Introducing Query DeNoising (TPAMI)",
}
#: Per paper, the figures (globs under results/<grid>/) that show its headline results.
KEY_FIGURES = {
    "eldet": ("figures/transition/summary__*.png", "tide/noise_shift__*.png"),
    "bckd": ("tide/methods__*.png",),
    "sssd": (),
    "od_detr": ("figures/matching/*.png",),
    "dn_detr": ("figures/matching/*.png",),
}
THUMB_WIDTH = 360
CSS = """
div.paper { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; margin: 0.8em 0; }
div.paper h3 { margin: 0.2em 0 0.4em; } div.thumbs img { margin: 4px 8px 4px 0; border: 1px solid #eee; }
span.yes { color: #1a7f37; font-weight: bold; } span.no { color: #b00020; font-weight: bold; }
span.nr { color: #888; }
"""


def key_figures(root: Path, paper: str, limit: int = 3) -> list[Path]:
    """The first ``limit`` key figures of ``paper`` that exist under the grid's results root."""
    found: list[Path] = []
    for pattern in KEY_FIGURES.get(paper, ()):
        found += sorted(root.glob(pattern))
    return found[:limit]


def thumbnail_uri(path: Path, width: int = THUMB_WIDTH) -> str:
    """A PNG as a downscaled data URI (Pillow, which matplotlib depends on)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGBA")
        if img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))))
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def paper_block(
    paper: str,
    root: Path,
    counts: pd.DataFrame,
    claim_table: pd.DataFrame | None,
    reports_dir: Path,
    specs: Sequence[NotebookSpec] = NOTEBOOKS,
) -> str:
    """One paper's block of the index (HTML)."""
    esc = html.escape
    parts = [f"<div class='paper'><h3>{esc(PAPER_TITLES.get(paper, paper))}</h3>"]
    if claim_table is None:
        parts.append("<p>Claims: <span class='nr'>not run (no tables/claims.csv)</span></p>")
    else:
        own = claim_table[(claim_table["paper"] == paper) & ~claim_table["stand_in"]]
        vc = claims.verdict_counts(claim_table)
        row = vc[vc["paper"] == paper]
        h, nh, nr = (int(row[c].iloc[0]) for c in ("holding", "not_holding", "not_run")) if len(row) else (0, 0, 0)
        names = ", ".join(
            f"<span class='{'yes' if str(v).startswith('yes') else 'nr' if v == 'not run' else 'no'}' "
            f"title='{esc(str(s), quote=True)}'>{esc(c)}</span>"
            for c, v, s in zip(own["claim"], own["holds"], own["statement"])
        )
        names = f"<br><small>{names}</small>" if names and (h or nh) else ""
        parts.append(f"<p>Claims on the paper's dataset: <span class='yes'>{h} holding</span> · "
                     f"<span class='no'>{nh} not holding</span> · <span class='nr'>{nr} not run</span>{names}</p>")  # fmt: skip
        stand = claim_table[(claim_table["paper"] == paper) & claim_table["stand_in"]]
        if len(stand):
            ran = int((stand["n_pairs"].astype(int) > 0).sum())
            if ran:
                parts.append(f"<p class='muted'>{ran} claim(s) ran on the synthetic stand-in (not counted).</p>")
    sub = counts[counts["paper"] == paper]
    if len(sub):
        pub, rep, ins = (int(sub[c].sum()) for c in ("published", "reproduced", "inside_ci"))
        parts.append(f"<p>Published numbers: {pub}; reproduced on the paper's dataset: {rep}; "
                     f"within tolerance (published inside the reproduced 95 % interval): <b>{ins}</b>.</p>")  # fmt: skip
    figs = key_figures(root, paper)
    if figs:
        parts.append("<div class='thumbs'>")
        for fig in figs:
            rel = Path("..") / fig.relative_to(root)
            parts.append(f"<a href='{esc(rel.as_posix(), quote=True)}'><img alt='{esc(fig.stem, quote=True)}' "
                         f"src='{thumbnail_uri(fig)}' width='{THUMB_WIDTH // 2}'></a>")  # fmt: skip
        parts.append("</div>")
    else:
        parts.append("<p class='muted'>Key figures: not run.</p>")
    links = []
    for spec in specs:
        if spec.paper != paper:
            continue
        if (reports_dir / f"{spec.name}.html").is_file():
            links.append(f"<a href='{esc(spec.name)}.html'>{esc(spec.title)}</a>")
        else:
            links.append(f"{esc(spec.title)} <span class='muted'>(missing)</span>")
    parts.append("<p>Reports: " + " · ".join(links) + "</p></div>")
    return "\n".join(parts)


def glance_section(root: Path, counts: pd.DataFrame, claim_table: pd.DataFrame | None, reports_dir: Path) -> list[str]:
    """The per-paper blocks, in the order of :data:`PAPER_TITLES` (the page's style sheet adds :data:`CSS`)."""
    out = ["<h2>At a glance</h2>"]
    out += [paper_block(p, root, counts, claim_table, reports_dir) for p in PAPER_TITLES]
    return out


__all__ = ["KEY_FIGURES", "PAPER_TITLES", "glance_section", "key_figures", "paper_block", "thumbnail_uri"]
