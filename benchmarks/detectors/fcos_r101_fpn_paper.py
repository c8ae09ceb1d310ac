# FCOS R-101-caffe-FPN with GN head, multi-scale 2x (24 epochs): BCKD's FCOS teacher (Table 2:
# "FCOS-Res101 (Teacher) 2x", 40.8 AP) for the R-50 student. lr 0.01 at a total batch of 16.
_base_ = "mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py"

train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)
