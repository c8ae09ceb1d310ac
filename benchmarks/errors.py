"""User-facing errors and the CLI wrapper that turns them into one clear line and exit code 2.

Bad input (a malformed annotation file, an unknown class id, a box outside its image, a missing
file, an impossible config) raises :class:`InputError` naming the file and the problem. Command
line entry points run through :func:`run_cli`, which prints ``error: <message>`` to stderr and
exits with status 2 instead of showing a traceback, as it does for an ``OSError`` about a named file
(an output directory that cannot be created, a path that is a directory, no permission);
unexpected exceptions still show a traceback.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Sequence


class InputError(Exception):
    """Bad user input: the message names the file (and line/record where known) and the problem."""

    def __init__(self, message: str, *, path: object | None = None, where: str | None = None):
        self.path = None if path is None else str(path)
        self.where = where
        prefix = ""
        if self.path is not None:
            prefix = f"{self.path}"
            if where:
                prefix += f" ({where})"
            prefix += ": "
        super().__init__(prefix + message)


def open_utf8(path: str | os.PathLike, newline: str | None = None) -> io.StringIO:
    """A text file's content as a stream, or :class:`InputError` naming the file when it is not
    UTF-8 (a binary or Latin-1 file otherwise surfaces as a ``UnicodeDecodeError`` without a name)."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return io.StringIO(data.decode("utf-8"), newline=newline)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", path=path) from None


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; report :class:`InputError` as ``error: ...`` on stderr with exit code 2."""
    try:
        code = main(argv)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: a real failure
            raise
        # an output that cannot be written (no such directory, a directory, no permission) or an
        # input that cannot be opened: the file and the reason, not a traceback
        # (a failed rename names the destination second: that is the user's path)
        name = exc.filename2 if exc.filename2 is not None else exc.filename
        print(f"error: {name}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
