"""One look for every figure of the suite: seaborn theme, palette, sizes, and atomic PNG + SVG output.

Import this module before pyplot is used elsewhere: it selects the non-interactive Agg backend, so
plotting works on cluster nodes without a display. Figures are saved twice, PNG (for the HTML
reports, 150 dpi) and SVG (for papers), each written atomically through
:func:`benchmarks.atomic.atomic_path`; the SVG carries no date and a fixed hash salt, so re-running
a plot on the same data gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmarks.atomic import atomic_path  # noqa: E402

DPI = 150
FONT_SCALE = 1.0
PANEL_SIZE = (4.6, 3.4)  # inches per panel; a 2-panel cell figure is ~9 x 4 in

# colour-blind-safe seaborn palette; one fixed colour per quantity across all figures
_CB = sns.color_palette("colorblind")
PALETTE = {
    "CA": _CB[0],  # localization (class-agnostic AP): blue
    "GTBA": _CB[1],  # classification (GT-box-allocated AP): orange
    "AP": _CB[2],  # green
    "diff": _CB[7],  # grey
}
LABELS_STYLE = {  # probe against which labels -> line style / marker fill
    "noisy": {"linestyle": "-", "marker": "o", "fillstyle": "full"},
    "clean": {"linestyle": "--", "marker": "s", "fillstyle": "none"},
}
METRIC_NAMES = {
    "CA": "CA (localization)",
    "GTBA": "GTBA (classification)",
    "AP": "AP",
}


def apply_style() -> None:
    """Set the suite's seaborn theme (white grid, paper-readable fonts, no top/right spines)."""
    sns.set_theme(
        context="notebook",
        style="whitegrid",
        font_scale=FONT_SCALE,
        rc={
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "figure.titlesize": 12,
            "lines.linewidth": 1.6,
            "lines.markersize": 5,
            "svg.hashsalt": "noisy-det-repro",
            "svg.fonttype": "path",
        },
    )


def savefig(fig: plt.Figure, base: str | Path, *, close: bool = True) -> list[Path]:
    """Write ``base.png`` and ``base.svg`` atomically; return both paths (the figure is closed)."""
    base = Path(base)
    paths = []
    for ext in (".png", ".svg"):
        dest = base.with_name(base.name + ext)
        metadata = {"Date": None} if ext == ".svg" else {"Software": None}
        with atomic_path(dest) as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight", metadata=metadata)
        paths.append(dest)
    if close:
        plt.close(fig)
    return paths
