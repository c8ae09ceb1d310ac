# FCOS R-50-caffe-FPN with GN head, 1x (12 epochs): mmdet's reference FCOS for the noisy-label
# tables. lr 0.01 at a total batch of 16 (8 GPUs x 2), 500 warm-up iters at lr/3.
_base_ = "mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
