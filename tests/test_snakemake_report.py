"""`snakemake --report`: every figure and table output of the workflow has a caption and a category."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

# Loads the workflow through Snakemake's API (no DAG, nothing run) and lists every rule output with
# its report() flag; in a subprocess so Snakemake's logging set-up stays out of the test process.
_LIST_OUTPUTS = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import get_flag_value, is_flagged
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

out = []
with SnakemakeApi(OutputSettings(quiet=set())) as api:
    wf = api.workflow(resource_settings=ResourceSettings(), snakefile=Path("Snakefile"),
                      config_settings=ConfigSettings(config={"results_dir": sys.argv[1]}),
                      storage_settings=StorageSettings(), workdir=Path("."))._workflow
    for rule in wf.rules:
        for f in rule.output:
            rep = get_flag_value(f, "report") if is_flagged(f, "report") else None
            out.append({"rule": rule.name, "path": str(f), "directory": bool(is_flagged(f, "directory")),
                        "caption": rep and str(rep.caption.get_path_or_uri(secret_free=True)), "category": rep and rep.category,
                        "patterns": rep and list(rep.patterns)})
print("OUTPUTS=" + json.dumps(out))
"""
#: Output folders under results/<grid>/ that hold figures and tables (and the HTML reports).
REPORTED = ("tables/", "figures/", "tide", "reports/")


def _outputs(tmp_path: Path) -> list[dict]:
    res = subprocess.run([sys.executable, "-c", _LIST_OUTPUTS, str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(x for x in res.stdout.splitlines() if x.startswith("OUTPUTS="))
    return json.loads(line.removeprefix("OUTPUTS="))


def test_every_figure_and_table_output_has_a_caption_and_a_category(tmp_path):
    outputs = _outputs(tmp_path)
    prefix = f"{tmp_path}/default/"
    shown = [o for o in outputs if o["path"].startswith(prefix) and o["path"][len(prefix) :].startswith(REPORTED)]
    # the tables (transition, memorization, pretraining, cost, compute, gains, claims: csv and md), the
    # figure folders, the reports
    assert {o["rule"] for o in shown} >= {
        "transition_table", "memorization_table", "pretraining_table", "transition_plots", "tide_report",
        "matching_plots", "cost_table", "cost_summary", "method_gains", "claims_table", "notebook_html",
        "reports_index",
    }  # fmt: skip
    assert len([o for o in shown if "/tables/" in o["path"]]) == 14
    for o in shown:
        where = f"rule {o['rule']}: {o['path']}"
        assert o["category"], f"{where} has no report() category"
        caption = Path(o["caption"] or "")
        assert caption.is_file() and caption.read_text(encoding="utf-8").strip(), f"{where}: caption {caption}"
        if o["directory"]:  # a folder is shown through the files its patterns match
            assert o["patterns"] and all(p.endswith((".png", ".csv")) for p in o["patterns"]), where
