"""The six detectors in both sizes: configs resolve, models build from mmdet's registry, and the tiny
ones train one step on CPU."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from benchmarks.detectors import DETECTORS, get_detector
from benchmarks.errors import InputError

PAPER_EPOCHS = {"retinanet": 12, "fcos": 12, "faster_rcnn": 12, "gfl": 12, "deformable_detr": 50, "dino": 12}
PAPER_EPOCHS["deformable_detr_refine"] = 50
PAPER_BATCH = {"retinanet": 16, "fcos": 16, "faster_rcnn": 16, "gfl": 16, "deformable_detr": 32, "dino": 16}
PAPER_BATCH["deformable_detr_refine"] = 32
# distillation teachers (BCKD Tables 1-2): depth, epochs, and the tiny model's parameter bound
TEACHERS = {"gfl_r101": (101, 24, 4e6), "retinanet_x101": (101, 12, None), "fcos_r101": (101, 24, None)}


def _build(cfg, num_classes):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    det_cfg = cfg.model
    cfg.model.backbone.init_cfg = None
    for dotted in get_detector(cfg.ndr_name).num_classes_at:
        node = det_cfg
        for part in dotted.split("."):
            node = node[part]
        node["num_classes"] = num_classes
    return MODELS.build(det_cfg)


def _load(name, size):
    cfg = Config.fromfile(str(get_detector(name).config_path(size)))
    cfg.ndr_name = name
    return cfg


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_paper_config_is_the_papers_setting(name):
    cfg = _load(name, "paper")
    depth, epochs, _ = TEACHERS.get(name, (50, PAPER_EPOCHS.get(name), None))
    assert cfg.model.backbone.depth == depth
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.auto_scale_lr.base_batch_size == PAPER_BATCH.get(name, 16)
    model = _build(cfg, num_classes=20)
    assert sum(p.numel() for p in model.backbone.parameters()) > 20e6  # a real ResNet-50


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_tiny_detector_trains_one_step(name):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    if "tiny" not in get_detector(name).configs:
        pytest.skip(f"{name} is a paper-size teacher only")
    cfg = _load(name, "tiny")
    paper = _load(name, "paper")
    assert cfg.model.type == paper.model.type
    head = "roi_head" if name == "faster_rcnn" else "bbox_head"
    assert cfg.model[head].type == paper.model[head].type
    torch.manual_seed(0)
    model = _build(cfg, num_classes=4)
    model.init_weights()  # as the runner does: DETRs hold uninitialised parameters until then
    assert sum(p.numel() for p in model.parameters()) < (TEACHERS.get(name, (0, 0, None))[2] or 3e6)
    model.train()
    samples, imgs = [], []
    for i in range(2):
        imgs.append(torch.randint(0, 255, (3, 160, 160), dtype=torch.uint8))
        s = DetDataSample(
            metainfo=dict(
                img_shape=(160, 160), ori_shape=(160, 160), scale_factor=(1.0, 1.0), batch_input_shape=(160, 160)
            )
        )
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0, 20.0, 60.0, 90.0], [80.0, 30.0, 150.0, 140.0]]), labels=torch.tensor([i, 3])
        )
        samples.append(s)
    data = model.data_preprocessor({"inputs": imgs, "data_samples": samples}, training=True)
    losses = model.loss(data["inputs"], data["data_samples"])
    total = sum(
        v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v) for k, v in losses.items() if "loss" in k
    )
    assert torch.isfinite(total)
    total.backward()
    assert sum(float(p.grad.abs().sum()) for p in model.backbone.parameters() if p.grad is not None) > 0


def test_unknown_detector_and_size():
    with pytest.raises(InputError, match="unknown detector 'yolo'"):
        get_detector("yolo")
    with pytest.raises(InputError, match="no 'huge' config"):
        get_detector("fcos").config_path("huge")


@pytest.fixture
def deterministic_mode():
    """What every CPU training cell leaves behind in its process: mmengine's ``set_random_seed(...,
    deterministic=True)`` (``cfg.randomness``) calls ``torch.use_deterministic_algorithms(True)``."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


@pytest.mark.parametrize("name", ["deformable_detr", "dino"])
def test_the_order_dependent_detr_nan_is_uninitialised_memory_filled_under_deterministic_mode(name, deterministic_mode):
    """The cause of the NaN matching costs that made the DETR tests run in fresh interpreters: mmdet's
    DETRs create ``level_embed`` with ``torch.Tensor(...)`` (uninitialised memory) and fill it only in
    ``init_weights``; with deterministic algorithms on (left on by any earlier in-process cell)
    PyTorch fills uninitialised memory with NaN. A built model is NaN there until ``init_weights``,
    finite after it."""
    cfg = _load(name, "tiny")
    model = _build(cfg, num_classes=4)
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    assert bad == ["level_embed"]
    model.init_weights()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_eldet_detr_teachers_are_initialised_with_the_student(deterministic_mode):
    """ELDET's teachers sit in an nn.ModuleList that mmengine's init_weights skips: they are copies of
    the student after init_weights, never left with uninitialised (NaN) tensors."""
    from benchmarks.methods import eldet

    cfg = _load("deformable_detr", "tiny")
    cfg = eldet.apply(cfg, dict(eldet.DEFAULTS), SimpleNamespace(cell_dir=Path("/tmp/x"), detector="deformable_detr"))
    model = _build(cfg, num_classes=4)
    model.init_weights()
    student = {k: v for k, v in model.state_dict().items() if not k.startswith("eldet_")}
    for teacher in model.eldet_teachers:
        for k, v in teacher.state_dict().items():
            assert torch.isfinite(v).all() if v.is_floating_point() else True, k
            assert torch.equal(v, student[k]), k
