"""Headless Chromium renders the index and every report of a hand-built results directory offline.

Why a browser: a report can be valid HTML and still fail where it matters (a script error, a
stylesheet or font fetched from a CDN, a thumbnail that does not load). Chromium runs with
``--enable-logging=stderr`` (every console message, errors and uncaught exceptions included, is a
``CONSOLE`` line there; the log does not carry the level, so any message fails), ``--log-net-log``
(every URL request; those issued by a ``file://`` page carry a ``file://`` network isolation key,
the browser's own background traffic does not) and a dead proxy, so nothing leaves the machine.
``test_the_checker_sees_errors_and_requests`` shows the check catches both on a broken page.
Skips where Debian's ``chromium`` is not installed (``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (apt-get install chromium)")

FLAGS = [
    "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0",
    "--virtual-time-budget=3000",
]  # fmt: skip
_CONSOLE = re.compile(r":CONSOLE[^\]]*\]\s*(.*)")


@dataclass
class Page:
    dom: str
    console: list[str]
    requests: list[str]


def render(path: Path, work: Path) -> Page:
    """Load ``path`` in headless Chromium: its DOM after load, console messages, non-file requests."""
    work.mkdir(parents=True, exist_ok=True)
    netlog = work / "net.json"
    res = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}", "--dump-dom",
         path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    console = [m.group(1) for m in map(_CONSOLE.search, res.stderr.splitlines()) if m]
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = sorted({
        e["params"]["url"] for e in log["events"]
        if e["type"] == start and "file://" in e["params"].get("network_isolation_key", "")
        and not e["params"]["url"].startswith(("file:", "data:"))
    })  # fmt: skip
    return Page(res.stdout, console, requests)


def test_the_checker_sees_errors_and_requests(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><p>x</p><img src='http://example.invalid/a.png'>"
        "<link rel='stylesheet' href='https://cdn.invalid/s.css'>"
        "<script>console.error('boom'); notDefined();</script></body></html>"
    )
    page = render(bad, tmp_path / "bad")
    assert page.requests == ["http://example.invalid/a.png", "https://cdn.invalid/s.css"]
    assert any("boom" in m for m in page.console) and any("notDefined is not defined" in m for m in page.console)
    good = tmp_path / "good.html"
    good.write_text("<html><body><table><tr><td>1</td></tr></table></body></html>")
    page = render(good, tmp_path / "good")
    assert page.console == [] and page.requests == [] and "</table>" in page.dom


def test_nbconverts_cdn_loaders_are_seen_and_export_html_drops_them(tmp_path):
    import nbformat
    from nbconvert import HTMLExporter

    from analysis import report_html as R

    out = nbformat.v4.new_output("display_data", data={"text/markdown": "AP $x^2$"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[out])])
    (tmp_path / "nb.ipynb").write_text(nbformat.writes(nb))
    raw, _ = HTMLExporter(template_name="lab", embed_images=True, exclude_input=True).from_notebook_node(nb)
    (tmp_path / "raw.html").write_text(raw)
    loads = render(tmp_path / "raw.html", tmp_path / "raw").requests  # MathJax and require.js from a CDN
    assert loads and all(u.startswith("https://") for u in loads)
    R.export_html(tmp_path / "nb.ipynb", tmp_path / "report.html")
    page = render(tmp_path / "report.html", tmp_path / "report")
    assert page.requests == [] and page.console == [] and "AP" in page.dom


# ------------------------------------------------------------------ a hand-built results directory
def _results(tmp_path: Path) -> Path:
    """Grid 'g': COCO GFL baseline / BCKD and VOC RetinaNet baseline / ELDET (3 seeds, 40 % combined),
    their cells.json, the DAG's claims table and one TIDE figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis import claims_table, reproduction
    from analysis.cell_files import discover, write_manifest

    root = tmp_path / "g"
    specs = [("coco", "clean", 0.0, "gfl", "baseline", 0.40), ("coco", "clean", 0.0, "gfl", "bckd", 0.43),
             ("voc", "combined", 0.4, "retinanet", "baseline", 0.55), ("voc", "combined", 0.4, "retinanet", "eldet", 0.58)]  # fmt: skip
    for ds, noise, rate, det, method, ap in specs:
        for s in range(3):
            cid = f"{ds}/{noise}-{rate:g}/{det}/{method}/seed{s}"
            d = root / "runs" / cid
            d.mkdir(parents=True)
            ident = {"cell": cid, "dataset": ds, "noise": noise, "rate": rate, "detector": det, "method": method,
                     "seed": s}  # fmt: skip
            value = ap + 0.004 * s - 0.003 * (s == 1)
            (d / "metrics.json").write_text(json.dumps({**ident, **{m: value for m in reproduction.AP_METRICS}}))
            (d / "cost.json").write_text(json.dumps({"epochs": 12, "train_seconds": 3600.0, "peak_gpu_mb": None}))
    grid = {"name": "g", "datasets": {"coco": {"source": "coco"}, "voc": {"source": "voc"}}}
    write_manifest(root / "cells.json", discover(root / "runs"), grid=grid)
    metrics = sorted(str(p) for p in (root / "runs").glob("*/*/*/*/*/metrics.json"))
    (root / "tables").mkdir()
    claims_table.main(["--metrics", *metrics, "--costs", *[m.replace("metrics.json", "cost.json") for m in metrics],
                       "--cells", str(root / "cells.json"), "--out", str(root / "tables" / "claims.csv")])  # fmt: skip
    (root / "tide").mkdir()
    fig, ax = plt.subplots(figsize=(4, 3), dpi=60)
    ax.bar([0, 1], [1, 2])
    fig.savefig(root / "tide" / "methods__coco__clean-0.png")
    plt.close(fig)
    return tmp_path


def _executed(name: str, results_dir: Path, grid: str):
    """The notebook with the outputs a kernel would give it, executed in this process (each displayed
    object becomes the MIME bundle IPython's formatter makes of it; stdout a stream output)."""
    import nbformat
    from IPython.core.formatters import DisplayFormatter

    fmt = DisplayFormatter()
    node = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    ns: dict = {}
    for cell in node.cells:
        if cell.cell_type != "code":
            continue
        outputs = []

        def display(obj, *_, _out=outputs, **__):
            data, meta = fmt.format(obj)
            data = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in data.items()}
            _out.append(nbformat.v4.new_output("display_data", data=data, metadata=meta))

        src = cell.source
        if "parameters" in cell.metadata.get("tags", []):
            src += f"\ngrid = {grid!r}\nresults_dir = {str(results_dir)!r}"
        src = src.replace("from IPython.display import Markdown, display", "from IPython.display import Markdown")
        ns["display"] = display
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(src, f"{name}.ipynb", "exec"), ns)
        if buf.getvalue():
            outputs.insert(0, nbformat.v4.new_output("stream", name="stdout", text=buf.getvalue()))
        cell.outputs = outputs
    return node


def test_chromium_renders_the_index_and_every_report_offline(tmp_path):
    import nbformat

    from analysis import report_html as R
    from analysis.notebook_specs import NOTEBOOKS

    results = _results(tmp_path / "results")
    reports = results / "g" / "reports"
    reports.mkdir()
    for spec in NOTEBOOKS:
        nb_path = results / "g" / "notebooks" / f"{spec.name}.ipynb"
        nb_path.parent.mkdir(exist_ok=True)
        nbformat.write(_executed(spec.name, results, "g"), nb_path)
        R.export_html(nb_path, reports / f"{spec.name}.html")
    R.build_index(results, "g", reports / "index.html")
    pages = ["index", *(spec.name for spec in NOTEBOOKS)]
    for name in pages:
        page = render(reports / f"{name}.html", tmp_path / "chromium" / name)
        assert page.console == [], f"{name}.html: console {page.console}"
        assert page.requests == [], f"{name}.html: network {page.requests}"
        assert "Traceback" not in page.dom and "12 finished cells" in page.dom, name  # it rendered, with data
        if name in ("index", "summary", "bckd_main", "eldet_main"):  # tables of the fixture's cells
            assert "<table" in page.dom, name
    index = (reports / "index.html").read_text()
    assert all(f"href='{spec.name}.html'" in index for spec in NOTEBOOKS)  # every report is linked, none missing
