# Faster R-CNN R-50-FPN, 1x (12 epochs). lr 0.02 at a total batch of 16 (8 GPUs x 2).
_base_ = "mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
