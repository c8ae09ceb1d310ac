"""Carry a pretrained detector's class layers over to a target set whose classes it already knows.

The embedded default's source set has ten shape classes and its target set the first five of them,
as ImageNet's classes contain VOC's. Loading the source detector with ``strict=False`` keeps every
class-count-dependent tensor at its fresh init, so the fine-tuned detector must relearn five classes
it already separates; keeping the source rows of the shared classes instead starts the cell where
an ImageNet-pretrained detector on VOC starts: able to detect at epoch 1, so that under label noise
its clean-label train AP can peak early and then fall as it memorizes (issue 18; the early-learning
phase of the shared classes then lies in the pretraining run, not in the cell's curves).

Each class-dependent tensor has one of three layouts along its first dimension, by head:

* ``groups x classes`` (class index fastest): RetinaNet's ``retina_cls`` (anchors x classes), FCOS
  and GFL ``conv_cls`` / ``gfl_cls`` (one group), the DETR ``cls_branches`` and DINO's denoising
  ``label_embedding``;
* ``classes + background``: Faster R-CNN's ``fc_cls`` (background is the last row);
* ``classes x 4``: Faster R-CNN's class-specific ``fc_reg`` (class index slowest).

:func:`transfer_class_tensors` slices the source rows of the target's classes (matched by name)
into every tensor that matches one of :data:`CLASS_TENSORS`; tests/test_class_transfer.py checks
that the table covers every class-dependent tensor of every tiny detector.
"""

from __future__ import annotations

import re

from benchmarks.errors import InputError

GROUPS_X_CLASSES = "groups x classes"
CLASSES_PLUS_BACKGROUND = "classes + background"
CLASSES_X_GROUPS = "classes x groups"

# parameter-name pattern -> layout of its first dimension
CLASS_TENSORS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), layout)
    for pattern, layout in (
        (r"(^|\.)bbox_head\.(retina_cls|conv_cls|gfl_cls)\.(weight|bias)$", GROUPS_X_CLASSES),
        (r"(^|\.)bbox_head\.cls_branches\.\d+\.(weight|bias)$", GROUPS_X_CLASSES),
        (r"(^|\.)dn_query_generator\.label_embedding\.weight$", GROUPS_X_CLASSES),
        (r"(^|\.)roi_head\.bbox_head\.fc_cls\.(weight|bias)$", CLASSES_PLUS_BACKGROUND),
        (r"(^|\.)roi_head\.bbox_head\.fc_reg\.(weight|bias)$", CLASSES_X_GROUPS),
    )
)


def layout_of(name: str) -> str | None:
    """The class layout of parameter ``name``, or None for a class-independent one."""
    for pattern, layout in CLASS_TENSORS:
        if pattern.search(name):
            return layout
    return None


def class_index(source: list[str], target: list[str]) -> list[int] | None:
    """Source index of each target class (matched by name), or None if some target class is new."""
    where = {name: i for i, name in enumerate(source)}
    if len(where) != len(source):
        raise InputError(f"source class names are not unique: {source}")
    if not all(name in where for name in target):
        return None
    return [where[name] for name in target]


def slice_rows(tensor, layout: str, n_source: int, index: list[int]):
    """The rows of ``tensor`` (first dimension laid out as ``layout`` over ``n_source`` classes) of
    the source classes ``index``, in that order."""
    import torch

    rows = tensor.shape[0]
    idx = torch.as_tensor(index, dtype=torch.long)
    if layout == CLASSES_PLUS_BACKGROUND:
        if rows != n_source + 1:
            raise ValueError(f"{rows} rows are not {n_source} classes + background")
        return torch.cat([tensor[idx], tensor[n_source:]])
    if rows % n_source:
        raise ValueError(f"{rows} rows are not a multiple of {n_source} classes")
    groups = rows // n_source
    rest = tensor.shape[1:]
    if layout == GROUPS_X_CLASSES:
        return tensor.reshape(groups, n_source, *rest)[:, idx].reshape(groups * len(index), *rest)
    if layout == CLASSES_X_GROUPS:
        return tensor.reshape(n_source, groups, *rest)[idx].reshape(len(index) * groups, *rest)
    raise ValueError(f"unknown class layout {layout!r}")


def transfer_class_tensors(state_dict: dict, source: list[str], target: list[str]) -> tuple[dict, list[str]]:
    """``state_dict`` with every class-dependent tensor cut down to the ``target`` classes.

    Returns the new state dict and the names of the tensors that were sliced. When a target class is
    not among the source classes nothing is sliced (the class layers then keep their fresh init, as
    before) and the list is empty.
    """
    index = class_index(source, target)
    if index is None or index == list(range(len(source))):
        return state_dict, []
    out, sliced = dict(state_dict), []
    for name, tensor in state_dict.items():
        layout = layout_of(name)
        if layout is None:
            continue
        try:
            out[name] = slice_rows(tensor, layout, len(source), index).clone()
        except ValueError as exc:
            raise InputError(f"pretrained tensor {name} {tuple(tensor.shape)}: {exc}") from None
        sliced.append(name)
    return out, sliced
