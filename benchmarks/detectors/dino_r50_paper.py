# DINO-4scale R-50, 12 epochs (lr 1e-4 at a total batch of 16: 8 GPUs x 2; drop at epoch 11).
# Query/denoising settings stated explicitly: 900 matching queries, contrastive denoising with
# label noise 0.5, box noise 1.0, dynamic groups with 100 denoising queries.
_base_ = "mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py"

model = dict(
    num_queries=900,
    dn_cfg=dict(
        label_noise_scale=0.5, box_noise_scale=1.0, group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)
    ),
)
train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
