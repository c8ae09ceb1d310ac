"""Atomic file output: every file the suite writes appears whole or not at all.

A writer gets a temporary file in the destination's directory (same filesystem, so the final
``os.replace`` is atomic); on any exception the temporary file is removed and the destination is
left untouched. A killed process leaves at most a ``.tmp-*`` file, never a half-written result
under the real name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from benchmarks import jsonio


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it to ``dest`` if the block succeeds.

    Use this for writers that want a path (``np.save``, ``fig.savefig``, ``torch.save``).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: writers such as savefig() and Config.dump() infer the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{dest.stem}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(dest: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open()`` for writing whose result only appears under ``dest`` once it is complete."""
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not supported")
    with atomic_path(dest) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_json(dest: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically (orjson, see :mod:`benchmarks.jsonio`; key order kept)."""
    data = jsonio.dumps(obj, indent=indent)
    with atomic_open(dest, "wb") as fh:
        fh.write(data)
        fh.write(b"\n")


def write_text(dest: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_open(dest, "w", encoding="utf-8") as fh:
        fh.write(text)
