"""Seeds derived from identities, never from loop order.

``derive_seed("synth", "combined", 0.4, "corrupt")`` is the same number on every machine and in
every run, whatever else the grid contains, so any cell or dataset can be rebuilt alone.
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the string forms of ``parts`` (sha256; stable across processes)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little") & 0x7FFFFFFF
