"""DN-DETR (Li et al., CVPR 2022; ``shared/papers/dn_detr.txt``): query denoising for DETR training.

Denoising groups built from noised ground truth are decoded next to the matching queries and
trained to reconstruct the original objects, which bypasses the unstable bipartite matching for
part of the supervision. The model is ``benchmarks.methods.dn_detr.model.DNDeformableDETR`` (see
its docstring for the architecture choices); the noise and the attention mask are the plain
functions of ``benchmarks.methods.dn_detr.queries``.

Parameters (named as in the paper, Sec. 4.3-4.4 and Sec. 5.1, paper values as defaults):

* ``lambda1`` = 0.4: center-shift scale (|dx| < lambda1 * w / 2);
* ``lambda2`` = 0.4: box-scale noise (w' in [(1 - lambda2) w, (1 + lambda2) w]);
* ``gamma`` = 0.2: label-flip ratio;
* ``num_groups`` = 5: denoising groups. The paper's appendix (implementation details): "For
  DN-Deformable-DETR with only deformable encoder, we use 10 denoising groups. For
  DN-Deformable-DETR++ with deformable attention in both encoder and decoder, we use 5 denoising
  groups" (and Sec. 4.6: DN-Deformable-DETR "only add[s] deformable attention to Transformer
  encoders"). mmdet's Deformable DETR, which this plug-in extends, has deformable attention in both
  encoder and decoder, i.e. the ++ architecture, so 5 is the paper's value for it (also the paper's
  general default, "Unless otherwise specified, we use 5 denoising groups"); ``num_groups: 10`` is
  the setting of the encoder-only DN-Deformable-DETR.

Detector: mmdet's Deformable DETR (single stage, no box refinement: the tiny and paper configs of
this suite). Queries: the paper makes every query a 4-d anchor box (DAB-DETR's formulation); here
the reference points stay mmdet's 2-d points (cx, cy) and the noised width and height of a
denoising query enter through its positional query only (the sine embedding of the 4-d box through
an MLP), so the matching part stays the baseline's exactly (details in ``model.py``). DINO already trains with (contrastive) denoising, so it is rejected rather than
denoised twice; select the detector in the grid with ``detectors: [deformable_detr]``.

Matching stability (IS) is recorded for every DETR-family cell by the suite's
``MatchingStabilityHook``; nothing method-specific is needed for it.
"""

from __future__ import annotations

from benchmarks.errors import InputError
from benchmarks.methods.common.plugin import register, use_variant

NAME = "dn_detr"
FAMILIES = frozenset({"detr"})
DEFAULTS = {"lambda1": 0.4, "lambda2": 0.4, "gamma": 0.2, "num_groups": 5}
MODEL_MODULE = "benchmarks.methods.dn_detr.model"


def apply(cfg, params: dict, ctx):
    """Swap the detector for ``DNDeformableDETR`` with the given noise settings."""
    check(params, ctx.detector)
    if cfg.model.get("with_box_refine") or cfg.model.get("as_two_stage"):
        raise InputError(f"dn_detr supports single-stage Deformable DETR without box refinement ('{ctx.detector}')")
    register(cfg, MODEL_MODULE)
    use_variant(cfg, NAME, ctx.detector, MODEL_MODULE)
    cfg.model.dn_cfg = dict(
        num_groups=int(params["num_groups"]),
        lambda1=float(params["lambda1"]),
        lambda2=float(params["lambda2"]),
        gamma=float(params["gamma"]),
    )
    return cfg


def check(params: dict, detector: str) -> None:
    """Plan-time check of DN-DETR's parameters and detector (see ``benchmarks.methods``)."""
    from benchmarks.methods import in_range, require, require_type

    require_type(
        NAME, detector, ("DeformableDETR",),
        "DN-DETR plugs into Deformable DETR (DINO already trains with contrastive denoising queries)",
    )  # fmt: skip
    for key in ("lambda1", "lambda2", "gamma"):
        require(in_range(params[key], 0, 1, high_open=True), NAME, key, params[key], "a number in [0, 1)")
    groups = params["num_groups"]
    require(isinstance(groups, int) and not isinstance(groups, bool) and groups >= 0, NAME, "num_groups", groups, "an integer >= 0")  # fmt: skip
