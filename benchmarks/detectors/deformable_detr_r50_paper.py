# Deformable DETR R-50, 50 epochs, 300 queries, single-scale training as in mmdet
# (lr 2e-4 at a total batch of 32: 16 GPUs x 2; lr drop at epoch 40).
# Query/denoising settings stated explicitly: 300 queries, no box refinement, one stage,
# no denoising queries (DN-DETR adds them as a method plug-in).
_base_ = "mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py"

model = dict(num_queries=300, with_box_refine=False, as_two_stage=False)
train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=32)
