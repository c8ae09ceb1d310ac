# DINO, tiny: same contrastive denoising, mixed query selection and look-forward-twice box
# refinement as the paper config; 64-d embeddings, 2+2 layers, 50 matching queries and 20
# denoising queries, 3 levels from the tiny backbone (+1 extra).
_base_ = ["./dino_r50_paper.py", "./_tiny_common.py"]

model = dict(
    num_queries=50,
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_detr_backbone}},
    neck={{_base_.tiny_detr_neck}},
    encoder={{_base_.tiny_detr_encoder}},
    decoder={{_base_.tiny_detr_decoder}},
    positional_encoding=dict(num_feats=32),
    bbox_head=dict(embed_dims=64),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
    test_cfg=dict(max_per_img=50),
)
train_dataloader = {{_base_.tiny_train_dataloader}}
test_dataloader = {{_base_.tiny_test_dataloader}}
val_dataloader = test_dataloader
optim_wrapper = {{_base_.tiny_detr_optim_wrapper}}
param_scheduler = {{_base_.tiny_param_scheduler}}
train_cfg = {{_base_.tiny_train_cfg}}
auto_scale_lr = dict(enable=False)
