# RetinaNet R-50-FPN, 1x (12 epochs), as used for the noisy-label tables (ELDET: VOC/COCO) and
# BCKD's RetinaNet students. Schedule arithmetic: lr 0.01 at a total batch of 16 (8 GPUs x 2
# images); fewer GPUs scale the lr linearly (auto_scale_lr, base_batch_size=16).
_base_ = "mmdet::retinanet/retinanet_r50_fpn_1x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
