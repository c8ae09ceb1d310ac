# RetinaNet X-101-64x4d-FPN, 1x (12 epochs): BCKD's RetinaNet teacher (Table 2: "RetinaNet-ResX101
# (Teacher) 1x", 41.0 AP) for the R-50 student. lr 0.01 at a total batch of 16 (8 GPUs x 2).
_base_ = "mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
