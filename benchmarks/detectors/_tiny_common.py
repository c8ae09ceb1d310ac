# Shared pieces of the `tiny` detectors. Each <detector>_tiny.py lists this file next to its paper
# config as a base (one level) and keeps the paper detector's head, assigner and losses, shrinking
# the rest so one cell of the embedded default (160 px synthetic images, a few hundred of them)
# trains in minutes on 2 CPU cores. Names are prefixed `tiny_` because mmengine forbids the same
# key in two bases.

tiny_img_scale = (160, 160)
# ResNet-18 layout with 16 base channels: stage widths 16/32/64/128 (~0.7M parameters instead of
# 11M), nothing frozen and BN trained, since there are no pretrained weights on CPU.
tiny_widths = [16, 32, 64, 128]
tiny_backbone = dict(
    _delete_=True,
    type="ResNet",
    depth=18,
    base_channels=16,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    norm_cfg=dict(type="BN", requires_grad=True),
    norm_eval=False,
    style="pytorch",
    init_cfg=None,
)
tiny_preprocessor = dict(
    _delete_=True,
    type="DetDataPreprocessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
)
tiny_train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=tiny_img_scale, keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
tiny_test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=tiny_img_scale, keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
# From scratch on CPU: AdamW converges far faster than the papers' SGD without ImageNet weights.
# 12 epochs with the papers' 1x step shape (x0.1 at epochs 8 and 11); the training script scales
# the milestones when a grid asks for another number of epochs.
tiny_epochs = 12
tiny_optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2),
)
tiny_param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type="MultiStepLR", begin=0, end=tiny_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
tiny_train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=tiny_epochs, val_interval=10**6)
tiny_batch_size = 8
tiny_train_dataloader = dict(
    batch_size=tiny_batch_size, num_workers=0, persistent_workers=False, dataset=dict(pipeline=tiny_train_pipeline)
)
tiny_test_dataloader = dict(
    batch_size=tiny_batch_size, num_workers=0, persistent_workers=False, dataset=dict(pipeline=tiny_test_pipeline)
)

# DETR family (Deformable DETR, DINO): the tiny backbone's last three stages (32/64/128 channels)
# mapped to 64-d tokens, 2 encoder + 2 decoder layers with 4 heads, AdamW at the DETR papers' lr
# ratio (4e-4 instead of 2e-4 / 1e-4: no pretrained backbone) and their tight gradient clipping.
tiny_detr_backbone = dict(tiny_backbone, out_indices=(1, 2, 3))
tiny_detr_neck = dict(in_channels=[32, 64, 128], out_channels=64, norm_cfg=dict(type="GN", num_groups=16))
tiny_detr_encoder = dict(
    num_layers=2,
    layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=64, num_heads=4), ffn_cfg=dict(embed_dims=64, feedforward_channels=256)
    ),
)
tiny_detr_decoder = dict(
    num_layers=2,
    layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=64, num_heads=4),
        cross_attn_cfg=dict(embed_dims=64, num_heads=4),
        ffn_cfg=dict(embed_dims=64, feedforward_channels=256),
    ),
)
tiny_detr_optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=4e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
)
