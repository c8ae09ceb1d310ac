"""mmdet config bases of the six detectors, in two sizes each.

``paper``: the papers' architecture and schedule (ResNet-50 FPN 1x, Deformable DETR 50e, DINO 12e),
inheriting mmdet's own reference configs (``mmdet::...``) and stating only what they change.
``tiny``: the same head, assigner and losses with a small backbone and 160 px images, so that one
cell of the embedded default trains in minutes on 2 CPU cores.

A detector's ``family`` is what method plug-ins declare compatibility with (``dense``,
``two_stage``, ``detr``); ``num_classes_at`` lists where the class count lives in its model config. The distillation
teachers (``gfl_r101``, ``retinanet_x101``, ``fcos_r101``) keep their student's head and priors;
only ``gfl_r101`` has a tiny size (the embedded default's BCKD teacher).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent
SIZES = ("paper", "tiny")


@dataclass(frozen=True)
class Detector:
    name: str
    family: str  # dense | two_stage | detr
    configs: dict  # size -> config file name in CONFIG_DIR
    num_classes_at: tuple  # dotted paths inside cfg.model
    model_type: str  # cfg.model.type of every size (checked by tests/test_detectors.py): what method checks see

    def config_path(self, size: str) -> Path:
        if size not in self.configs:
            raise InputError(f"detector '{self.name}' has no '{size}' config (sizes: {', '.join(self.configs)})")
        return CONFIG_DIR / self.configs[size]


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "retinanet",
            "dense",
            {"paper": "retinanet_r50_fpn_paper.py", "tiny": "retinanet_tiny.py"},
            ("bbox_head",),
            "RetinaNet",
        ),
        Detector("fcos", "dense", {"paper": "fcos_r50_fpn_paper.py", "tiny": "fcos_tiny.py"}, ("bbox_head",), "FCOS"),
        Detector("gfl", "dense", {"paper": "gfl_r50_fpn_paper.py", "tiny": "gfl_tiny.py"}, ("bbox_head",), "GFL"),
        Detector(
            "faster_rcnn",
            "two_stage",
            {"paper": "faster_rcnn_r50_fpn_paper.py", "tiny": "faster_rcnn_tiny.py"},
            ("roi_head.bbox_head",),
            "FasterRCNN",
        ),
        Detector(
            "deformable_detr",
            "detr",
            {"paper": "deformable_detr_r50_paper.py", "tiny": "deformable_detr_tiny.py"},
            ("bbox_head",),
            "DeformableDETR",
        ),
        # "Def-DETR+" (OD-DETR Table 1's baseline): Deformable DETR with iterative box refinement
        Detector(
            "deformable_detr_refine",
            "detr",
            {"paper": "deformable_detr_refine_r50_paper.py", "tiny": "deformable_detr_refine_tiny.py"},
            ("bbox_head",),
            "DeformableDETR",
        ),
        Detector("dino", "detr", {"paper": "dino_r50_paper.py", "tiny": "dino_tiny.py"}, ("bbox_head",), "DINO"),
        # distillation teachers (BCKD Tables 1-2): bigger backbones, the student's head and priors
        Detector(
            "gfl_r101", "dense", {"paper": "gfl_r101_fpn_paper.py", "tiny": "gfl_r101_tiny.py"}, ("bbox_head",), "GFL"
        ),
        Detector("retinanet_x101", "dense", {"paper": "retinanet_x101_fpn_paper.py"}, ("bbox_head",), "RetinaNet"),
        Detector("fcos_r101", "dense", {"paper": "fcos_r101_fpn_paper.py"}, ("bbox_head",), "FCOS"),
    )
}


def get_detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise InputError(f"unknown detector '{name}' (known: {', '.join(DETECTORS)})") from None
