"""JSON text in and out through orjson, with the standard library as the exact fallback.

COCO files and detection lists are the bulk of what the suite reads and writes (a COCO-train-sized
file is ~100 MB); orjson parses them about 1.5x and writes them about 8x faster than :mod:`json`.
Where orjson would change the *content* of a file, the standard library is used instead, so
callers see the same parsed values as before:

* reading: orjson rejects what :mod:`json` accepts beyond the JSON grammar (``NaN``,
  ``Infinity``, integers past 64 bits) and reports errors differently, so any orjson failure
  re-parses with :mod:`json` (which then either succeeds or raises its usual error);
* writing: orjson writes NaN/Infinity as ``null`` and refuses non-string keys, numpy scalars and
  integers past 64 bits. A ``TypeError`` from orjson, or a ``null`` anywhere in its output (rare in
  this suite's files), makes :func:`dumps` write with :mod:`json` as before.

Bytes can differ from :mod:`json`'s only where JSON allows (``1e-05`` vs ``1e-5``, non-ASCII
text as UTF-8 instead of ``\\u`` escapes, indentation details); the parsed content is the same.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

import orjson

# dataclasses / datetimes stay unserialisable (TypeError), as with json
_OPTS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while ~10^6 acyclic dicts/lists/floats are made.

    With a large file in memory every automatic collection walks all of its objects; parsing a
    COCO-train-sized file with collections on takes about twice as long.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def loads(data: bytes | str) -> Any:
    """Parse JSON text; values exactly as :func:`json.loads` gives them (errors are json's)."""
    with gc_paused():
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        if isinstance(data, bytes):
            data = data.decode("utf-8")  # UnicodeDecodeError as json.load(open(..., encoding="utf-8"))
        return json.loads(data)


def dumps(obj: Any, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON of ``obj`` (compact, or ``indent=2``) with the content :func:`json.dumps` writes."""
    if indent in (None, 2):
        try:
            out = orjson.dumps(obj, option=_OPTS | (orjson.OPT_INDENT_2 if indent == 2 else 0))
        except TypeError:
            out = None
        if out is not None and b"null" not in out:
            return out
    if indent is None:
        return json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return json.dumps(obj, indent=indent).encode("utf-8")
