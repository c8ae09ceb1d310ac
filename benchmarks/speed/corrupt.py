"""How fast annotation corruption is on a COCO-train-sized file (target: end to end <= 4 s).

    python -m benchmarks.speed.corrupt [--annotations 860000] [--images 118000] [--subset 50000]

Builds a synthetic COCO dict in memory shaped like COCO train2017 (118k images of 640x480 or
480x640, ~860k boxes, the 80 COCO category ids 1..90 with gaps, 0.01 px coordinates) and times

(a) the corruption itself (``combined`` noise at rate 0.4, the heaviest setting): the numpy core
    ``corrupt_arrays`` alone and the whole ``corrupt_coco`` call (validation, column extraction,
    noise, editing the annotation dicts, stats) plus the manifest CSV;
(c) ``corrupt_coco`` against a straightforward per-annotation Python loop (written below as the
    reference, same noise model) on the first ``--subset`` annotations, with the speed ratio;
(b) last, the end-to-end CLI, ``python -m benchmarks.data.corrupt`` in a subprocess on the file
    written to a temporary directory, split into the stages the CLI logs (JSON read, validation +
    corruption, writing the three files with the manifest built on a second thread alongside),
    next to the bare start of an interpreter with the CLI's imports in the same run (how loaded
    the machine is).

The last line is the end-to-end seconds against the 4 s target, with the CPU seconds of the
command (user + system, both threads): on a shared machine the wall time swings with the load. The whole run takes well under a
minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.data import corrupt as C
from benchmarks.data.coco import dump_coco

REPO = Path(__file__).resolve().parents[2]
TARGET_S = 4.0
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def synthetic_coco(n_images: int, n_annotations: int, seed: int = 0) -> dict:
    """A COCO-shaped dict: every image 640x480 or 480x640, boxes inside their image."""
    rng = np.random.default_rng(seed)
    landscape = rng.random(n_images) < 0.7
    wh = np.where(landscape[:, None], [640, 480], [480, 640])
    images = [
        {"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": int(w), "height": int(h)}
        for i, (w, h) in enumerate(wh.tolist())
    ]
    img = rng.integers(0, n_images, size=n_annotations)
    iw, ih = wh[img, 0], wh[img, 1]
    bw = np.round(np.clip(rng.lognormal(3.5, 1.0, n_annotations), 1, iw), 2)
    bh = np.round(np.clip(rng.lognormal(3.5, 1.0, n_annotations), 1, ih), 2)
    bx = np.round(rng.random(n_annotations) * (iw - bw), 2)
    by = np.round(rng.random(n_annotations) * (ih - bh), 2)
    cats = np.array(COCO_CATEGORY_IDS)[rng.integers(0, len(COCO_CATEGORY_IDS), size=n_annotations)]
    cols = zip(img.tolist(), cats.tolist(), bx.tolist(), by.tolist(), bw.tolist(), bh.tolist())
    anns = [
        {"id": k + 1, "image_id": i + 1, "category_id": c, "bbox": [x, y, w, h], "area": round(w * h, 4), "iscrowd": 0}
        for k, (i, c, x, y, w, h) in enumerate(cols)
    ]
    categories = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in COCO_CATEGORY_IDS]
    return {"images": images, "annotations": anns, "categories": categories}


def subset(coco: dict, n: int) -> dict:
    """The first ``n`` annotations with the images they use."""
    anns = coco["annotations"][:n]
    used = {a["image_id"] for a in anns}
    return {**coco, "images": [im for im in coco["images"] if im["id"] in used], "annotations": anns}


def loop_noise(anns: list[dict], size: dict, cat_ids: list[int], rate: float, seed: int, beta: float):
    """Per-annotation Python version of the ``combined`` noise model alone (the numpy core's job).

    Same model as benchmarks.data.corrupt: round-half-up selection, uniform flip over the other
    classes, centre shift / size scale, 0.01 px grid, clip, 1 px minimum. Returns, per annotation,
    the new class, the new box and the action.
    """
    rnd = random.Random(seed)
    n = len(anns)
    k = min(n, math.floor(rate * n + 0.5))
    flip = set(rnd.sample(range(n), k))
    move = set(rnd.sample(range(n), k))
    result = []
    for i, a in enumerate(anns):
        cat, box, action = a["category_id"], a["bbox"], []
        if i in flip:
            cat = rnd.choice([c for c in cat_ids if c != cat])
            action.append("cls")
        if i in move:
            x, y, w, h = box
            img_w, img_h = size[a["image_id"]]
            cx = x + w / 2 + rnd.uniform(-beta, beta) * w
            cy = y + h / 2 + rnd.uniform(-beta, beta) * h
            nw = w * (1 + rnd.uniform(-beta, beta))
            nh = h * (1 + rnd.uniform(-beta, beta))
            spans = []
            for lo, hi, ext in ((cx - nw / 2, cx + nw / 2, img_w), (cy - nh / 2, cy + nh / 2, img_h)):
                ext = math.floor(ext * 100)
                lo, hi = min(max(round(lo * 100), 0), ext), min(max(round(hi * 100), 0), ext)
                m = min(100, ext)
                if hi - lo < m:
                    lo = min(max((lo + hi - m) // 2, 0), ext - m)
                    hi = lo + m
                spans.append((lo / 100, (hi - lo) / 100))
            box = [spans[0][0], spans[1][0], spans[0][1], spans[1][1]]
            action.append("loc")
        result.append((cat, box, "+".join(action) or "kept"))
    return result


def loop_reference(coco: dict, rate: float, seed: int, beta: float) -> tuple[dict, list[str]]:
    """The whole job as a per-annotation loop: check references and boxes, apply
    :func:`loop_noise`, copy the changed annotation dicts and build the manifest lines."""
    size = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    cat_ids = sorted(c["id"] for c in coco["categories"])
    known = set(cat_ids)
    anns = coco["annotations"]
    for a in anns:
        x, y, w, h = a["bbox"]
        if a["image_id"] not in size or a["category_id"] not in known or w <= 0 or h <= 0:
            raise ValueError(f"bad annotation {a['id']}")
    out, manifest = [], []
    for a, (cat, box, action) in zip(anns, loop_noise(anns, size, cat_ids, rate, seed, beta)):
        new = a
        if action != "kept":
            new = {**a, "category_id": cat, "bbox": box}
            if "loc" in action:
                new["area"] = round(box[2] * box[3], 4)
        out.append(new)
        x, y, w, h = a["bbox"]
        manifest.append(
            f"{a['id']},{a['image_id']},{a['category_id']},{cat},{x!r},{y!r},{w!r},{h!r},"
            f"{box[0]!r},{box[1]!r},{box[2]!r},{box[3]!r},{action}"
        )
    return {**coco, "annotations": out}, manifest


def _timed(fn, *args, **kwargs):
    """(result, seconds); the cyclic GC is paused, as the CLI does, so timings do not depend on
    when a collection over the million objects in memory happens to fall."""
    with C.gc_paused():
        t = time.perf_counter()
        res = fn(*args, **kwargs)
        return res, time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--annotations", type=int, default=860_000, help="annotations of the synthetic file")
    p.add_argument("--images", type=int, default=118_000, help="images of the synthetic file")
    p.add_argument("--subset", type=int, default=50_000, help="annotations for the loop-vs-numpy comparison")
    p.add_argument("--rate", type=float, default=0.4, help="combined noise rate")
    p.add_argument("--no-cli", action="store_true", help="skip (b), the end-to-end CLI run")
    args = p.parse_args(argv)

    coco, t_build = _timed(synthetic_coco, args.images, args.annotations)
    n = len(coco["annotations"])
    print(f"synthetic COCO: {len(coco['images'])} images, {n} annotations, 80 classes (built in {t_build:.1f} s)")

    res, t_coco = _timed(C.corrupt_coco, coco, "combined", args.rate, 0)
    known = np.array(COCO_CATEGORY_IDS)
    _, t_core = _timed(C.corrupt_arrays, res.arrays, known, "combined", args.rate, 0)
    _, t_manifest = _timed(C.manifest_csv, res.arrays, res.corruption)
    print(f"(a) corruption, combined {args.rate:g}: numpy core {t_core:.2f} s; corrupt_coco (validate + noise + dicts) "
          f"{t_coco:.2f} s; manifest CSV {t_manifest:.2f} s; total {t_coco + t_manifest:.2f} s")  # fmt: skip
    print(
        f"    realised rates {res.stats['realised_rates']}, mean IoU of perturbed boxes {res.stats['mean_iou_loc']:.3f}"
    )

    small = subset(coco, min(args.subset, n))
    m = len(small["annotations"])
    size = {im["id"]: (im["width"], im["height"]) for im in small["images"]}
    sm_arr = C.corrupt_coco(small, "combined", 0.0, 0).arrays
    noise_ref, t_loop_core = _timed(
        loop_noise, small["annotations"], size, COCO_CATEGORY_IDS, args.rate, 0, C.DEFAULT_BETA
    )
    vec_core, t_vec_core = _timed(C.corrupt_arrays, sm_arr, known, "combined", args.rate, 0)
    (ref, ref_manifest), t_loop = _timed(loop_reference, small, args.rate, 0, C.DEFAULT_BETA)
    vec, t_vec = _timed(C.corrupt_coco, small, "combined", args.rate, 0)
    _, t_vec_m = _timed(C.manifest_csv, vec.arrays, vec.corruption)
    t_vec += t_vec_m
    k = C.n_selected(m, args.rate)
    assert sum("loc" in r[2] for r in noise_ref) == int(vec_core.loc.sum()) == k
    assert sum("cls" in line.rsplit(",", 1)[1] for line in ref_manifest) == int(vec.corruption.cls.sum()) == k
    print(f"(c) loop vs numpy on {m} annotations, noise model only: loop {t_loop_core:.2f} s, numpy {t_vec_core:.3f} s, "
          f"speed ratio {t_loop_core / t_vec_core:.0f}x")  # fmt: skip
    print(f"    whole job (checks + noise + dicts + manifest): loop {t_loop:.2f} s, "
          f"numpy {t_vec:.2f} s, speed ratio {t_loop / t_vec:.1f}x; loop extrapolated to {n}: {t_loop * n / m:.1f} s")  # fmt: skip
    summary = {"n": n, "core_s": t_core, "corrupt_coco_s": t_coco, "manifest_s": t_manifest,
               "loop_over_numpy_core": t_loop_core / t_vec_core, "loop_over_numpy_job": t_loop / t_vec}  # fmt: skip
    if args.no_cli:
        print(json.dumps(summary))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean.json"
        _, t_write = _timed(dump_coco, clean, coco)
        del coco, res, small, ref, vec  # the subprocess gets the memory and the cache
        # the interpreter and the CLI's imports alone, in the same run: how loaded the machine is
        _, t_start = _timed(subprocess.run, [sys.executable, "-c", "import benchmarks.data.corrupt, numpy, pyarrow.csv"],
                            cwd=REPO, check=True)  # fmt: skip
        cmd = [sys.executable, "-m", "benchmarks.data.corrupt", "--in", str(clean), "--out", str(Path(tmp) / "noisy.json"),
               "--noise", "combined", "--rate", str(args.rate), "--seed", "0"]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out, t_cli = _timed(subprocess.run, cmd, cwd=REPO, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_cli = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        mb = clean.stat().st_size / 1e6
    stages = dict(re.findall(r"\[corrupt\] (read|validated|built|wrote) .*\(([0-9.]+) s[,)]", out.stderr))
    print(f"(b) end-to-end CLI on a {mb:.0f} MB file (clean input written by dump_coco in {t_write:.1f} s):")
    for line in out.stderr.splitlines():
        print(f"    {line}")
    summary.update(
        cli_s=t_cli, cli_cpu_s=cpu_cli, startup_s=t_start, **{f"cli_{k}_s": float(v) for k, v in stages.items()}
    )
    print(json.dumps(summary))
    parts = ", ".join(f"{name} {stages.get(key, '?')} s" for key, name in
                      (("read", "read"), ("validated", "validate + corrupt"), ("wrote", "write"),
                       ("built", "manifest on a second thread alongside")))  # fmt: skip
    verdict = "OK" if t_cli <= TARGET_S else "OVER"
    print(f"corruption CLI end to end, {n} annotations: {t_cli:.2f} s ({parts}; interpreter + imports "
          f"{t_start:.2f} s; CPU {cpu_cli:.2f} s) target <= {TARGET_S:g} s: {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
