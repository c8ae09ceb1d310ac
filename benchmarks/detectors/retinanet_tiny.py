# RetinaNet, tiny: RetinaHead, MaxIoU assigner, focal + L1 losses as in the paper config; tiny
# backbone/neck/head widths; anchors halved (octave_base_scale 4 -> 2: 16 px base anchors at
# stride 8) because objects on 160 px images are 8-80 px.
_base_ = ["./retinanet_r50_fpn_paper.py", "./_tiny_common.py"]

model = dict(
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels={{_base_.tiny_widths}}, out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64, stacked_convs=2, anchor_generator=dict(octave_base_scale=2)),
)
train_dataloader = {{_base_.tiny_train_dataloader}}
test_dataloader = {{_base_.tiny_test_dataloader}}
val_dataloader = test_dataloader
optim_wrapper = {{_base_.tiny_optim_wrapper}}
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
