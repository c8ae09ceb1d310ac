"""Class-layer transfer from a pretrained detector (benchmarks/training/class_transfer.py).

The independent expectation: a detector built for the target classes, loaded with the transferred
weights, gives for each target class exactly the logits (and boxes) the source detector gives for
that class, and every tensor whose shape depends on the class count is covered.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mmdet")

from benchmarks.training.class_transfer import (  # noqa: E402
    CLASSES_PLUS_BACKGROUND,
    CLASSES_X_GROUPS,
    GROUPS_X_CLASSES,
    class_index,
    layout_of,
    slice_rows,
    transfer_class_tensors,
)

SOURCE = ["disk", "triangle", "square", "star", "ring", "cross", "hexagon", "crescent", "diamond", "arrow"]
TARGET = ["star", "disk", "arrow"]  # out of order on purpose: rows are matched by name, not position
INDEX = [3, 0, 9]


def _model(detector: str, num_classes: int, seed: int):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from benchmarks.detectors import get_detector
    from benchmarks.training.config_builder import _set_dotted

    register_all_modules()
    det = get_detector(detector)
    cfg = Config.fromfile(str(det.config_path("tiny")))
    for dotted in det.num_classes_at:
        _set_dotted(cfg.model, dotted, "num_classes", num_classes)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _transferred(detector: str):
    source = _model(detector, len(SOURCE), 0)
    target = _model(detector, len(TARGET), 1)
    state, sliced = transfer_class_tensors(source.state_dict(), SOURCE, TARGET)
    missing = target.load_state_dict(state, strict=True)  # every shape fits: strict loading passes
    assert not missing.missing_keys and not missing.unexpected_keys
    return source, target, sliced


def test_class_index_matches_names():
    assert class_index(SOURCE, TARGET) == INDEX
    assert class_index(SOURCE, ["disk", "blob"]) is None
    with pytest.raises(Exception, match="not unique"):
        class_index(["a", "a"], ["a"])


def test_slice_rows_by_layout_hand_computed():
    rows = torch.arange(2 * 4).float()  # 2 groups x 4 classes, class fastest
    assert slice_rows(rows, GROUPS_X_CLASSES, 4, [2, 0]).tolist() == [2, 0, 6, 4]
    rows = torch.arange(4 * 2).float()  # 4 classes x 2 coordinates, class slowest
    assert slice_rows(rows, CLASSES_X_GROUPS, 4, [2, 0]).tolist() == [4, 5, 0, 1]
    rows = torch.arange(4 + 1).float()  # 4 classes + background
    assert slice_rows(rows, CLASSES_PLUS_BACKGROUND, 4, [2, 0]).tolist() == [2, 0, 4]
    with pytest.raises(ValueError, match="multiple"):
        slice_rows(torch.zeros(7), GROUPS_X_CLASSES, 4, [0])


@pytest.mark.parametrize(
    "detector",
    ["retinanet", "fcos", "faster_rcnn", "gfl", "gfl_r101", "deformable_detr", "deformable_detr_refine", "dino"],
)
def test_every_class_dependent_tensor_is_covered(detector):
    big = _model(detector, len(SOURCE), 0).state_dict()
    small = _model(detector, len(TARGET), 0).state_dict()
    dependent = {k for k in big if big[k].shape != small[k].shape}
    assert dependent, "the class count changes no tensor: the test would check nothing"
    assert {k for k in big if layout_of(k)} == dependent


def test_retinanet_logits_of_shared_classes_are_the_source_logits():
    source, target, sliced = _transferred("retinanet")
    assert sliced == ["bbox_head.retina_cls.weight", "bbox_head.retina_cls.bias"]
    feats = [torch.randn(1, 64, s, s) for s in (16, 8, 4)]
    with torch.no_grad():
        cls_src, box_src = source.bbox_head(feats)
        cls_tgt, box_tgt = target.bbox_head(feats)
    anchors = source.bbox_head.num_base_priors
    for a, b in zip(cls_src, cls_tgt):
        n, _, h, w = a.shape
        torch.testing.assert_close(
            a.reshape(n, anchors, len(SOURCE), h, w)[:, :, INDEX], b.reshape(n, anchors, 3, h, w)
        )
    for a, b in zip(box_src, box_tgt):  # class-independent layers are loaded unchanged
        torch.testing.assert_close(a, b)


def test_faster_rcnn_class_and_box_rows_follow_the_classes():
    source, target, _ = _transferred("faster_rcnn")
    head_src, head_tgt = source.roi_head.bbox_head, target.roi_head.bbox_head
    rois = torch.randn(5, head_src.in_channels, *head_src.roi_feat_size)  # (h, w) pair
    with torch.no_grad():
        cls_src, box_src = head_src(rois)
        cls_tgt, box_tgt = head_tgt(rois)
    torch.testing.assert_close(cls_src[:, INDEX + [len(SOURCE)]], cls_tgt)  # background stays last
    torch.testing.assert_close(box_src.reshape(5, len(SOURCE), 4)[:, INDEX], box_tgt.reshape(5, 3, 4))


def test_dino_decoder_classifiers_and_denoising_labels():
    source, target, sliced = _transferred("dino")
    assert "dn_query_generator.label_embedding.weight" in sliced
    x = torch.randn(4, 64)
    with torch.no_grad():
        for a, b in zip(source.bbox_head.cls_branches, target.bbox_head.cls_branches):
            torch.testing.assert_close(a(x)[:, INDEX], b(x))
    torch.testing.assert_close(
        source.dn_query_generator.label_embedding.weight[INDEX], target.dn_query_generator.label_embedding.weight
    )


def test_new_class_leaves_the_state_untouched():
    state = _model("fcos", len(SOURCE), 0).state_dict()
    out, sliced = transfer_class_tensors(state, SOURCE, ["disk", "blob"])
    assert out is state and sliced == []
