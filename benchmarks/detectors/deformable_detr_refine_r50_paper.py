# Deformable DETR R-50 with iterative bounding-box refinement ("Def-DETR+", OD-DETR Table 1's
# baseline; mmdet's deformable-detr-refine config): the paper config with each decoder layer
# refining the previous layer's boxes (one prediction head per layer, not shared).
_base_ = "./deformable_detr_r50_paper.py"

model = dict(with_box_refine=True)
