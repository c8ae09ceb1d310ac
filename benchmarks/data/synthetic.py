"""The embedded default dataset: textured shapes on cluttered backgrounds, deterministic from a seed.

    python -m benchmarks.data.synthetic --out DIR --seed 0 --n-train 400 --n-val 120 \\
        [--size 160] [--classes 5] [--preview sheet.png]

Why it looks like this. The default grid must train tiny detectors on 2 CPU cores in minutes and
still show what the papers study: a clean model reaches a clearly non-trivial AP, and noisy labels
visibly cost AP. So the task is learnable but not trivial:

- Classes are shapes (``CLASSES``: disk, triangle, square, star, ring, cross, hexagon, crescent,
  diamond, arrow; ``--classes K`` takes the first K, K <= 10, ids 1..K in that order). Colour and
  texture are shared between classes, so only shape separates them: each class has two of four
  palette colours (red, blue, yellow, green) and, for every K >= 4, each colour belongs to at
  least two of the first K classes (some class pairs share both colours: disk/diamond,
  ring/hexagon, star/arrow, cross/crescent); each class has a preferred texture (solid, stripes,
  checker, dots) used 70 % of the time, otherwise any texture; every instance gets a random colour
  jitter (N(0, 14) per RGB channel), rotation, and aspect ratio (exp U(-0.3, 0.3)).
- 2-7 objects per image (uniform), drawn back to front. Objects are often placed next to an
  earlier one (half the time), so they overlap; a placement is only accepted if every object keeps
  at least 55 % of its pixels visible (partial, never total, occlusion); an object that finds no
  such place in 20 tries is replaced by a new draw (up to 10 times per image). An object that
  overlaps another of the same palette colour takes its class's other colour, so two overlapping
  objects never melt into one blob.
- Scales aim at COCO's absolute size bins (small: box area < 32^2, medium < 96^2, large; the
  bins the evaluator uses): the object side is U(0.07, 0.19) x S (small, p = 0.40), U(0.22, 0.55) x S
  (medium, p = 0.45) or U(0.62, 0.78) x S (large, p = 0.15, at most one per image), i.e. 11-30,
  35-88 and 99-125 px on the default 160 px images.
- Backgrounds: a linear gradient between two muted colours, smooth low-frequency noise, and
  clutter that is not an object: 3-8 strokes (polylines 1-3 px wide) and 2-5 irregular blobs, half
  of them in the objects' own vivid palette colours (so colour alone does not say "object"). Then
  N(0, 5) pixel noise over everything.

Boxes are the tight boxes of each object's *visible* pixels (COCO/VOC boxes are drawn around the
visible extent): pixel columns ``x0..x1-1`` give ``x = x0, w = x1 - x0`` in the contract's
continuous coordinates. Polygons are rasterised without anti-aliasing, so masks and boxes are exact.

Determinism. Image ``i`` of split ``s`` is drawn from ``numpy.random.default_rng(derive_seed(seed,
s, i, size, classes))`` and nothing else, so any image can be regenerated alone, the same seed
gives byte-identical train.json/val.json and identical PNGs, and another seed gives other data.
No per-pixel Python loops: polygons are rasterised by PIL, textures and noise are numpy arrays.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from benchmarks.atomic import atomic_path
from benchmarks.data.converters import (
    box_annotation,
    categories,
    command_line,
    log,
    setup_logging,
    staged_dir,
    write_dataset,
)
from benchmarks.errors import InputError, run_cli
from benchmarks.seeding import derive_seed

GENERATOR_VERSION = 1

PALETTE = {
    "red": (210, 45, 40),
    "blue": (45, 85, 215),
    "yellow": (230, 195, 35),
    "green": (45, 165, 65),
}
TEXTURES = ("solid", "stripes", "checker", "dots")


@dataclass(frozen=True)
class ClassSpec:
    """One object class: a shape, two palette colours, a preferred texture, a rotation range."""

    name: str
    colours: tuple[str, str]
    texture: str
    max_rotation: float  # degrees, symmetric


CLASSES = (
    ClassSpec("disk", ("red", "blue"), "solid", 180),
    ClassSpec("triangle", ("red", "yellow"), "stripes", 180),
    ClassSpec("square", ("blue", "green"), "checker", 15),
    ClassSpec("star", ("yellow", "green"), "solid", 180),
    ClassSpec("ring", ("red", "green"), "dots", 180),
    ClassSpec("cross", ("blue", "yellow"), "dots", 20),
    ClassSpec("hexagon", ("red", "green"), "stripes", 180),
    ClassSpec("crescent", ("blue", "yellow"), "solid", 180),
    ClassSpec("diamond", ("red", "blue"), "checker", 15),
    ClassSpec("arrow", ("yellow", "green"), "stripes", 180),
)
MAX_CLASSES = len(CLASSES)
MIN_SIZE = 32

#: (probability, side range as a fraction of the image side) per COCO size bin
SCALES = {"small": (0.40, (0.07, 0.19)), "medium": (0.45, (0.22, 0.55)), "large": (0.15, (0.62, 0.78))}
MIN_VISIBLE = 0.55  # every object keeps at least this fraction of its pixels
DARK = 0.6  # second tone of a texture: the colour times this (same hue, so still vivid)


def _circle(n: int = 48, r: float = 1.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _regular(n: int, r_in: float | None = None) -> np.ndarray:
    """Regular n-gon (or 2n-point star with inner radius ``r_in``) pointing up."""
    k = 2 * n if r_in else n
    t = -np.pi / 2 + np.arange(k) * 2 * np.pi / k
    r = np.where(np.arange(k) % 2 == 1, r_in, 1.0) if r_in else np.ones(k)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


#: unit-size outline(s) of each shape: (polygon, fill) pairs drawn in order; fill 0 cuts a hole
SHAPES: dict[str, list[tuple[np.ndarray, int]]] = {
    "disk": [(_circle(), 1)],
    "triangle": [(np.array([[0.0, -1.0], [0.95, 0.75], [-0.95, 0.75]]), 1)],
    "square": [(np.array([[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]]), 1)],
    "star": [(_regular(5, 0.42), 1)],
    "ring": [(_circle(), 1), (_circle(r=0.55), 0)],
    "cross": [
        (
            np.array(
                [
                    [-0.3, -1],
                    [0.3, -1],
                    [0.3, -0.3],
                    [1, -0.3],
                    [1, 0.3],
                    [0.3, 0.3],
                    [0.3, 1],
                    [-0.3, 1],
                    [-0.3, 0.3],
                    [-1, 0.3],
                    [-1, -0.3],
                    [-0.3, -0.3],
                ]
            ),
            1,
        )
    ],
    "hexagon": [(_regular(6), 1)],
    "crescent": [(_circle(), 1), (_circle(r=0.8, cx=0.45, cy=-0.2), 0)],
    "diamond": [(np.array([[0.0, -1.0], [0.75, 0.0], [0.0, 1.0], [-0.75, 0.0]]), 1)],
    "arrow": [(np.array([[-1, -0.28], [0.15, -0.28], [0.15, -0.7], [1, 0], [0.15, 0.7], [0.15, 0.28], [-1, 0.28]]), 1)],
}


@dataclass(frozen=True)
class DrawnObject:
    """An object as drawn: class id (1-based), visible mask, tight box of the visible mask."""

    category_id: int
    mask: np.ndarray  # (S, S) bool, visible pixels
    box: tuple[int, int, int, int]  # x, y, w, h


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the pixels set in ``mask`` (pixel i covers [i, i + 1))."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _raster(polys: list[tuple[np.ndarray, int]], size: int) -> np.ndarray:
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for pts, fill in polys:
        draw.polygon([(float(x), float(y)) for x, y in pts], fill=fill)
    return np.asarray(img, dtype=bool)


def _transform(shape: str, rx: float, ry: float, angle: float) -> list[tuple[np.ndarray, int]]:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return [((pts * (rx, ry)) @ rot.T, fill) for pts, fill in SHAPES[shape]]


def _smooth_noise(rng: np.random.Generator, size: int, grid: int, channels: int) -> np.ndarray:
    """Bilinear upsampling of a ``grid x grid`` normal field: low-frequency noise, unit-ish scale."""
    coarse = rng.normal(0.0, 1.0, (grid, grid, channels))
    pos = np.linspace(0, grid - 1, size)
    i0 = np.clip(np.floor(pos).astype(int), 0, grid - 2)
    f = pos - i0
    w = np.zeros((size, grid))
    w[np.arange(size), i0] = 1 - f
    w[np.arange(size), i0 + 1] = f
    return np.stack([w @ coarse[..., c] @ w.T for c in range(channels)], axis=-1)


def _texture(rng: np.random.Generator, kind: str, colour: np.ndarray, side: float, yy: np.ndarray, xx: np.ndarray):
    """Fill colours (N, 3) at pixel coordinates ``yy, xx`` (N,): ``kind`` in two tones of one hue."""
    dark = colour * DARK
    if kind == "solid":
        a = rng.uniform(0, 2 * np.pi)
        ramp = ((xx * math.cos(a) + yy * math.sin(a)) / max(side, 1.0))[:, None]
        return colour * (1.0 + 0.15 * np.clip(ramp - ramp.mean(), -1, 1))
    period = float(np.clip(side / rng.uniform(3.0, 5.0), 3.0, 9.0))
    if kind == "stripes":
        a = rng.uniform(0, np.pi)
        on = ((xx * math.cos(a) + yy * math.sin(a)) / period) % 1.0 < 0.5
    elif kind == "checker":
        on = ((np.floor(xx / period) + np.floor(yy / period)) % 2) == 0
    else:  # dots
        u, v = (xx / period) % 1.0 - 0.5, (yy / period) % 1.0 - 0.5
        on = u * u + v * v < 0.09
    return np.where(on[:, None], dark, colour)


def _background(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    c0, c1 = (rng.uniform(70, 190) + rng.normal(0, 12, 3) for _ in range(2))
    a = rng.uniform(0, 2 * np.pi)
    t = (xx * math.cos(a) + yy * math.sin(a)) / size
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    bg = c0 + (c1 - c0) * t[..., None]
    gray = _smooth_noise(rng, size, int(rng.integers(3, 7)), 1) * 14.0
    tint = _smooth_noise(rng, size, int(rng.integers(3, 7)), 3) * 5.0
    return bg + gray + tint


def _vivid(rng: np.random.Generator) -> np.ndarray:
    name = list(PALETTE)[int(rng.integers(len(PALETTE)))]
    return np.clip(np.array(PALETTE[name], float) + rng.normal(0, 14, 3), 0, 255)


def _clutter(rng: np.random.Generator, img: np.ndarray, size: int) -> np.ndarray:
    """Strokes and irregular blobs that are not objects (drawn under the objects)."""
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)

    def colour() -> tuple[int, ...]:
        if rng.random() < 0.5:
            c = _vivid(rng)
        else:
            c = rng.uniform(20, 235) + rng.normal(0, 10, 3)
        return tuple(int(v) for v in np.clip(c, 0, 255))

    for _ in range(int(rng.integers(3, 9))):
        n = int(rng.integers(2, 5))
        start = rng.uniform(0, size, 2)
        pts = start + np.cumsum(rng.normal(0, size * 0.18, (n, 2)), 0)
        draw.line([tuple(p) for p in pts.tolist()], fill=colour(), width=int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(2, 6))):
        r = rng.uniform(3, 0.12 * size)
        k = int(rng.integers(7, 13))
        t = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.45, 1.0, k)
        c = rng.uniform(0, size, 2)
        pts = np.stack([c[0] + rad * np.cos(t), c[1] + rad * np.sin(t)], 1)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=colour())
    return np.asarray(canvas, dtype=np.float64)


def _place(rng, spec_idx: int, scale: str, size: int, placed: list[tuple[float, float, float]]):
    """A candidate (mask, centre, radius) for one object, often next to an already placed one."""
    spec = CLASSES[spec_idx]
    lo, hi = SCALES[scale][1]
    side = rng.uniform(lo, hi) * size
    ar = math.exp(rng.uniform(-0.3, 0.3))
    rx, ry = side / 2 * math.sqrt(ar), side / 2 / math.sqrt(ar)
    angle = math.radians(rng.uniform(-spec.max_rotation, spec.max_rotation))
    polys = _transform(spec.name, rx, ry, angle)
    pts = np.concatenate([p for p, _ in polys])
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    lo_c, hi_c = np.array([1 - x0, 1 - y0]), np.array([size - 2 - x1, size - 2 - y1])
    if (hi_c < lo_c).any():
        return None
    if placed and rng.random() < 0.5:
        ox, oy, orad = placed[int(rng.integers(len(placed)))]
        centre = np.array([ox, oy]) + rng.uniform(-1, 1, 2) * 0.8 * (orad + side / 2)
        centre = np.clip(centre, lo_c, hi_c)
    else:
        centre = rng.uniform(lo_c, hi_c)
    mask = _raster([(p + centre, f) for p, f in polys], size)
    return mask, (float(centre[0]), float(centre[1]), side / 2), side


def render(
    seed: int, split: str, index: int, size: int = 160, classes: int = 5
) -> tuple[np.ndarray, list[DrawnObject]]:
    """Draw image ``index`` of ``split``: (H, W, 3) uint8 RGB and its objects, back to front."""
    rng = np.random.default_rng(derive_seed(seed, split, index, size, classes))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = _clutter(rng, _background(rng, size, yy, xx), size)

    n_target = int(rng.integers(2, 8))
    names, probs = list(SCALES), np.array([p for p, _ in SCALES.values()])
    full: list[np.ndarray] = []  # each object's whole mask
    visible: list[np.ndarray] = []
    fills: list[np.ndarray] = []
    cats: list[int] = []
    hues: list[str] = []
    placed: list[tuple[float, float, float]] = []
    has_large = False
    slots = 0
    while len(cats) < n_target and slots < n_target + 10:  # a failed slot is retried with a new object
        slots += 1
        k = int(rng.integers(classes))
        scale = names[int(rng.choice(len(names), p=probs))]
        if scale == "large" and has_large:
            scale = "medium"
        accepted = None
        for _attempt in range(20):
            cand = _place(rng, k, scale, size, placed)
            if cand is None:  # does not fit the image at this scale
                scale = "medium" if scale == "large" else "small"
                continue
            mask, where, side = cand
            if mask.sum() < 12:
                continue
            new_vis = [v & ~mask for v in visible]
            if all(nv.sum() >= MIN_VISIBLE * f.sum() for nv, f in zip(new_vis, full)):
                accepted = cand
                break
        if accepted is None:
            continue
        spec = CLASSES[k]
        pick = int(rng.integers(2))
        touching = {hue for f, hue in zip(full, hues) if (f & mask).any()}
        if spec.colours[pick] in touching:  # keep overlapping objects apart: same hue would merge them
            pick = 1 - pick
        hues.append(spec.colours[pick])
        colour = np.clip(np.array(PALETTE[spec.colours[pick]], float) + rng.normal(0, 14, 3), 0, 255)
        texture = spec.texture if rng.random() < 0.7 else TEXTURES[int(rng.integers(len(TEXTURES)))]
        visible = new_vis + [mask]
        full.append(mask)
        ys, xs = np.nonzero(mask)
        fills.append(_texture(rng, texture, colour, side, ys.astype(float), xs.astype(float)))
        cats.append(k + 1)
        placed.append(where)
        has_large |= scale == "large"
    for mask, fill in zip(full, fills):  # back to front: later objects cover earlier ones
        img[mask] = fill  # np.nonzero order = boolean-mask order (row-major)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 5.0
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    objects = [DrawnObject(c, v, tight_box(v)) for c, v in zip(cats, visible)]
    return out, objects


def _split(stage: Path, seed: int, split: str, n: int, size: int, classes: int) -> dict:
    """Render and save one split's images into ``stage``; return its COCO dict.

    PNGs are saved directly: ``stage`` is the hidden temporary directory of :func:`staged_dir`,
    which appears under the real name only as a whole, so no single file needs its own rename.
    """
    folder = stage / "images" / split
    folder.mkdir(parents=True)
    images, anns = [], []
    for i in tqdm(range(n), desc=split, unit="img", mininterval=1.0):
        rgb, objects = render(seed, split, i, size, classes)
        name = f"{split}/{i:06d}.png"
        Image.fromarray(rgb).save(stage / "images" / name, format="PNG")
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for obj in objects:
            anns.append(box_annotation(len(anns) + 1, i + 1, obj.category_id, obj.box))
    return {"images": images, "annotations": anns, "categories": categories([c.name for c in CLASSES[:classes]])}


def scale_counts(coco: dict) -> dict[str, int]:
    """Annotations per COCO size bin (box area < 32^2, < 96^2, larger)."""
    areas = np.array([a["area"] for a in coco["annotations"]], float)
    return {
        "small": int((areas < 32**2).sum()),
        "medium": int(((areas >= 32**2) & (areas < 96**2)).sum()),
        "large": int((areas >= 96**2).sum()),
    }


def preview(dataset: str | Path, dest: str | Path, n: int = 12, split: str = "train", columns: int = 4) -> None:
    """Contact sheet of the first ``n`` images of ``split`` with their boxes and class names."""
    from benchmarks.data.coco import load_coco

    dataset = Path(dataset)
    coco = load_coco(dataset / f"{split}.json")
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    ims = coco["images"][:n]
    zoom, pad = 2, 4
    cell = max(max(im["width"], im["height"]) for im in ims) * zoom + pad
    rows = math.ceil(len(ims) / columns)
    sheet = Image.new("RGB", (columns * cell + pad, rows * cell + pad), (255, 255, 255))
    hues = [
        (255, 0, 0),
        (0, 200, 255),
        (255, 255, 0),
        (0, 255, 0),
        (255, 0, 255),
        (255, 128, 0),
        (255, 255, 255),
        (0, 0, 0),
    ]
    for j, im in enumerate(ims):
        tile = Image.open(dataset / "images" / im["file_name"]).convert("RGB")
        tile = tile.resize((im["width"] * zoom, im["height"] * zoom), Image.NEAREST)
        draw = ImageDraw.Draw(tile)
        for a in by_image.get(im["id"], []):
            x, y, w, h = (v * zoom for v in a["bbox"])
            col = hues[(a["category_id"] - 1) % len(hues)]
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=col, width=1)
            draw.text((x + 2, y + 1), names[a["category_id"]], fill=col)
        sheet.paste(tile, (pad + (j % columns) * cell, pad + (j // columns) * cell))
    with atomic_path(dest) as tmp:
        sheet.save(tmp, format="PNG")


def generate(
    out: str | Path,
    seed: int,
    n_train: int,
    n_val: int,
    size: int = 160,
    classes: int = 5,
    *,
    force: bool = False,
    preview_path: str | Path | None = None,
) -> dict:
    """Write the synthetic dataset directory ``out`` (atomically); return its dataset.json contents."""
    if not 2 <= classes <= MAX_CLASSES:
        raise InputError(f"--classes must be in 2..{MAX_CLASSES}, got {classes}")
    if size < MIN_SIZE:
        raise InputError(f"--size must be at least {MIN_SIZE} px, got {size}")
    if n_train < 1 or n_val < 1:
        raise InputError(f"--n-train and --n-val must be >= 1, got {n_train} and {n_val}")
    t0 = time.perf_counter()
    with staged_dir(out, force=force) as stage:
        train = _split(stage, seed, "train", n_train, size, classes)
        val = _split(stage, seed, "val", n_val, size, classes)
        meta = {
            "name": "synthetic",
            "source": "synthetic",
            "generator_version": GENERATOR_VERSION,
            "command": command_line(
                "benchmarks.data.synthetic",
                [
                    "--out",
                    out,
                    "--seed",
                    seed,
                    "--n-train",
                    n_train,
                    "--n-val",
                    n_val,
                    "--size",
                    size,
                    "--classes",
                    classes,
                ],
            ),
            "parameters": {"seed": seed, "n_train": n_train, "n_val": n_val, "size": size, "classes": classes},
            "class_specs": [
                {"name": c.name, "colours": list(c.colours), "texture": c.texture} for c in CLASSES[:classes]
            ],
            "scales": {"train": scale_counts(train), "val": scale_counts(val)},
        }
        meta = write_dataset(stage, train, val, meta)
        if preview_path is not None:
            preview(stage, preview_path)
    log.info("wrote %s (%d + %d images) in %.1f s", out, n_train, n_val, time.perf_counter() - t0)
    return meta


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.data.synthetic",
        description="Generate the embedded default detection dataset (textured shapes on cluttered backgrounds) "
        "into DIR/{train,val}.json + DIR/images/ + DIR/dataset.json, deterministically from --seed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create (must not exist)")
    p.add_argument("--seed", type=int, default=0, help="generator seed: same seed, same bytes")
    p.add_argument("--n-train", type=int, default=400, help="number of training images")
    p.add_argument("--n-val", type=int, default=120, help="number of validation images")
    p.add_argument("--size", type=int, default=160, help="image side in pixels (square images)")
    p.add_argument(
        "--classes", type=int, default=5, help=f"number of object classes K (2..{MAX_CLASSES}; the first K shapes)"
    )
    p.add_argument(
        "--preview", type=Path, default=None, help="also write a PNG contact sheet of 12 train images with boxes"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    generate(
        args.out,
        args.seed,
        args.n_train,
        args.n_val,
        size=args.size,
        classes=args.classes,
        force=args.force,
        preview_path=args.preview,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
