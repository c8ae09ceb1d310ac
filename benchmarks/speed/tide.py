"""Speed of our TIDE analysis vs the tidecv package, val2017-sized (target >= 15x, identical dAP).

    python -m benchmarks.speed.tide [--images 5000] [--seed 0]

Uses the problem of :mod:`benchmarks.speed.coco_eval` (5,000 images, ~36k boxes, 80 classes,
~100k detections), written once to a temporary directory; ground-truth annotations get the
``segmentation`` polygon tidecv's COCO loader needs. Both sides are timed end to end from the files,
as the CLI runs: ours is :func:`analysis.tide.tide` on the two paths (JSON read, validation,
matching, errors, oracles); tidecv is ``datasets.COCO`` + ``datasets.COCOResult`` + ``evaluate`` +
main and special errors. The script prints the seconds of each and, last, the end-to-end ratio
with the largest difference between the two results (AP points; "identical" allows float
rounding, < 1e-9). The full size takes well under a minute on 2 cores; the ratio is not
size-independent (at ``--images 1000`` it comes out several times higher), so the target is
read at the default 5,000 images.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.data.coco import read_json
from benchmarks.speed.coco_eval import val2017_like

TARGET = 15.0


def run_tidecv(gt_path: Path, dt_path: Path) -> tuple[dict, float]:
    """TIDE numbers from the tidecv package (shaped like :meth:`TideResult.to_json`) and its load seconds."""
    from tidecv import TIDE, datasets

    t0 = time.perf_counter()
    gt, dets = datasets.COCO(str(gt_path)), datasets.COCOResult(str(dt_path))
    load = time.perf_counter() - t0
    t = TIDE()
    with contextlib.redirect_stdout(io.StringIO()):
        t.evaluate(gt, dets, mode=TIDE.BOX)
    (name, run), *_ = t.runs.items()
    main_errors, special = t.get_main_errors()[name], t.get_special_errors()[name]
    res = {
        "AP50": run.ap,
        "dAP": {k: main_errors[k] for k in ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")},
        "dAP_FP": special["FalsePos"],
        "dAP_FN": special["FalseNeg"],
    }
    return res, load


def with_polygons(gt: dict) -> dict:
    """tidecv's COCO loader converts every ``segmentation``; give each box its rectangle."""
    anns = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        anns.append({**a, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    return {**gt, "annotations": anns}


def max_difference(a: dict, b: dict) -> float:
    diffs = [abs(a[k] - b[k]) for k in ("AP50", "dAP_FP", "dAP_FN")]
    diffs += [abs(a["dAP"][k] - b["dAP"][k]) for k in a["dAP"]]
    return max(diffs)


def main(argv=None) -> int:
    from analysis.tide import tide

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=5000, help="number of images (val2017: 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated problem")
    args = p.parse_args(argv)

    gt, dets = val2017_like(args.images, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, dt_path = Path(tmp) / "gt.json", Path(tmp) / "dets.json"
        gt_path.write_text(json.dumps(with_polygons(gt)))
        dt_path.write_text(json.dumps(dets))
        print(f"[tide] running ours on {len(gt['images'])} images ...", file=sys.stderr)
        t0 = time.perf_counter()
        gt_json, dt_json = read_json(gt_path), read_json(dt_path)
        t1 = time.perf_counter()
        ours = tide(gt_json, dt_json).to_json()
        s_ours, load_ours = time.perf_counter() - t0, t1 - t0
        print("[tide] running tidecv ...", file=sys.stderr)
        t0 = time.perf_counter()
        ref, load_ref = run_tidecv(gt_path, dt_path)
        s_ref = time.perf_counter() - t0
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} boxes, {len(dets)} detections")
    print("  AP50 {:.2f} | dAP ".format(ours["AP50"]) + " ".join(f"{k} {v:.2f}" for k, v in ours["dAP"].items()))
    print("                 end to end   (loading files)   analysis")
    print(f"  ours:          {s_ours:8.2f} s   {load_ours:8.2f} s         {s_ours - load_ours:8.2f} s")
    print(f"  tidecv:        {s_ref:8.2f} s   {load_ref:8.2f} s         {s_ref - load_ref:8.2f} s")
    diff = max_difference(ours, ref)
    print(f"  ratio analysis (inputs loaded): {(s_ref - load_ref) / (s_ours - load_ours):.1f}x")
    ratio = s_ref / s_ours
    ok = ratio >= TARGET and diff < 1e-9
    print(f"TIDE vs tidecv end to end: {ratio:.1f}x, max |diff| {diff:.1e} AP points "
          f"(target >= {TARGET:g}x, identical dAP: {'OK' if ok else 'UNDER'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
