"""Reproduction-gap summary: does each paper's headline claim hold in the reproduction?

A claim compares two sets of cells of the same grid, A and B (e.g. ELDET vs baseline at 40 %
combined noise), paired on everything else (dataset, detector, noise, rate, seed): d = A - B per
pair. It "holds" when the mean of d is positive and a one-sided paired t-test (H1: mean d > 0)
gives p < ``ALPHA``; a sign test (binomial, zeros dropped) is reported beside it because with few
seeds the t-test's normality assumption cannot be checked. Fewer than 2 pairs: "n<2" (the
direction is still shown); no pairs: "not run". Pairs pool detectors and settings; with one seed
per cell the test is over detectors x settings, which says whether the effect is consistent across
them, not across training randomness (the table shows n and the seeds).

The published side is the paper's number for the same contrast (a gain in AP points, or a
transition-epoch difference), looked up in ``analysis/references`` so a transcription fix
propagates here; ``None`` where the paper states the claim without a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.references import load_references, lookup
from analysis.reproduction import Context

ALPHA = 0.05
PAIR_KEYS = ["dataset", "detector", "noise", "rate", "seed"]
COLUMNS = [
    "claim", "paper", "statement", "published", "published_source", "n_pairs", "mean_diff", "std_diff",
    "t", "p_t", "n_pos", "n_neg", "p_sign", "holds", "pairs",
]  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """``a`` and ``b`` select cells (column -> value; 'noisy' as noise = every non-clean setting)."""

    id: str
    paper: str
    statement: str
    a: dict
    b: dict
    published: Callable[[pd.DataFrame], float | None]
    published_source: str
    source: str = "cells"  # "cells" (metric AP) or "transitions" (a = GTBA epoch, b = CA epoch)
    pair_on: tuple[str, ...] = tuple(PAIR_KEYS)


def _gain(paper: str, table: str, method: str, base: str = "baseline", **crit) -> Callable:
    def f(refs: pd.DataFrame) -> float:
        return lookup(refs, paper=paper, table=table, method=method, metric="AP", **crit) - lookup(
            refs, paper=paper, table=table, method=base, metric="AP", **crit
        )

    return f


def _mean_of(paper: str, table: str, metric: str, rows: list[dict]) -> Callable:
    def f(refs: pd.DataFrame) -> float:
        return float(np.mean([lookup(refs, paper=paper, table=table, metric=metric, **r) for r in rows]))

    return f


_TAB2 = "rebuttal text (paper Tab. 2)"
_TERM = "rebuttal: early-learning termination epochs"
_T_BASE = {"table": "Table 1", "dataset": "coco", "detector": "gfl", "student_backbone": "r50"}

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "noise_hurts",
        "eldet",
        "40 % combined noise lowers the baseline's AP (clean minus noisy > 0)",
        {"method": "baseline", "noise": "clean"},
        {"method": "baseline", "noise": "combined", "rate": 0.4},
        lambda refs: lookup(refs, paper="eldet", table=_TAB2, method="baseline", metric="AP_drop"),
        f"eldet '{_TAB2}': mean clean-to-noisy AP drop of the baseline",
        pair_on=("dataset", "detector", "seed"),
    ),
    Claim(
        "eldet_beats_baseline_c40",
        "eldet",
        "ELDET beats the baseline at 40 % combined noise",
        {"method": "eldet", "noise": "combined", "rate": 0.4},
        {"method": "baseline", "noise": "combined", "rate": 0.4},
        _mean_of(
            "eldet",
            _TAB2,
            "AP_gain",
            [
                {"detector": d, "noise": "combined", "rate": 0.4, "method": "eldet"}
                for d in ("retinanet", "fcos", "faster_rcnn", "gfl")
            ],
        ),  # fmt: skip
        f"eldet '{_TAB2}': mean of the RetinaNet/FCOS/Faster R-CNN/GFL gains",
    ),
    Claim(
        "eldet_beats_baseline_noisy",
        "eldet",
        "ELDET beats the baseline across noisy settings (VOC)",
        {"method": "eldet", "noise": "noisy"},
        {"method": "baseline", "noise": "noisy"},
        lambda refs: lookup(refs, paper="eldet", table="rebuttal text", dataset="voc", detector="", metric="AP_gain"),
        "eldet 'rebuttal text': mean gain over 40 VOC detector x noise settings",
    ),
    Claim(
        "loc_before_cls",
        "eldet",
        "localization (CA) transitions earlier than classification (GTBA)",
        {"method": "baseline", "noise": "noisy"},
        {"method": "baseline", "noise": "noisy"},
        lambda refs: lookup(
            refs, paper="eldet", table=_TERM, dataset="voc", detector="", rate=None, setting="difference"
        ),  # fmt: skip
        f"eldet '{_TERM}': VOC average GTBA - CA epochs",
        source="transitions",
    ),
    Claim(
        "bckd_beats_baseline",
        "bckd",
        "BCKD distillation improves the GFL R50 student on COCO",
        {"method": "bckd", "detector": "gfl"},
        {"method": "baseline", "detector": "gfl"},
        _gain("bckd", method="bckd", **_T_BASE),
        "bckd Table 1: BCKD minus GFocal-R50 student (paper: R101 teacher; suite: R50 teacher = self-KD)",
    ),
    Claim(
        "bckd_self_kd",
        "bckd",
        "BCKD self-KD (teacher = student architecture) improves GFL R50",
        {"method": "bckd", "detector": "gfl"},
        {"method": "baseline", "detector": "gfl"},
        lambda refs: (
            lookup(refs, paper="bckd", table="Table 6", method="bckd", student_backbone="r50", metric="AP")
            - lookup(refs, paper="bckd", table="Table 6", method="baseline", student_backbone="r50", metric="AP")
        ),
        "bckd Table 6: self-KD minus without, R50",
    ),
    Claim(
        "sssd_beats_fixed",
        "sssd",
        "SSSD's stepwise lambda beats a fixed lambda",
        {"method": "sssd"},
        {"method": "sssd_fixed"},
        lambda refs: lookup(refs, paper="sssd", table="TL;DR", metric="AP_gain"),
        "sssd TL;DR: 'about 0.5% AP'",
    ),
    Claim(
        "od_detr_beats_deformable",
        "od_detr",
        "OD-DETR improves Deformable DETR (COCO, R50)",
        {"method": "od_detr", "detector": "deformable_detr"},
        {"method": "baseline", "detector": "deformable_detr"},
        lambda refs: (
            lookup(refs, paper="od_detr", table="Table 2", method="od_detr", setting="MD+PD+AG", metric="AP")
            - lookup(refs, paper="od_detr", table="Table 2", method="baseline", metric="AP")
        ),
        "od_detr Table 2: MD+PD+AG minus baseline (2x)",
    ),
    Claim(
        "od_detr_beats_dino",
        "od_detr",
        "OD-DETR improves DINO-4scale (COCO, R50, 12 epochs)",
        {"method": "od_detr", "detector": "dino"},
        {"method": "baseline", "detector": "dino"},
        _gain("od_detr", "Table 1", "od_detr", detector="dino", setting="4scale", epochs=12),
        "od_detr Table 1: OD-DINO-4scale minus DINO-4scale, 12 epochs",
    ),
    Claim(
        "dn_detr_beats_dino_wo_dn",
        "dn_detr",
        "denoising training improves DINO without DN (COCO, R50)",
        {"method": "dn_detr", "detector": "dino"},
        {"method": "baseline", "detector": "dino"},
        lambda refs: (
            lookup(refs, paper="dn_detr", table="Table 3", detector="dino", method="dn_detr", metric="AP")
            - lookup(refs, paper="dn_detr", table="Table 3", detector="dino", method="baseline", metric="AP")
        ),
        "dn_detr Table 3: DINO with DN (no contrastive DN) minus without",
    ),
)


def _pick(frame: pd.DataFrame, sel: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for col, want in sel.items():
        if col == "noise" and want == "noisy":
            mask &= frame["noise"] != "clean"
        elif col == "rate":
            mask &= (frame["rate"] - float(want)).abs() < 1e-9
        else:
            mask &= frame[col] == want
    return frame[mask]


def pairs(ctx: Context, claim: Claim) -> pd.DataFrame:
    """The paired values (columns: the pairing keys, a, b, d) of one claim."""
    keys = list(claim.pair_on)
    if claim.source == "transitions":
        sel = _pick(ctx.transitions, claim.a)
        out = sel[keys].assign(a=sel["GTBA"], b=sel["CA"])
    else:
        a = _pick(ctx.cells, claim.a)[keys + ["AP"]]
        b = _pick(ctx.cells, claim.b)[keys + ["AP"]]
        out = a.merge(b, on=keys, suffixes=("_a", "_b")).rename(columns={"AP_a": "a", "AP_b": "b"})
    out = out.dropna(subset=["a", "b"])
    return out.assign(d=out["a"] - out["b"]).reset_index(drop=True)


def test_pairs(d: np.ndarray) -> dict:
    """Mean/std of d, one-sided paired t-test (H1: mean d > 0), sign test, and the verdict."""
    d = np.asarray(d, dtype=float)
    n = int(d.size)
    pos, neg = int((d > 0).sum()), int((d < 0).sum())
    out = {"n_pairs": n, "mean_diff": math.nan, "std_diff": math.nan, "t": math.nan, "p_t": math.nan}
    out.update(n_pos=pos, n_neg=neg, p_sign=math.nan)
    if n == 0:
        return {**out, "holds": "not run"}
    out["mean_diff"] = float(d.mean())
    if pos + neg:
        out["p_sign"] = float(stats.binomtest(pos, pos + neg, 0.5, alternative="greater").pvalue)
    if n < 2:
        return {**out, "holds": f"n<2 (direction: {'+' if d[0] > 0 else '-' if d[0] < 0 else '0'})"}
    out["std_diff"] = float(d.std(ddof=1))
    if out["std_diff"] == 0:
        return {**out, "holds": "yes (all pairs equal)" if d[0] > 0 else "no (all pairs equal)"}
    res = stats.ttest_1samp(d, 0.0, alternative="greater")
    out["t"], out["p_t"] = float(res.statistic), float(res.pvalue)
    if out["p_t"] < ALPHA:
        verdict = "yes"
    elif out["mean_diff"] > 0:
        verdict = "not significant"
    else:
        verdict = "no"
    return {**out, "holds": verdict}


def evaluate(ctx: Context, claims: tuple[Claim, ...] = CLAIMS, *, refs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim: published contrast, reproduced paired contrast, tests and verdict."""
    refs = load_references() if refs is None else refs
    rows = []
    for claim in claims:
        try:
            published = claim.published(refs)
        except KeyError:
            published = None
        p = pairs(ctx, claim)
        tags = [f"{r.detector}/{r.noise}-{r.rate:g}/seed{r.seed}" if "noise" in p else f"{r.detector}/seed{r.seed}" for r in p.itertuples()]  # fmt: skip
        rows.append({
            "claim": claim.id, "paper": claim.paper, "statement": claim.statement,
            "published": math.nan if published is None else float(published),
            "published_source": claim.published_source, **test_pairs(p["d"].to_numpy()),
            "pairs": ", ".join(tags),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["ALPHA", "CLAIMS", "Claim", "evaluate", "pairs", "test_pairs"]
