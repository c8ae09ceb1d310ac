# FCOS, tiny: FCOSHead with GN, focal + IoU + centerness losses as in the paper config; tiny
# backbone (pytorch style, trained BN: the caffe-style frozen backbone only makes sense with
# ImageNet weights), 64-channel neck/head.
_base_ = ["./fcos_r50_fpn_paper.py", "./_tiny_common.py"]

model = dict(
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels={{_base_.tiny_widths}}, out_channels=64),
    bbox_head=dict(
        in_channels=64, feat_channels=64, stacked_convs=2, norm_cfg=dict(type="GN", num_groups=16, requires_grad=True)
    ),
)
train_dataloader = {{_base_.tiny_train_dataloader}}
test_dataloader = {{_base_.tiny_test_dataloader}}
val_dataloader = test_dataloader
optim_wrapper = {{_base_.tiny_optim_wrapper}}
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
