"""OD-DETR's auxiliary query groups (AG, Sec. 3.4): selection, group building, mask, and the model's losses."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from benchmarks.methods.od_detr.groups import padded_group_mask, select_group_queries

# -- selection of the two cheapest queries per GT -----------------------------------------------


def test_selection_takes_the_two_cheapest_queries_per_gt_with_ties_and_shared_queries():
    cost = torch.tensor(
        [  #  g0   g1   g2
            [0.5, 0.1, 0.9],  # q0
            [0.2, 0.8, 0.3],  # q1
            [0.2, 0.4, 0.7],  # q2
            [0.9, 0.1, 0.3],  # q3
            [0.1, 0.6, 0.8],  # q4
        ]
    )
    # g0: q4 (0.1), then q1 and q2 tie at 0.2 -> the lower index q1
    # g1: q0 and q3 tie at 0.1 -> q0, q3
    # g2: q1 and q3 tie at 0.3 -> both already taken: nothing new
    assert select_group_queries(cost, 2).tolist() == [4, 1, 0, 3]
    assert select_group_queries(cost, 1).tolist() == [4, 0, 1]  # g2's cheapest is q1 (tie with q3)


def test_selection_group_size_is_two_per_gt_without_shared_queries():
    cost = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [0.5, 0.5]])
    assert select_group_queries(cost, 2).tolist() == [0, 1, 3, 2]
    assert select_group_queries(cost, 3).tolist() == [0, 1, 4, 3, 2]  # q4 is 3rd for both GTs
    assert select_group_queries(cost[:1], 2).tolist() == [0]  # fewer queries than per_gt
    assert select_group_queries(cost[:, :0], 2).numel() == 0  # no GT: empty group


# -- group building from the teacher's outputs --------------------------------------------------


def test_aux_groups_are_built_from_the_teacher_stage_outputs_and_padded():
    from benchmarks.methods.od_detr.model import ODDeformableDETR

    # 2 stages, 2 images, 4 queries, 2-d embeddings; image 0 has 2 GTs, image 1 has 1 GT
    hidden = torch.arange(2 * 2 * 4 * 2, dtype=torch.float).reshape(2, 2, 4, 2)
    boxes = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    teacher = dict(hidden=hidden, boxes=boxes, query_pos=torch.tensor([[0.0, 0], [1, 1], [2, 2], [3, 3]]))
    costs = [
        [torch.tensor([[0.3, 0.1], [0.1, 0.5], [0.2, 0.6], [0.9, 0.2]]), torch.tensor([[0.4], [0.3], [0.1], [0.2]])],
        [torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.9, 0.1]]), torch.zeros(4, 1)],
    ]
    matches = [[torch.tensor([1, 0, -1, -1]), torch.tensor([-1, -1, 0, -1])],
               [torch.tensor([0, -1, -1, 1]), torch.tensor([0, -1, -1, -1])]]  # fmt: skip
    fake = SimpleNamespace(od_cfg=dict(ag_per_gt=2), embed_dims=2)
    groups = ODDeformableDETR.build_aux_groups(fake, teacher, costs, matches)
    assert [g["stage"] for g in groups] == [0, 1]
    # stage 0: image 0 -> g0: q1, q2; g1: q0, q3 -> [1, 2, 0, 3]; image 1 -> g0: q2, q3
    g = groups[0]
    assert g["counts"] == [4, 2] and g["valid"].tolist() == [[True] * 4, [True, True, False, False]]
    assert torch.equal(g["query"][0], hidden[0, 0, [1, 2, 0, 3]])
    assert torch.equal(g["query"][1, :2], hidden[0, 1, [2, 3]])
    assert torch.equal(g["query"][1, 2:], torch.zeros(2, 2))
    assert torch.equal(g["query_pos"][0], teacher["query_pos"][[1, 2, 0, 3]])
    assert torch.equal(g["reference_points"][0], boxes[0, 0, [1, 2, 0, 3], :2])  # anchors = box centres
    assert g["teacher_match"].tolist() == [[0, -1, 1, -1], [0, -1, -1, -1]]
    # stage 1: image 0 -> g0: q0, q1; g1: q3, q2; image 1 -> all costs tie: q0, q1
    g = groups[1]
    assert g["counts"] == [4, 2]
    assert torch.equal(g["query"][0], hidden[1, 0, [0, 1, 3, 2]])
    assert torch.equal(g["query"][1, :2], hidden[1, 1, [0, 1]])
    assert g["teacher_match"].tolist() == [[0, -1, 1, -1], [0, -1, -1, -1]]


# -- attention mask -----------------------------------------------------------------------------


def test_group_mask_hand_built_two_aux_groups_and_matching_part_with_padding():
    # groups: AG1 = 0-1, AG2 = 2-4, matching part = 5-6; image 1 has slot 4 (AG2) as padding
    valid = torch.tensor([[True] * 7, [True, True, True, True, False, True, True]])
    mask = padded_group_mask([2, 3, 2], valid)
    expected0 = torch.tensor(
        [
            [0, 0, 1, 1, 1, 1, 1],
            [0, 0, 1, 1, 1, 1, 1],
            [1, 1, 0, 0, 0, 1, 1],
            [1, 1, 0, 0, 0, 1, 1],
            [1, 1, 0, 0, 0, 1, 1],
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],
        ],
        dtype=torch.bool,
    )
    expected1 = expected0.clone()
    expected1[[2, 3], 4] = True  # nobody sees the padding slot, which sees itself (and its group)
    assert torch.equal(mask[0], expected0)
    assert torch.equal(mask[1], expected1)


def test_group_mask_blocks_information_flow_in_attention():
    torch.manual_seed(0)
    heads = 2
    attn = torch.nn.MultiheadAttention(8, heads, batch_first=True)
    valid = torch.ones(2, 9, dtype=torch.bool)
    valid[1, 4] = False
    mask = padded_group_mask([2, 3, 4], valid).repeat_interleave(heads, dim=0)
    x = torch.randn(2, 9, 8)
    out = attn(x, x, x, attn_mask=mask)[0]
    y = x.clone()
    y[:, :5] = torch.randn(2, 5, 8)  # change both auxiliary groups: the matching part is unaffected
    assert torch.allclose(out[:, 5:], attn(y, y, y, attn_mask=mask)[0][:, 5:], atol=1e-6)
    z = x.clone()
    z[1, 4] = torch.randn(8)  # change the padding slot of image 1: no other query changes
    out_z = attn(z, z, z, attn_mask=mask)[0]
    keep = [i for i in range(9) if i != 4]
    assert torch.allclose(out[1, keep], out_z[1, keep], atol=1e-6)
    assert not torch.allclose(out[1, 4], out_z[1, 4])
    assert torch.isfinite(out).all()


# -- plug-in parameters -------------------------------------------------------------------------


def _tiny_cfg():
    from mmengine.config import Config

    from benchmarks.detectors import get_detector

    cfg = Config.fromfile(str(get_detector("deformable_detr").config_path("tiny")))
    cfg.model.backbone.init_cfg = None
    for dotted in get_detector("deformable_detr").num_classes_at:
        node = cfg.model
        for part in dotted.split("."):
            node = node[part]
        node["num_classes"] = 4
    return cfg


def test_apply_passes_the_ag_switches_and_rejects_a_bad_ag_per_gt():
    from benchmarks.errors import InputError
    from benchmarks.methods import od_detr

    ctx = SimpleNamespace(detector="deformable_detr")
    cfg = od_detr.apply(_tiny_cfg(), {**od_detr.DEFAULTS}, ctx)
    assert cfg.model.od_cfg.use_ag is True and cfg.model.od_cfg.ag_per_gt == 2
    cfg = od_detr.apply(_tiny_cfg(), {**od_detr.DEFAULTS, "use_ag": False}, ctx)
    assert cfg.model.od_cfg.use_ag is False
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match="ag_per_gt"):
            od_detr.apply(_tiny_cfg(), {**od_detr.DEFAULTS, "ag_per_gt": bad}, ctx)


# -- the model on a tiny fake batch ---------------------------------------------------------------

OLD_KEYS = {
    f"{p}{k}"
    for p in ("", "d0.")
    for k in ("loss_cls", "loss_bbox", "loss_iou", "pd_loss_cls", "pd_loss_bbox", "pd_loss_iou")
}
AG_KEYS = {f"{p}ag_{k}" for p in ("", "d0.") for k in ("loss_cls", "loss_bbox", "loss_iou")}


def _model(**od):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import benchmarks.methods.od_detr.model  # noqa: F401  (registers ODDeformableDETR)

    register_all_modules()
    cfg = _tiny_cfg()
    cfg.model.type = "ODDeformableDETR"
    cfg.model.od_cfg = od
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


def _batch(model):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    boxes = torch.tensor([[10.0, 20.0, 60.0, 90.0], [80.0, 30.0, 150.0, 140.0], [5.0, 5.0, 40.0, 40.0]])
    samples, imgs = [], []
    for i in range(2):  # 3 and 2 GTs: the auxiliary groups are padded for image 1
        imgs.append(torch.randint(0, 255, (3, 160, 160), dtype=torch.uint8, generator=torch.Generator().manual_seed(i)))
        meta = dict(img_shape=(160, 160), ori_shape=(160, 160), scale_factor=(1.0, 1.0), batch_input_shape=(160, 160))
        s = DetDataSample(metainfo=meta)
        s.gt_instances = InstanceData(bboxes=boxes[: 3 - i], labels=torch.tensor([i, 3, 1])[: 3 - i])
        samples.append(s)
    data = model.data_preprocessor({"inputs": imgs, "data_samples": samples}, training=True)
    return data["inputs"], data["data_samples"]


def test_model_with_ag_gives_finite_ag_losses_and_gradients_only_to_the_student():
    model = _model(use_ag=True)
    model.ema_teacher.requires_grad_(True)  # a leak of the AG graph into the teacher would show up
    x, samples = _batch(model)
    losses = model.loss(x, samples)
    assert set(losses) == OLD_KEYS | AG_KEYS
    for key in AG_KEYS:
        assert torch.isfinite(losses[key]), key
    assert float(losses["ag_loss_cls"]) > 0 and float(losses["ag_loss_bbox"]) > 0
    sum(losses[k] for k in AG_KEYS).backward()
    assert all(p.grad is None or not p.grad.any() for p in model.ema_teacher.parameters())
    student = [p for n, p in model.named_parameters() if n.startswith("decoder.") and p.grad is not None]
    assert student and sum(float(p.grad.abs().sum()) for p in student) > 0


def test_model_without_ag_keeps_the_previous_keys_and_groups_do_not_change_the_main_group():
    out = {}
    for use_ag in (False, True):
        model = _model(use_ag=use_ag)
        model.eval()  # no dropout: the two runs decode the main and PD queries identically
        x, samples = _batch(model)
        with torch.no_grad():
            out[use_ag] = model.loss(x, samples)
    assert set(out[False]) == OLD_KEYS
    for key in OLD_KEYS:  # the masked groups leave the matching part and the PD group untouched
        assert math.isclose(float(out[False][key]), float(out[True][key]), rel_tol=1e-5, abs_tol=1e-6), key


def test_prediction_distillation_feeds_the_teachers_queries_with_the_students_positional_embedding():
    """OD-DETR Sec. 3.3: "we feed the EMA queries Q' together with the PE P and image feature F into
    the student decoder": the PD group is the teacher's content queries, the *student's* positional
    queries P and the reference points the student computes from P (before issue 17: the teacher's P')."""
    model = _model(use_ag=False)
    with torch.no_grad():  # a teacher whose queries differ from the student's
        model.ema_teacher.query_embedding.weight.add_(torch.randn_like(model.ema_teacher.query_embedding.weight))
    c, n, bs = model.embed_dims, model.num_queries, 2
    t_pos, t_query = torch.split(model.ema_teacher.query_embedding.weight, c, dim=1)
    teacher = dict(query=t_query, query_pos=t_pos, ref=model.ema_teacher.reference_points_fc(t_pos).sigmoid())
    extra = model.extra_queries(teacher, [], bs, t_pos.device)
    s_pos, s_query = torch.split(model.query_embedding.weight, c, dim=1)
    assert extra["num_extra"] == n
    for b in range(bs):
        assert torch.equal(extra["query"][b, :n], t_query)  # Q': the teacher's content queries
        assert torch.allclose(extra["query_pos"][b, :n], s_pos)  # P: the student's positional queries
        assert not torch.allclose(extra["query_pos"][b, :n], t_pos)
        assert torch.allclose(extra["reference_points"][b, :n], model.reference_points_fc(s_pos).sigmoid())


def test_od_detr_ema_has_no_warm_up_by_default():
    """The paper's EMA: a constant decay 0.9996 from the first update (the warm-up tau is ours, off)."""
    from benchmarks.methods import od_detr
    from benchmarks.methods.common.ema import ema_decay

    cfg = od_detr.apply(_tiny_cfg(), {**od_detr.DEFAULTS}, SimpleNamespace(detector="deformable_detr"))
    hook = next(h for h in cfg.custom_hooks if h["type"] == "ODDETRTeacherHook")
    assert hook["decay"] == 0.9996 and hook["tau"] == 0.0
    assert ema_decay(1, hook["decay"], hook["tau"]) == 0.9996


def test_od_detr_runs_on_def_detr_plus_with_iterative_box_refinement():
    """The paper's baseline is Def-DETR+ (iterative box refinement): the plug-in accepts it, and the
    model's MD, PD and AG losses are finite with gradients only to the student (two-stage stays out)."""
    from mmdet.registry import MODELS

    from benchmarks.errors import InputError
    from benchmarks.methods import od_detr

    ctx = SimpleNamespace(detector="deformable_detr")
    cfg = _tiny_cfg()
    cfg.model.with_box_refine = True
    cfg = od_detr.apply(cfg, {**od_detr.DEFAULTS}, ctx)
    assert cfg.model.type == "ODDeformableDETR" and cfg.model.with_box_refine
    two_stage = _tiny_cfg()
    two_stage.model.with_box_refine, two_stage.model.as_two_stage = True, True
    with pytest.raises(InputError, match="two-stage"):
        od_detr.apply(two_stage, {**od_detr.DEFAULTS}, ctx)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    assert not model.bbox_head.share_pred_layer  # one box branch per decoder stage, as in Def-DETR+
    x, samples = _batch(model)
    losses = model.loss(x, samples)
    assert set(losses) == OLD_KEYS | AG_KEYS
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is None or not p.grad.any() for p in model.ema_teacher.parameters())
    reg = [p.grad for p in model.bbox_head.reg_branches[0].parameters()]
    assert all(g is not None for g in reg) and sum(float(g.abs().sum()) for g in reg) > 0
