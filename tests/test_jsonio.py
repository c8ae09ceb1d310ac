"""JSON through orjson (benchmarks.jsonio): same parsed content as the standard library, which is
the reference here, including where orjson alone would differ (NaN, non-string keys, big ints)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import jsonio
from benchmarks.atomic import write_json
from benchmarks.data.coco import dump_coco, read_json
from benchmarks.errors import InputError

DOC = {
    "floats": [0.1, 1e-05, 1e16, -0.0, 123456789.125, 5e-324, 1.7976931348623157e308, 0.30000000000000004],
    "ints": [0, -1, 2**63 - 1, -(2**63)],
    "text": ["caf\u00e9", "\u65e5\u672c", 'quote " and \\ backslash', "tab\tnewline\n"],
    "nested": {"empty_list": [], "empty_dict": {}, "bools": [True, False], "none": None},
}


def test_loads_gives_the_standard_librarys_values():
    for text in (json.dumps(DOC), json.dumps(DOC, ensure_ascii=False), json.dumps(DOC, indent=2)):
        assert jsonio.loads(text.encode()) == json.loads(text)
        assert jsonio.loads(text) == json.loads(text)


def test_loads_falls_back_for_what_only_the_standard_library_reads():
    # NaN / Infinity (json.dumps writes them) and an integer past 64 bits: orjson rejects both
    got = jsonio.loads(b'{"a": NaN, "b": -Infinity, "c": 123456789012345678901234567890}')
    assert math.isnan(got["a"]) and got["b"] == -math.inf and got["c"] == 123456789012345678901234567890
    with pytest.raises(json.JSONDecodeError) as exc:
        jsonio.loads(b'{"a": 1,\n "b": }')
    assert (exc.value.lineno, exc.value.colno) == (2, 7)  # json's own position of the error


@pytest.mark.parametrize("indent", [None, 2])
def test_dumps_round_trips_to_the_same_content(indent):
    data = jsonio.dumps(DOC, indent=indent)
    assert json.loads(data) == DOC
    # the float values survive bit for bit (shortest round-trip text in both libraries)
    assert [x.hex() for x in json.loads(data)["floats"]] == [x.hex() for x in DOC["floats"]]
    if indent == 2:
        assert data.startswith(b'{\n  "floats": [\n    0.1,')


def test_dumps_keeps_what_orjson_alone_would_change():
    # orjson writes NaN as null and refuses int keys / big ints: the standard library is used then
    data = jsonio.dumps({"ap": float("nan"), "none": None, "inf": math.inf})
    got = json.loads(data)
    assert math.isnan(got["ap"]) and got["none"] is None and got["inf"] == math.inf
    assert json.loads(jsonio.dumps({1: "a", 2: [3]})) == {"1": "a", "2": [3]}
    assert json.loads(jsonio.dumps([2**70])) == [2**70]
    for bad in ({"x": np.float32(1.5)}, {"x": {1, 2}}):
        with pytest.raises(TypeError):  # as json.dumps: not JSON-serialisable
            jsonio.dumps(bad)


def test_file_writers_and_reader_agree_with_the_standard_library(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "\u00e9t\u00e9.png", "width": 3, "height": 4}],
            "annotations": [{"id": 1, "bbox": [1e-05, 0.1, 2.5, 1e16]}], "categories": []}  # fmt: skip
    dump_coco(tmp_path / "c.json", coco)
    raw = (tmp_path / "c.json").read_bytes()
    assert raw.endswith(b"\n") and b"\n" not in raw[:-1]  # compact, one line
    assert json.loads(raw) == coco and read_json(tmp_path / "c.json") == coco
    write_json(tmp_path / "m.json", {"AP": float("nan"), "cell": "a"})
    m = json.loads((tmp_path / "m.json").read_text())
    assert math.isnan(m["AP"]) and m["cell"] == "a"
    assert math.isnan(read_json(tmp_path / "m.json")["AP"])


def test_read_json_reports_bad_encoding_and_syntax(tmp_path):
    (tmp_path / "latin1.json").write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(InputError, match="latin1.json: not UTF-8 text"):
        read_json(tmp_path / "latin1.json")
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"a": 1}')
    with pytest.raises(InputError, match="invalid JSON: Unexpected UTF-8 BOM"):
        read_json(tmp_path / "bom.json")
