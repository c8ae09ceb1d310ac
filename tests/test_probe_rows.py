"""probe.csv rows: fixed columns first, extra columns added by other hooks after them."""

from __future__ import annotations

import csv

from benchmarks.training.hooks import PROBE_COLUMNS, read_probe_rows, write_probe_rows


def test_extra_probe_columns_follow_the_fixed_ones_and_round_trip(tmp_path):
    path = tmp_path / "probe.csv"
    rows = [
        {"epoch": "1", "AP": "0.1", "IS": "0.5"},
        {"epoch": "2", "AP": "0.2", "IS": "0.25", "consistency": "0.75"},
    ]
    write_probe_rows(path, rows)
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
    assert header == PROBE_COLUMNS + ["IS", "consistency"]
    back = read_probe_rows(path)
    assert back[0]["IS"] == "0.5" and back[0]["consistency"] == "" and back[1]["consistency"] == "0.75"
    assert back[1]["CA"] == ""  # fixed columns a row lacks stay empty


def test_rows_without_extras_keep_the_fixed_header(tmp_path):
    path = tmp_path / "probe.csv"
    write_probe_rows(path, [{"epoch": "1", "AP": "0.1"}])
    assert path.read_text().splitlines()[0] == ",".join(PROBE_COLUMNS)
