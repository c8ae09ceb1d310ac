"""ADELE detectors: mmdet's RetinaNet, FCOS, GFL and Faster R-CNN plus the consistency term.

Each registered class (``AdeleRetinaNet``, ``AdeleFCOS``, ``AdeleGFL``, ``AdeleFasterRCNN``) is the
mmdet detector with :class:`AdeleConsistencyMixin` in front; inference is unchanged.

Views. ADELE predicts three scales (0.7, 1, 1.5) and interpolates the maps back to one grid. We use
two views, the batch and its horizontal mirror, because (i) a mirrored dense map flipped back lines
up with the original position by position (up to the sub-stride offset of the anchor centres), so no
interpolation of anchor-indexed maps across FPN levels is needed, which would mix anchors of
different sizes; (ii) it costs one extra forward/backward instead of two; (iii) ADELE itself uses
flipping as the test-time augmentation of its label updates. The mirror is taken of the padded
batch tensor after the data preprocessor, so padding is mirrored too and shapes match exactly.

Which map. The classification output of the dense head: ``bbox_head`` for single-stage detectors,
``rpn_head`` (objectness, K = 1) for Faster R-CNN, whose RoI head sees view-dependent proposals and is
left out. The original view's map is captured with a forward hook while mmdet computes its own
losses, so the original view is not run twice. The flipped view gets no detection loss (the
dataloader's RandomFlip already supervises mirrored images); ADELE's extra views do get a CE term.
The term is logged as ``loss_adele_cons`` = ``lambda`` x :func:`bernoulli_consistency`.
"""

from __future__ import annotations

import torch
from mmdet.models.detectors import FCOS, GFL, FasterRCNN, RetinaNet
from mmdet.registry import MODELS

from benchmarks.methods.adele.losses import bernoulli_consistency, image_index_of_level, rows_of_level


class AdeleConsistencyMixin:
    """Adds ``loss_adele_cons`` (ADELE's multi-view consistency) to the detector's training losses."""

    def __init__(self, *args, adele_consistency: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = dict(adele_consistency or {})
        self.adele_lambda = float(cfg.get("lambda_cons", 1.0))
        self.adele_tau = float(cfg.get("tau", 0.8))

    def _adele_head(self):
        return self.rpn_head if hasattr(self, "rpn_head") else self.bbox_head

    def _adele_k(self) -> int:
        head = self._adele_head()
        return int(getattr(head, "cls_out_channels", getattr(head, "num_classes", 1)))

    def _adele_rows(self, cls_scores) -> torch.Tensor:
        """All levels' classification logits as [rows, K] (K = the head's sigmoid channels per anchor)."""
        k = self._adele_k()
        return torch.cat([rows_of_level(level, k) for level in cls_scores], dim=0)

    def _adele_images(self, cls_scores) -> torch.Tensor:
        """The image index of every row of :meth:`_adele_rows` (ADELE's mask is one per image)."""
        k = self._adele_k()
        return torch.cat([image_index_of_level(level, k) for level in cls_scores], dim=0)

    def loss(self, batch_inputs, batch_data_samples):
        if self.adele_lambda <= 0:
            return super().loss(batch_inputs, batch_data_samples)
        head = self._adele_head()
        captured = []
        handle = head.register_forward_hook(lambda _m, _i, out: captured.append(out[0]))
        try:
            losses = super().loss(batch_inputs, batch_data_samples)
        finally:
            handle.remove()
        if not captured:
            return losses
        flipped = head(self.extract_feat(batch_inputs.flip(-1)))[0]
        views = [self._adele_rows(captured[0]), self._adele_rows([level.flip(-1) for level in flipped])]
        cons, _ = bernoulli_consistency(views, tau=self.adele_tau, images=self._adele_images(captured[0]))
        losses["loss_adele_cons"] = self.adele_lambda * cons
        return losses


BASES = {"RetinaNet": RetinaNet, "FCOS": FCOS, "GFL": GFL, "FasterRCNN": FasterRCNN}
MODEL_TYPES: dict[str, str] = {}  # mmdet model type -> registered ADELE subclass
for _name, _base in BASES.items():
    _cls = type(f"Adele{_name}", (AdeleConsistencyMixin, _base), {"__doc__": f"{_name} + ADELE consistency."})
    MODELS.register_module(name=_cls.__name__, module=_cls)
    MODEL_TYPES[_name] = _cls.__name__
