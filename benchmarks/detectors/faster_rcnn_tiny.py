# Faster R-CNN, tiny: RPN + shared 2-fc RoI head, same assigners/samplers/losses as the paper
# config; tiny widths (RoI fc 256 instead of 1024), RPN anchor scale 8 -> 4 (32 px base anchors at
# stride 8) for 8-80 px objects; fewer RPN proposals (2000 -> 300 in training, 1000 -> 100 at test,
# where the RoI head's inference was 60 % of a probed epoch) and sampled RoIs (512 -> 128 per
# image) for 160 px images with <= 7 objects; RoIAlign with 2x2 samples per bin (sampling_ratio 0 =
# adaptive made RoIAlign's CPU backward 45 % of an iteration).
_base_ = ["./faster_rcnn_r50_fpn_paper.py", "./_tiny_common.py"]

model = dict(
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels={{_base_.tiny_widths}}, out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64, anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=64, fc_out_channels=256),
    ),
    train_cfg=dict(rpn_proposal=dict(nms_pre=600, max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)),
)
train_dataloader = {{_base_.tiny_train_dataloader}}
test_dataloader = {{_base_.tiny_test_dataloader}}
val_dataloader = test_dataloader
optim_wrapper = {{_base_.tiny_optim_wrapper}}
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
