"""Memory of the data jobs, from the size of what they read (SLURM kills a job over its request).

Measured on COCO's ``instances_train2017.json`` (448 MB): converting it peaks at ~3.4 GB (~7.5x
the file), corrupting the converted file at ~1.8 GB (~4x). The requests add a margin to both and
a 1 GB floor for the interpreter and its imports, and grow by half on each retry (the profiles'
``retries``), like the training cells' memory.
"""

from __future__ import annotations

import os
from pathlib import Path

ANNOTATION_SUFFIXES = (".json", ".xml", ".csv", ".txt")
BASE_MB = 1000
CONVERT_PER_MB = 8
CORRUPT_PER_MB = 5


def grow(mb: float, attempt: int) -> int:
    """``mb`` for attempt 1, +50 % per further attempt."""
    return int(mb * (1 + (attempt - 1) / 2))


def annotation_mb(root: str | os.PathLike) -> float:
    """Megabytes of annotation files (JSON, XML, CSV, TXT) under a source dataset's root; 0 if absent."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files if f.lower().endswith(ANNOTATION_SUFFIXES))
    return total / 2**20


def dataset_mem_mb(dataset: dict, attempt: int = 1) -> int:
    """Request of the job that converts (or generates) one dataset of a grid."""
    if dataset["source"] == "synthetic":
        return grow(BASE_MB, attempt)
    return grow(BASE_MB + CONVERT_PER_MB * annotation_mb(dataset["path"]), attempt)


def corrupt_mem_mb(clean_dir: str | os.PathLike, attempt: int = 1) -> int:
    """Request of the job that corrupts a clean dataset's train.json."""
    train = Path(clean_dir) / "train.json"
    size = train.stat().st_size / 2**20 if train.is_file() else 0.0
    return grow(BASE_MB + CORRUPT_PER_MB * size, attempt)
