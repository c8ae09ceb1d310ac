# GFL R-101-FPN, multi-scale 2x (24 epochs): BCKD's GFL teacher (Tables 1, 3-5: "GFocal-Res101
# (Teacher) 2x", 44.9 AP). lr 0.01 at a total batch of 16 (8 GPUs x 2).
_base_ = "mmdet::gfl/gfl_r101_fpn_ms-2x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
