"""SSSD student detectors: an mmdet detector plus LGD's label-encoded implicit teacher, trained jointly.

Registered types: ``SSSDRetinaNet``, ``SSSDFCOS``, ``SSSDGFL`` (dense) and ``SSSDFasterRCNN``; the
extra constructor argument ``sssd`` holds the method parameters (see :mod:`benchmarks.methods.sssd`).
:class:`SSSDScheduleHook` tells the model the current iteration for the lambda schedule.

The implicit teacher (:class:`LabelEncodedTeacher`) follows LGD (Zhang et al., AAAI 2022;
github.com/megvii-research/LGD, ``dynamic_teacher.py`` / ``label_encoder.py``; read, not copied), which
SSSD builds on ("an implicit teacher from object labels and a feature pyramid network backbone"):

1. *label encoder*: every ground-truth box becomes a descriptor ``(x1, y1, x2, y2)/image size`` and a
   one-hot class, both scaled to ``[-1, 1]``; a PointNet-style encoder maps it to an embedding: a
   per-object MLP, the image's max-pooled object features as context, a fusing MLP (LGD also
   learns input/feature transforms (STN) in the encoder; we leave them out: our descriptors are
   already aligned boxes, and the STNs are LGD's PointNet heritage, not part of SSSD's method);
2. *appearance embedding*: per FPN level, the student's features (1x1 conv + LayerNorm-like GN +
   ReLU) are mean-pooled inside each box (the cells whose centres fall in the box; at least the cell
   holding the box centre);
3. *inter-object relation adapter* ("stuGuided" in LGD's configs): multi-head attention with the
   appearance embeddings as queries and the label embeddings of the same image as keys/values;
4. *intra-object knowledge mapper*: each object's output is painted into its box on the level's
   grid, a 3x3 conv, plus (``context_box``, LGD's ``ADD_CONTEXT_BOX`` for RetinaNet/FCOS) a
   whole-image context object added at every position, ReLU, then a 3-conv refinement with GN:
   a teacher feature map ``K_e`` of the student's shape at every level.

Training step: student features ``K = FPN(backbone(x))``; the student's detection loss on ``K``; the
teacher's detection loss on ``K_e`` through the *same* heads (keys suffixed ``_tea``: this loss is
what trains the teacher, as in LGD); and

    L_distill = (1/N) sum over positions p of all levels of JSdistance( softmax_c(IN(A(K))_p) ,
                                                                       softmax_c(IN(K_e)_p) ),
                N = positions x channels (``distill_norm: elements``, our reading; ``positions``: N = positions)
    L_total   = L_det + L_det^tea + lambda(iter) * L_distill

with ``A`` LGD's 1x1 adapter on the student side, ``IN`` instance normalisation of both maps (LGD
``base_distillator.py``), the teacher detached, the distribution over channels at each position (our
reading of SSSD's ``k^p``; see :mod:`benchmarks.methods.sssd.losses`), and ``lambda`` from
:func:`~benchmarks.methods.sssd.losses.sssd_lambda`. For the first ``pre_nondistill`` fraction of
the schedule the student side is detached (only the adapter learns from ``L_distill``): LGD's
``preNondistillIters`` (30k of its 180k-iteration 2x schedule), so the teacher is trained before
it teaches. At inference the teacher is unused; the student is a plain detector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.detectors import FCOS, GFL, FasterRCNN, RetinaNet
from mmdet.registry import HOOKS, MODELS
from mmengine.hooks import Hook
from torch import Tensor, nn

from benchmarks.methods.sssd.losses import SSSDJSLoss, feature_rows, sssd_lambda
from benchmarks.training.hook_protocol import PRIORITY_PROBE_PRODUCER

SSSD_KEYS = (
    "lam",
    "schedule",
    "factor",
    "at",
    "width",
    "pre_nondistill",
    "context_box",
    "detach_appearance",
    "heads",
    "distill_norm",
)
DISTILL_NORMS = ("elements", "positions")
"""``1/N`` of SSSD's ``L_distill``: N = feature elements (positions x channels, LGD's MSE mean) or positions."""


def _gn1(c: int) -> nn.GroupNorm:
    """GroupNorm with one group (LGD's LayerNorm over C, H, W)."""
    return nn.GroupNorm(1, c)


def inside_box_masks(boxes: Tensor, hw: tuple[int, int], input_hw: tuple[int, int]) -> Tensor:
    """``(N, h*w)`` 0/1 masks: grid cells of an ``h x w`` level whose centres lie inside each box.

    The cell holding a box's centre is always set, so a box smaller than a cell still pools something.
    """
    h, w = hw
    sy, sx = input_hw[0] / h, input_hw[1] / w
    ys = (torch.arange(h, device=boxes.device, dtype=boxes.dtype) + 0.5) * sy
    xs = (torch.arange(w, device=boxes.device, dtype=boxes.dtype) + 0.5) * sx
    x1, y1, x2, y2 = (boxes[:, i, None, None] for i in range(4))
    inside = (
        (ys[None, :, None] >= y1) & (ys[None, :, None] <= y2) & (xs[None, None, :] >= x1) & (xs[None, None, :] <= x2)
    )
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2 / sy).long().clamp(0, h - 1)
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2 / sx).long().clamp(0, w - 1)
    inside[torch.arange(len(boxes), device=boxes.device), cy, cx] = True
    return inside.reshape(len(boxes), h * w).to(boxes.dtype)


class LabelEncodedTeacher(nn.Module):
    """LGD-style implicit teacher: ground-truth labels + student FPN features -> teacher FPN features."""

    def __init__(
        self, channels: int, num_classes: int, num_heads: int = 8, context_box: bool = True, detach_appearance=False
    ):
        super().__init__()
        self.num_classes = num_classes
        self.context_box = context_box
        self.detach_appearance = detach_appearance
        d = 4 + num_classes
        self.obj_local = nn.Sequential(nn.Linear(d, 64), nn.LayerNorm(64), nn.ReLU())
        self.obj_global = nn.Linear(64, 2 * channels)
        self.fuse = nn.Sequential(nn.Linear(64 + 2 * channels, channels), nn.LayerNorm(channels), nn.ReLU())
        self.label_proj = nn.Sequential(nn.Linear(channels, channels), nn.LayerNorm(channels), nn.ReLU())
        self.appearance_proj = nn.Sequential(nn.Conv2d(channels, channels, 1), _gn1(channels), nn.ReLU())
        self.attn = nn.MultiheadAttention(channels, num_heads, batch_first=True)
        self.inst_proj = nn.Linear(channels, channels)
        self.ctx_proj = nn.Linear(channels, channels)
        self.render = nn.Conv2d(channels, channels, 3, padding=1)
        self.refine = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), _gn1(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), _gn1(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), _gn1(channels),
        )  # fmt: skip

    def descriptors(self, boxes: Tensor, labels: Tensor, input_hw: tuple[int, int]) -> Tensor:
        """``(N, 4 + K)`` descriptors in ``[-1, 1]``: normalised box corners and the one-hot class."""
        h, w = input_hw
        scale = boxes.new_tensor([w, h, w, h])
        box = (boxes / scale).clamp(0, 1)
        onehot = F.one_hot(labels.long(), self.num_classes).to(boxes.dtype)
        return torch.cat([box, onehot], dim=1) * 2 - 1

    def encode_labels(self, desc: Tensor) -> Tensor:
        """PointNet-style label embeddings ``(N, C)``: own features + the image's max-pooled context."""
        local = self.obj_local(desc)
        glob = self.obj_global(local).max(dim=0, keepdim=True).values.expand(len(desc), -1)
        return self.label_proj(self.fuse(torch.cat([local, glob], dim=1)))

    def forward(self, feats: tuple[Tensor, ...], batch_gt_instances, input_hw: tuple[int, int]) -> tuple[Tensor, ...]:
        app = [self.appearance_proj(f.detach() if self.detach_appearance else f) for f in feats]
        out_levels = [[] for _ in feats]
        for b, gt in enumerate(batch_gt_instances):
            boxes, labels = gt.bboxes, gt.labels
            boxes = boxes.tensor if hasattr(boxes, "tensor") else boxes
            n_obj = len(boxes)
            desc = self.descriptors(boxes, labels, input_hw)
            if self.context_box:  # the whole image as one more object, with no class
                ctx = desc.new_full((1, desc.shape[1]), -1.0)
                ctx[0, 2:4] = 1.0
                desc = torch.cat([desc, ctx])
                boxes = torch.cat([boxes, boxes.new_tensor([[0.0, 0.0, input_hw[1], input_hw[0]]])])
            label_emb = self.encode_labels(desc) if len(desc) else None
            for lvl, a in enumerate(app):
                c, h, w = a.shape[1:]
                if label_emb is None:
                    out_levels[lvl].append(a.new_zeros(c, h, w))
                    continue
                masks = inside_box_masks(boxes, (h, w), input_hw)  # (N, hw)
                flat = a[b].reshape(c, h * w)
                pooled = masks @ flat.T / masks.sum(dim=1, keepdim=True).clamp_min(1.0)  # (N, C)
                mixed = self.attn(pooled[None], label_emb[None], label_emb[None], need_weights=False)[0][0]
                inst = self.inst_proj(mixed[:n_obj])  # (n_obj, C)
                painted = (inst.T @ masks[:n_obj]).reshape(c, h, w)
                painted = self.render(painted[None])[0]
                if self.context_box:
                    painted = painted + self.ctx_proj(mixed[n_obj])[:, None, None]
                out_levels[lvl].append(F.relu(painted))
        return tuple(self.refine(torch.stack(level)) for level in out_levels)


def spatial_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Instance normalisation (per sample and channel, over the positions, no affine): what
    ``F.instance_norm`` computes, also for a 1 x 1 level, which it refuses in training mode (the
    128 px default's P7) and which normalises to zero here."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def js_distill(
    student: tuple[Tensor, ...], teacher: tuple[Tensor, ...], loss: SSSDJSLoss, norm: str = "elements"
) -> Tensor:
    """SSSD's ``L_distill = 1/N sum_p D_JS(k^p || k_e^p)^(1/2)`` over all positions p of all levels.

    ``k^p``: the channel vector at position p as a distribution (softmax over channels). ``norm``
    is our reading of N: ``"elements"`` (default) N = positions x channels, the element count that
    LGD's ``F.mse_loss`` averages over and SSSD's loss replaces, so ``L_distill`` is the mean distance
    per position divided by C; ``"positions"`` N = positions (the mean distance per position). See
    :mod:`benchmarks.methods.sssd` for why "elements" is the reading that matches the paper's scale.
    """
    if norm not in DISTILL_NORMS:
        raise ValueError(f"sssd: distill_norm must be one of {DISTILL_NORMS}, got {norm!r}")
    s_rows = torch.cat([feature_rows(spatial_norm(s)) for s in student])
    t_rows = torch.cat([feature_rows(spatial_norm(t.detach())) for t in teacher])
    per_position = loss(s_rows, t_rows)
    return per_position / s_rows.shape[1] if norm == "elements" else per_position


class SSSDMixin:
    """Adds SSSD's implicit teacher, adapter and scheduled JS distillation to an mmdet detector."""

    def __init__(self, *args, sssd: dict, **kwargs):
        super().__init__(*args, **kwargs)
        unknown = set(sssd) - set(SSSD_KEYS)
        if unknown:
            raise ValueError(f"sssd: unknown keys {sorted(unknown)}")
        self.sssd_cfg = dict(sssd)
        channels = int(kwargs["neck"]["out_channels"])
        head = self.roi_head.bbox_head if hasattr(self, "roi_head") else self.bbox_head
        heads = int(sssd.get("heads", 8))
        self.sssd_teacher = LabelEncodedTeacher(
            channels,
            head.num_classes,
            num_heads=heads if channels % heads == 0 else 1,
            context_box=bool(sssd.get("context_box", True)),
            detach_appearance=bool(sssd.get("detach_appearance", False)),
        )
        self.sssd_adapter = nn.Conv2d(channels, channels, 1)
        self.sssd_js = SSSDJSLoss()
        self.sssd_iter, self.sssd_max_iter = 0, 1  # set every iteration by SSSDScheduleHook

    def sssd_lambda_now(self) -> float:
        c = self.sssd_cfg
        it = min(max(int(self.sssd_iter), 0), int(self.sssd_max_iter))
        return sssd_lambda(
            it, int(self.sssd_max_iter), c.get("schedule", "step"), lam=float(c.get("lam", 75.0)),
            factor=float(c.get("factor", 10.0)), at=float(c.get("at", 2 / 3)), width=float(c.get("width", 1 / 6)),
        )  # fmt: skip

    def _det_losses(self, feats, batch_inputs, batch_data_samples) -> dict:
        """The detector's own losses computed on ``feats`` instead of ``extract_feat(batch_inputs)``."""
        self.__dict__["extract_feat"] = lambda _inputs: feats
        try:
            return super().loss(batch_inputs, batch_data_samples)
        finally:
            del self.__dict__["extract_feat"]

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        feats = self.extract_feat(batch_inputs)
        losses = self._det_losses(feats, batch_inputs, batch_data_samples)
        input_hw = tuple(batch_inputs.shape[-2:])
        gts = [s.gt_instances for s in batch_data_samples]
        t_feats = self.sssd_teacher(feats, gts, input_hw)
        for key, value in self._det_losses(t_feats, batch_inputs, batch_data_samples).items():
            losses[f"{key}_tea"] = value
        warm = int(self.sssd_iter) < round(float(self.sssd_cfg.get("pre_nondistill", 0.0)) * int(self.sssd_max_iter))
        student = tuple(self.sssd_adapter(f.detach() if warm else f) for f in feats)
        lam = self.sssd_lambda_now()
        norm = self.sssd_cfg.get("distill_norm", "elements")
        losses["loss_sssd_distill"] = lam * js_distill(student, t_feats, self.sssd_js, norm)
        losses["sssd_lambda"] = torch.tensor(lam, device=batch_inputs.device)
        return losses


@MODELS.register_module()
class SSSDRetinaNet(SSSDMixin, RetinaNet):
    """RetinaNet with SSSD (paper's COCO table)."""


@MODELS.register_module()
class SSSDFCOS(SSSDMixin, FCOS):
    """FCOS with SSSD (paper's COCO table)."""


@MODELS.register_module()
class SSSDGFL(SSSDMixin, GFL):
    """GFL with SSSD (not in the paper; same dense-head integration)."""


@MODELS.register_module()
class SSSDFasterRCNN(SSSDMixin, FasterRCNN):
    """Faster R-CNN with SSSD (paper's COCO table): teacher features go through the RPN and RoI head."""


@HOOKS.register_module()
class SSSDScheduleHook(Hook):
    """Before every training iteration, give the SSSD model ``runner.iter`` and ``runner.max_iters``.

    Both come from the runner, so a resumed run continues the lambda schedule where it stopped.
    """

    priority = (
        PRIORITY_PROBE_PRODUCER  # lambda(iter) set before each iteration; before the probe in after_train_epoch order
    )

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        model.sssd_iter, model.sssd_max_iter = int(runner.iter), int(runner.max_iters)


#: mmdet model type -> the registered SSSD subclass (what ``plugin.use_variant`` swaps in)
MODEL_TYPES = {"RetinaNet": "SSSDRetinaNet", "FCOS": "SSSDFCOS", "GFL": "SSSDGFL", "FasterRCNN": "SSSDFasterRCNN"}
