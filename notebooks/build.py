"""Write the report notebooks from ``analysis.notebook_specs`` (run after changing a spec).

    python notebooks/build.py            # (re)write notebooks/*.ipynb
    python notebooks/build.py --check    # exit 1 if a committed notebook differs from what would be written

Why generated: the notebooks are thin and alike (a papermill ``parameters`` cell, then calls into
``analysis``); writing them from the spec registry keeps them reproducible and reviewable as code,
and they are committed without outputs (papermill fills the copies under results/<grid>/notebooks/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from analysis.notebook_specs import NOTEBOOKS, NotebookSpec  # noqa: E402

PARAMETERS = '# Parameters (papermill overrides them): the grid name and its results_dir\ngrid = "default"\nresults_dir = "results"'
SETUP = """import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from IPython.display import HTML

from analysis import claims, paper_tables, reproduction
from analysis import report_html as R
from analysis.notebook_specs import BY_NAME

spec = BY_NAME[{name!r}]
ctx = reproduction.load_context(results_dir, grid)
display(Markdown(f"Grid `{{grid}}` under `{{results_dir}}`: {{len(ctx.cells)}} finished cells."))


def show(fig, empty):
    \"\"\"Display a figure inline (or say why there is none) and close it.\"\"\"
    if fig is None:
        display(Markdown(f"**not run**: {{empty}}"))
    else:
        display(R.figure_image(fig))
        plt.close(fig)"""

COMPARE = """frame = reproduction.compare(ctx, spec.paper, spec.tables){filter}
display(Markdown("### Published numbers by reproduction status"))
display(R.style_frame(R.status_counts(frame)))
display(Markdown("### The paper's tables, in the paper's layout, with their figures"))
figures = []
fig = R.plot_comparison(frame, title=spec.title)
if fig is not None:
    figures.append(("reproduced vs published (own dataset only)", R.figure_png(fig)))
    plt.close(fig)
for path in R.spec_figures(ctx, spec):
    figures.append((path.stem, R.figure_file_png(path)))
display(HTML(paper_tables.report_html(frame, spec.paper, list(spec.tables), name=spec.name, figures=figures,
                                      no_figure="no number reproduced on the paper's dataset to plot")))"""

REPRODUCED = """methods = list(spec.methods)
if spec.method_module:  # ablation variants: grid entries whose module is spec.method_module
    methods += [m for m, e in ctx.methods.items() if (e or {}).get("method", m) == spec.method_module and m not in methods]
table = reproduction.reproduced_grid(ctx, methods)
display(Markdown(f"### Reproduced AP (points) for methods {methods}"))
if table.empty:
    display(Markdown("**not run**: the grid has no finished cell of these methods."))
else:
    display(R.style_frame(table))
show(R.plot_reproduced(table), "no finished cell of these methods")"""

TRANSITION = """display(Markdown("### Transition epochs per cell and seed (noisy-label probes; empty = no transition within the schedule)"))
if ctx.transitions.empty:
    display(Markdown("**not run**: no transition table (the grid has no probes, or the analysis has not run)."))
else:
    display(R.style_frame(ctx.transitions, floats="{:.0f}"))"""

TIDE = """tide_csv = ctx.root / "tide" / "tide_cells.csv"
cells = pd.read_csv(tide_csv) if tide_csv.is_file() else pd.DataFrame()
display(Markdown("### TIDE dAP per error type (the paper's Fig. 4 prints no numbers: reproduced only)"))
show(R.plot_tide(cells, spec.methods) if not cells.empty else None, "no TIDE results for these methods")"""

PROBE = """long = R.probe_frame(ctx, spec.columns, spec.methods, spec.detectors)
display(Markdown(f"### Per-epoch {' / '.join(spec.columns)} from probe.csv (written by the methods' hooks)"))
show(R.plot_probe_columns(long), f"no probe.csv of methods {list(spec.methods)} has a column {list(spec.columns)}")"""

CLAIMS = """from analysis import claims_table, claims_view

claims_csv = ctx.root / "tables" / "claims.csv"
if claims_csv.is_file():
    table, where = claims_table.read_table(claims_csv), "`tables/claims.csv` (the DAG's claims table)"
else:
    table, where = claims.evaluate(ctx), "the cells (no `tables/claims.csv` yet)"
display(Markdown(
    f"### Headline claims: published vs reproduced contrast\\nFrom {where}. d = A - B per pair (same dataset, "
    f"detector, setting, seed, schedule); holds = mean d > 0 with a one-sided paired t-test p < {claims.ALPHA}; "
    "sign test beside it; 'n<2' = not testable; 'none printed' = the paper states the claim without a number."
))
own, stand_in = table[~table["stand_in"]], table[table["stand_in"]]
display(claims_view.style_claims(own))
show(claims_view.plot_claims(own, title="own dataset"), "no claim has reproduced pairs on the paper's dataset")
if len(stand_in):
    display(Markdown(
        "### Stand-in claims (synthetic data in place of the paper's dataset; never counted)\\n"
        "The direction of each contrast on the synthetic set, to show the machinery; not evidence about the paper."
    ))
    display(claims_view.style_claims(stand_in))
    show(claims_view.plot_claims(stand_in, title="stand-in (synthetic)"), "")"""


def cells_for(spec: NotebookSpec) -> list[str]:
    if spec.kind == "claims":
        return [CLAIMS]
    out = []
    if spec.tables:
        filt = f'\nframe = frame[frame["dataset"] == {spec.extra["dataset"]!r}]' if "dataset" in spec.extra else ""
        out.append(COMPARE.format(filter=filt))
    extra = {"reproduced": REPRODUCED, "transition": TRANSITION, "tide": TIDE, "probe_curve": PROBE}.get(spec.kind)
    if extra:
        out.append(extra)
    return out


def notebook(spec: NotebookSpec) -> nbformat.NotebookNode:
    nb = new_notebook()
    head = f"# {spec.title}\n\n{spec.description}".rstrip()
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell(head), params, new_code_cell(SETUP.format(name=spec.name))]
    nb.cells += [new_code_cell(src) for src in cells_for(spec)]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{spec.name}-{i}"  # stable ids: rebuilding gives identical files
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def render(spec: NotebookSpec) -> str:
    return nbformat.writes(notebook(spec)) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only compare with the committed notebooks")
    p.add_argument("--out-dir", default=str(HERE))
    args = p.parse_args(argv)
    stale = []
    for spec in NOTEBOOKS:
        path = Path(args.out_dir) / f"{spec.name}.ipynb"
        text = render(spec)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale notebooks (run python notebooks/build.py): {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
