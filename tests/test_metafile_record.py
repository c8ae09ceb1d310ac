"""Re-recording the default's results into the metafiles (analysis/metafile_record.py), against a
hand-made gains table and the tolerance rule; the host each cell records (host_info)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from analysis.metafile_record import main, replace_default, results_for
from analysis.method_metafile import check_default, load_metafile
from benchmarks.errors import InputError
from benchmarks.training.host_info import cpu_model, host_info, same_kernels

METHODS = Path(__file__).resolve().parents[1] / "benchmarks" / "methods"
COLUMNS = ["dataset", "noise", "rate", "detector", "method", "n", "AP", "AP_std", "AP_base", "AP_base_std", "dAP", "dAP_std"]  # fmt: skip


def _g(det, noise, rate, method, ap, ap_std, base, base_std, n=3):
    d, d_std = ap - base, 0.2
    return dict(zip(COLUMNS, ["synth", noise, rate, det, method, n, ap, ap_std, base, base_std, d, d_std]))


def _gains():
    """Every method of the shipped packages once, two sharing a paired baseline (retinanet c40)."""
    rows = [
        _g("retinanet", "combined", 0.4, "eldet", 17.634, 0.11, 16.99, 0.09),
        _g("retinanet", "combined", 0.4, "adele", 16.62, 0.6, 16.99, 0.09),
        _g("fcos", "combined", 0.4, "eldet", 17.4, 1.13, 14.57, 0.86),
        _g("retinanet", "combined", 0.4, "orsod", 17.15, 0.11, 16.99, 0.09),
        _g("gfl", "clean", 0, "bckd", 38.32, 0.35, 37.38, 0.3),
        _g("retinanet", "clean", 0, "sssd", 28.06, 0.25, 28.16, 0.48),
        _g("deformable_detr", "combined", 0.4, "dn_detr", 9.74, 0.29, 10.81, 0.39),
        _g("deformable_detr", "combined", 0.4, "od_detr", 12.99, 0.2, 10.81, 0.39),
    ]
    return [{k: str(v) for k, v in r.items()} for r in rows]


def test_results_follow_the_gains_rows_and_the_tolerance_rule():
    eldet = results_for("eldet", _gains())
    # sorted by detector; AP/dAP rounded to 2 places; tolerance = max(0.5, 2 std) by hand
    assert [r["detector"] for r in eldet] == ["fcos", "retinanet"]
    assert eldet[1]["AP"] == {"mean": 17.63, "std": 0.11, "tolerance": 0.5}
    assert eldet[0]["AP"] == {"mean": 17.4, "std": 1.13, "tolerance": 2.26}
    assert eldet[1]["dAP"]["mean"] == round(17.634 - 16.99, 2) and eldet[1]["n"] == 3
    base = results_for("baseline", _gains())
    # one row per paired baseline, however many methods pair with it; no dAP
    assert [(r["detector"], r["noise"]) for r in base] == [
        ("deformable_detr", "combined"), ("fcos", "combined"), ("gfl", "clean"),
        ("retinanet", "clean"), ("retinanet", "combined"),
    ]  # fmt: skip
    assert base[-1] == {"detector": "retinanet", "noise": "combined", "rate": 0.4, "n": 3,
                        "AP": {"mean": 16.99, "std": 0.09, "tolerance": 0.5}}  # fmt: skip


def test_disagreeing_paired_baselines_and_bad_numbers_are_named():
    g = _gains()
    g[1]["AP_base"] = "15.0"  # adele's paired retinanet c40 baseline differs from eldet's
    with pytest.raises(InputError, match=r"row 3: paired baseline"):
        results_for("baseline", g)
    g = _gains()
    g[0]["AP"] = "nan"
    with pytest.raises(InputError, match=r"row 2: column 'AP' is nan"):
        results_for("eldet", g)
    g = _gains()
    g[0]["n"] = "2.7"  # was written as n: 2
    with pytest.raises(InputError, match=r"row 2: column 'n' must be a positive whole number"):
        results_for("eldet", g)


def test_a_gains_table_without_its_columns_is_named(tmp_path, capsys):
    from benchmarks.errors import run_cli

    (tmp_path / "res" / "tables").mkdir(parents=True)
    gains = tmp_path / "res" / "tables" / "gains.csv"
    gains.write_text("dataset,noise,rate,method,n\nsynth,clean,0,bckd,3\n")  # no detector column
    assert run_cli(main, ["--results", str(tmp_path / "res"), "--source", "t"]) == 2
    err = capsys.readouterr().err
    assert "gains.csv" in err and "'detector'" in err and "Traceback" not in err


def test_only_the_default_block_is_replaced(tmp_path):
    text = "method: x\ntargets:\n  - {a: 1}  # kept\n\ndefault:\n  source: old\n  results:\n    - {b: 2}\n"
    out = replace_default(text, "default:\n  new: 1\n", tmp_path / "m.yml")
    assert out == "method: x\ntargets:\n  - {a: 1}  # kept\n\ndefault:\n  new: 1\n"
    with pytest.raises(InputError, match="last top-level block"):
        replace_default(text + "extra: 1\n", "default:\n", tmp_path / "m.yml")


def _results_tree(tmp_path, hosts):
    res = tmp_path / "results" / "default"
    (res / "tables").mkdir(parents=True)
    with (res / "tables" / "gains.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(_gains())
    for i, host in enumerate(hosts):
        cell = res / "runs" / f"c{i}"
        cell.mkdir(parents=True)
        cell.joinpath("metrics.json").write_text(json.dumps({"AP": 0.1, **({"host": host} if host else {})}))
    methods = tmp_path / "methods"
    for meta in METHODS.glob("*/metafile.yml"):
        (methods / meta.parent.name).mkdir(parents=True)
        shutil.copy(meta, methods / meta.parent.name / "metafile.yml")
    return res, methods


def test_recorded_metafiles_hold_the_run_and_reject_a_moved_result(tmp_path):
    host = {"cpu": "Some CPU", "machine": "x86_64", "cpu_capability": "AVX512"}
    res, methods = _results_tree(tmp_path, [host, host])
    before = (methods / "eldet" / "metafile.yml").read_text()
    assert main(["--results", str(res), "--source", "a test run", "--methods-dir", str(methods)]) == 0
    after = (methods / "eldet" / "metafile.yml").read_text()
    assert after[: after.index("default:")] == before[: before.index("default:")]  # paper + targets untouched
    gains = _gains()
    for path in methods.glob("*/metafile.yml"):
        meta = load_metafile(path)
        assert meta["default"]["host"] == host and meta["default"]["source"] == "a test run"
        assert all(c.ok for c in check_default(meta, gains)), path
    moved = _gains()
    moved[0]["AP"] = str(17.634 + 0.51)  # beyond the 0.5 tolerance of ELDET on RetinaNet ...
    moved[0]["dAP"] = str(17.634 + 0.51 - 16.99)  # ... and its gain with it
    bad = [c for c in check_default(load_metafile(methods / "eldet" / "metafile.yml"), moved) if not c.ok]
    assert [(c.detector, c.metric) for c in bad] == [("retinanet", "AP"), ("retinanet", "dAP")]


@pytest.mark.parametrize(
    "hosts, args, needle",
    [
        ([{"cpu": "A"}, {"cpu": "B"}], [], "trained on 2 hosts"),
        ([None, None], [], "record no host.*--this-host"),
    ],
)
def test_unknown_or_mixed_hosts_write_nothing(tmp_path, hosts, args, needle):
    res, methods = _results_tree(tmp_path, hosts)
    before = {p: p.read_bytes() for p in methods.glob("*/metafile.yml")}
    with pytest.raises(InputError, match=needle):
        main(["--results", str(res), "--source", "s", "--methods-dir", str(methods), *args])
    assert {p: p.read_bytes() for p in methods.glob("*/metafile.yml")} == before


def test_a_method_without_gains_rows_writes_nothing(tmp_path):
    res, methods = _results_tree(tmp_path, [None])
    before = {p: p.read_bytes() for p in methods.glob("*/metafile.yml")}
    rows = [r for r in _gains() if r["method"] != "sssd"]
    with (res / "tables" / "gains.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match="no row for method 'sssd'"):
        main(["--results", str(res), "--source", "s", "--methods-dir", str(methods), "--this-host"])
    assert {p: p.read_bytes() for p in methods.glob("*/metafile.yml")} == before


def test_host_info_reads_the_cpu_and_compares_kernels(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU 9000 @ 3 GHz\nflags\t: avx2\n")
    assert cpu_model(info) == "Example CPU 9000 @ 3 GHz"
    here = host_info()
    import torch

    assert here["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    other = "AVX2" if here["cpu_capability"] != "AVX2" else "AVX512"  # any kernel set but this host's
    assert same_kernels(here, dict(here)) and not same_kernels(here, dict(here, cpu_capability=other))
