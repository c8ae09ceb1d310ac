# DINO, tiny: same contrastive denoising, mixed query selection and look-forward-twice box
# refinement as the paper config; 64-d embeddings, 2+2 layers, 50 matching queries and 20
# denoising queries, 3 levels from the tiny backbone (+1 extra).
_base_ = ["./dino_r50_paper.py", "./_tiny_common.py"]

model = dict(
    num_queries=50,
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone=dict(
        _delete_=True,
        type="ResNet",
        depth=18,
        base_channels=16,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=False,
        style="pytorch",
        init_cfg=None,
    ),
    neck=dict(in_channels=[32, 64, 128], out_channels=64, norm_cfg=dict(type="GN", num_groups=16)),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=64, num_heads=4), ffn_cfg=dict(embed_dims=64, feedforward_channels=256)
        ),
    ),
    decoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=64, num_heads=4),
            cross_attn_cfg=dict(embed_dims=64, num_heads=4),
            ffn_cfg=dict(embed_dims=64, feedforward_channels=256),
        ),
    ),
    positional_encoding=dict(num_feats=32),
    bbox_head=dict(embed_dims=64),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
    test_cfg=dict(max_per_img=50),
)
train_dataloader = dict(
    batch_size={{_base_.tiny_batch_size}},
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline={{_base_.tiny_train_pipeline}}),
)
test_dataloader = dict(
    batch_size={{_base_.tiny_batch_size}},
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline={{_base_.tiny_test_pipeline}}),
)
val_dataloader = test_dataloader
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=4e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
)
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
