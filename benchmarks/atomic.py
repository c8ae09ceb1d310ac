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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks import jsonio
from benchmarks.errors import InputError


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


def write_all(writers: Sequence[tuple[Path, Callable[[Path], None]]]) -> None:
    """Write several files all-or-nothing: each to a temp name, then rename all; undo on failure.

    Every writer fills its temporary path (benchmarks.atomic.atomic_path); renames happen only once
    all writers succeeded. If a rename fails, destinations already renamed in this call are removed,
    so after any failure none of the outputs of this call exists.
    """
    committed: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            tmps = []
            for dest, _ in writers:
                # registered before the atomic_path: runs after its rename, records only a success
                stack.push(lambda et, ev, tb, dest=dest: committed.append(dest) if et is None else None)
                tmps.append(stack.enter_context(atomic_path(dest)))
            for (_, write), tmp in zip(writers, tmps):
                write(tmp)
    except BaseException:
        for dest in committed:
            dest.unlink(missing_ok=True)
        raise


def bytes_writer(data: bytes) -> Callable[[Path], None]:
    """A :func:`write_all` writer that fills its temporary path with ``data`` (fsynced)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    return write


def write_texts(files: Mapping[str | os.PathLike, str]) -> None:
    """Write several UTF-8 text files all-or-nothing (:func:`write_all`): a table and its Markdown
    view never appear one without the other."""
    write_all([(Path(dest), bytes_writer(text.encode("utf-8"))) for dest, text in files.items()])


def check_outputs(
    inputs: Mapping[str, str | os.PathLike | None], outputs: Mapping[str, str | os.PathLike | None]
) -> None:
    """InputError unless the output paths (option -> path; None = not asked for) are distinct and
    none of them is an input: a CLI never overwrites what it reads, nor one output with another."""
    seen: dict[Path, str] = {}
    read = {Path(os.path.abspath(p)).resolve(): k for k, p in inputs.items() if p is not None}
    for key, dest in outputs.items():
        if dest is None:
            continue
        real = Path(os.path.abspath(dest)).resolve()
        if real in read:
            raise InputError(f"{key} is the input {read[real]}; inputs are never overwritten", path=dest)
        if real in seen:
            raise InputError(f"{key} and {seen[real]} are the same file", path=dest)
        seen[real] = key
