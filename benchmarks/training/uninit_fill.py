"""Deterministic CPU cells without NaN-filling every new tensor.

With deterministic algorithms on (mmengine's ``randomness.deterministic``, which every CPU cell
sets), PyTorch by default fills each tensor that ``empty`` allocates with NaN
(``torch.utils.deterministic.fill_uninitialized_memory``), so that an op reading memory it never
wrote gives the same answer in every run. A program that never reads such memory gains nothing
from it, and PyTorch's documentation says to turn it off then: it cost 4.7 ms of an 82 ms tiny
RetinaNet training step (5.7 %; ~3,700 fills per ELDET step), measured by alternating steps.

That the suite's models read no uninitialised memory is checked, not assumed:
``tests/test_uninit_fill.py`` trains one cell per detector family (and ELDET's teachers) with the
fill and without it and requires bit-identical weights -- a read of uninitialised memory would give
NaN in one run and leftover bytes in the other. (Deformable DETR's ``level_embed`` in ELDET's
teacher copies was such a read; ``ELDETMixin.init_weights`` fixed it.)
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def without_uninitialized_fill():
    """Within the block, deterministic mode does not fill new tensors; the prior setting comes back after."""
    prior = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = prior
