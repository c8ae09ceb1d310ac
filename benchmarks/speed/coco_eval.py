"""Speed of COCO evaluation: faster-coco-eval (our default) vs pycocotools, val2017-sized (target >= 5x).

    python -m benchmarks.speed.coco_eval [--images 5000] [--seed 0]

Generates, deterministically from the seed, a detection problem shaped like COCO val2017: 5,000
images (640x480 / 480x640), ~36,000 ground-truth boxes over the 80 COCO category ids (1..90 with
gaps), sizes spread over small / medium / large, ~1 % crowd regions, and ~100,000 detections:
jittered copies of ~80 % of the boxes (some with a wrong class, some duplicated), plus
background false positives. Both backends then run :func:`analysis.coco_eval.evaluate` on the
same in-memory inputs (validation, building the COCO objects, evaluate, accumulate) and the script
prints the seconds of each, the ratio and the largest difference between their metrics. The whole
run takes about a minute on 2 shared cores (pycocotools is most of it).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
TARGET = 5.0


def val2017_like(n_images: int = 5000, seed: int = 0) -> tuple[dict, list[dict]]:
    """(ground truth COCO dict, COCO results list) shaped like val2017 and a decent detector on it.

    Per image ~7.3 boxes (geometric-like spread: many images with few objects, some crowded ones);
    box side ~ log-uniform in [6, 400] px (about 40 % small, 30 % medium, 30 % large by area);
    detections: 80 % of the boxes found with a jitter of ~8 % of their size, 10 % of those with a
    wrong class, 15 % duplicated; ~13 background boxes per image with lower scores. Coordinates are
    on a 0.01 px grid and scores on a 1e-5 grid, as the suite's detectors write them.
    """
    rng = np.random.default_rng(seed)
    landscape = rng.random(n_images) < 0.7
    wh = np.where(landscape[:, None], [640, 480], [480, 640]).astype(np.float64)
    images = [
        {"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": int(w), "height": int(h)}
        for i, (w, h) in enumerate(wh.tolist())
    ]
    cats = np.array(COCO_CATEGORY_IDS)
    per_image = np.minimum(rng.negative_binomial(1, 1 / 8.3, n_images), 60)
    img = np.repeat(np.arange(n_images), per_image)
    n = len(img)
    iw, ih = wh[img, 0], wh[img, 1]
    side = np.exp(rng.uniform(np.log(6), np.log(400), n))
    aspect = np.exp(rng.normal(0, 0.5, n))
    bw = np.round(np.clip(side * np.sqrt(aspect), 1, iw), 2)
    bh = np.round(np.clip(side / np.sqrt(aspect), 1, ih), 2)
    bx = np.round(rng.random(n) * (iw - bw), 2)
    by = np.round(rng.random(n) * (ih - bh), 2)
    cls = cats[rng.integers(0, len(cats), n)]
    crowd = rng.random(n) < 0.01
    anns = [
        {
            "id": k + 1,
            "image_id": i + 1,
            "category_id": c,
            "bbox": [x, y, w, h],
            "area": round(w * h, 4),
            "iscrowd": int(cr),
        }
        for k, (i, c, x, y, w, h, cr) in enumerate(
            zip(img.tolist(), cls.tolist(), bx.tolist(), by.tolist(), bw.tolist(), bh.tolist(), crowd.tolist())
        )
    ]
    gt = {"images": images, "annotations": anns, "categories": [{"id": int(c), "name": f"class{c}"} for c in cats]}

    # detections of the ground truth: found, duplicated, sometimes the wrong class
    found = np.flatnonzero(rng.random(n) < 0.8)
    found = np.r_[found, found[rng.random(len(found)) < 0.15]]
    m = len(found)
    jit = rng.normal(0, 0.08, (m, 4)) * np.c_[bw[found], bh[found], bw[found], bh[found]]
    dx, dy = bx[found] + jit[:, 0], by[found] + jit[:, 1]
    dw, dh = np.maximum(bw[found] + jit[:, 2], 1), np.maximum(bh[found] + jit[:, 3], 1)
    dc = np.where(rng.random(m) < 0.9, cls[found], cats[rng.integers(0, len(cats), m)])
    ds = np.clip(rng.beta(4, 2, m), 1e-5, 1)
    # background false positives
    nb = rng.poisson(13, n_images)
    bimg = np.repeat(np.arange(n_images), nb)
    k = len(bimg)
    s = np.exp(rng.uniform(np.log(8), np.log(300), k))
    fw, fh = np.minimum(s, wh[bimg, 0]), np.minimum(s * np.exp(rng.normal(0, 0.4, k)), wh[bimg, 1])
    fx, fy = rng.random(k) * (wh[bimg, 0] - fw), rng.random(k) * (wh[bimg, 1] - fh)
    fc = cats[rng.integers(0, len(cats), k)]
    fs = np.clip(rng.beta(1.5, 5, k), 1e-5, 1)

    d_img = np.r_[img[found], bimg] + 1
    d_box = np.round(np.c_[np.r_[dx, fx], np.r_[dy, fy], np.r_[dw, fw], np.r_[dh, fh]], 2)
    d_cls, d_score = np.r_[dc, fc], np.round(np.r_[ds, fs], 5)
    order = rng.permutation(len(d_img))
    dets = [
        {"image_id": i, "category_id": c, "bbox": b, "score": sc}
        for i, c, b, sc in zip(
            d_img[order].tolist(), d_cls[order].tolist(), d_box[order].tolist(), d_score[order].tolist()
        )
    ]
    return gt, dets


def main(argv=None) -> int:
    from analysis.coco_eval import evaluate

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=5000, help="number of images (val2017: 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated problem")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    gt, dets = val2017_like(args.images, args.seed)
    print(
        f"generated {len(gt['images'])} images, {len(gt['annotations'])} boxes, {len(gt['categories'])} classes, "
        f"{len(dets)} detections in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    seconds, results = {}, {}
    for backend in ("fast", "pycocotools"):
        print(f"[coco_eval] running {backend} ...", file=sys.stderr)
        t = time.perf_counter()
        results[backend] = evaluate(gt, dets, backend=backend)
        seconds[backend] = time.perf_counter() - t
    ratio = seconds["pycocotools"] / seconds["fast"]
    diff = max(abs(results["fast"][k] - results["pycocotools"][k]) for k in results["fast"])
    print(f"val2017-sized: {len(gt['images'])} images, {len(gt['annotations'])} boxes, {len(dets)} detections")
    print("  " + "  ".join(f"{k} {v:.4f}" for k, v in results["fast"].items()))
    print(f"  faster-coco-eval: {seconds['fast']:7.2f} s")
    print(f"  pycocotools:      {seconds['pycocotools']:7.2f} s")
    print(
        f"  ratio: {ratio:.1f}x (target >= {TARGET:g}x: {'OK' if ratio >= TARGET else 'UNDER'}); max |diff| {diff:.1e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
