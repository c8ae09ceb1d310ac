# GFL teacher, tiny: the tiny GFL (head, anchors with octave_base_scale 4, ATSS assignment, losses,
# data and 12-epoch schedule: same priors, so a BCKD student is compared with it location by
# location) with a twice-as-wide backbone (ResNet-18 layout, base 32 channels: stages 32/64/128/256,
# ~4x the student backbone's FLOPs, 3.7M instead of 1.1M parameters) and a 96-channel neck/head: the
# tiny counterpart of the paper's R-101 teacher (gfl_r101_fpn_paper.py) for an R-50 student.
_base_ = ["./gfl_tiny.py"]

model = dict(
    backbone=dict(base_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=96),
    bbox_head=dict(in_channels=96, feat_channels=96),
)
