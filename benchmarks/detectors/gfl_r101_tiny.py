# GFL teacher, tiny: the tiny GFL's head, anchors (octave_base_scale 4), ATSS assignment and losses
# (same priors, so a BCKD student is compared with it location by location), with a twice-as-wide
# backbone (ResNet-18 layout, base 32 channels: stages 32/64/128/256, ~4x the student backbone's
# FLOPs, 3.7M instead of 1.1M parameters) and a 96-channel neck/head: the tiny counterpart of the
# paper's R-101 teacher for an R-50 student. Schedule and data as every tiny detector (12 epochs).
_base_ = ["./gfl_r101_fpn_paper.py", "./_tiny_common.py"]

model = dict(
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_teacher_backbone}},
    neck=dict(in_channels={{_base_.tiny_teacher_widths}}, out_channels=96),
    bbox_head=dict(
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=4),
        norm_cfg=dict(type="GN", num_groups=16, requires_grad=True),
    ),
)
train_dataloader = {{_base_.tiny_train_dataloader}}
test_dataloader = {{_base_.tiny_test_dataloader}}
val_dataloader = test_dataloader
optim_wrapper = {{_base_.tiny_optim_wrapper}}
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
