# Deformable DETR with iterative box refinement ("Def-DETR+"), tiny: the tiny Deformable DETR with
# each decoder layer refining the previous layer's boxes.
_base_ = "./deformable_detr_tiny.py"

model = dict(with_box_refine=True)
