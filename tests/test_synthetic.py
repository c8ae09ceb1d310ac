"""The synthetic generator: determinism, validity, scale spread, and boxes that match the pixels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.data import synthetic
from benchmarks.data.coco import load_coco
from benchmarks.errors import InputError, run_cli

SIZE = 160


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.png")}


@pytest.fixture(scope="module")
def ds8(tmp_path_factory) -> Path:
    """60 train / 20 val images with all 8 first classes (shared, read-only)."""
    out = tmp_path_factory.mktemp("syn") / "ds"
    synthetic.generate(out, seed=3, n_train=60, n_val=20, size=SIZE, classes=8)
    return out


def _pixels(ds: Path, im: dict) -> np.ndarray:
    return np.asarray(Image.open(ds / "images" / im["file_name"]).convert("RGB"), dtype=np.int16)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """max - min over RGB: high on the vivid palette objects, low on the muted backgrounds."""
    return rgb.max(-1) - rgb.min(-1)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = synthetic.generate(tmp_path / "a", seed=7, n_train=6, n_val=3)
    synthetic.generate(tmp_path / "b", seed=7, n_train=6, n_val=3)
    synthetic.generate(tmp_path / "c", seed=8, n_train=6, n_val=3)
    for name in ("train.json", "val.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    da, db, dc = (_digest(tmp_path / x / "images") for x in "abc")
    assert da == db and len(da) == 9
    assert all(da[k] != dc[k] for k in da)
    assert a["splits"]["train"]["images"] == 6 and a["splits"]["val"]["images"] == 3


def test_each_image_depends_only_on_seed_split_index(tmp_path):
    """A longer set starts with the shorter set's images; train and val images differ."""
    synthetic.generate(tmp_path / "short", seed=1, n_train=3, n_val=2)
    synthetic.generate(tmp_path / "long", seed=1, n_train=5, n_val=2)
    short, long = _digest(tmp_path / "short" / "images"), _digest(tmp_path / "long" / "images")
    assert all(long[k] == v for k, v in short.items())
    assert short["train/000000.png"] != short["val/000000.png"]
    rgb, objects = synthetic.render(1, "train", 2, SIZE, 5)
    assert np.array_equal(rgb, np.asarray(Image.open(tmp_path / "long" / "images" / "train" / "000002.png")))
    ann = [a for a in load_coco(tmp_path / "long" / "train.json")["annotations"] if a["image_id"] == 3]
    assert [a["bbox"] for a in ann] == [list(map(float, o.box)) for o in objects]


def test_valid_coco_with_all_classes_and_contract_fields(ds8):
    for split, n in (("train", 60), ("val", 20)):
        coco = load_coco(ds8 / f"{split}.json")
        assert len(coco["images"]) == n
        assert [c["id"] for c in coco["categories"]] == list(range(1, 9))
        assert [c["name"] for c in coco["categories"]] == [c.name for c in synthetic.CLASSES[:8]]
        assert {a["category_id"] for a in coco["annotations"]} == set(range(1, 9))
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE and w >= 1 and h >= 1
            assert a["area"] == w * h and a["iscrowd"] == 0
            assert a["segmentation"] == [[x, y, x + w, y, x + w, y + h, x, y + h]]
        per_image = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=n + 1)[1:]
        assert per_image.min() >= 2 and per_image.max() <= 7
        assert per_image.mean() > 3.0
        for im in coco["images"]:
            assert (ds8 / "images" / im["file_name"]).is_file()
    meta = json.loads((ds8 / "dataset.json").read_text())
    assert meta["source"] == "synthetic" and meta["parameters"]["classes"] == 8
    assert meta["splits"]["train"]["annotations"] == len(load_coco(ds8 / "train.json")["annotations"])


def test_scale_spread_over_coco_size_bins(ds8):
    areas = np.array([a["area"] for a in load_coco(ds8 / "train.json")["annotations"]])
    small, large = (areas < 32**2).mean(), (areas >= 96**2).mean()
    medium = 1 - small - large
    assert 0.2 < small < 0.6 and 0.25 < medium < 0.65 and 0.03 < large < 0.25, (small, medium, large)


def test_objects_occlude_each_other(ds8):
    """Some boxes overlap (occlusion), but no box is hidden entirely under another."""
    coco = load_coco(ds8 / "train.json")
    boxes: dict[int, list] = {}
    for a in coco["annotations"]:
        boxes.setdefault(a["image_id"], []).append(a["bbox"])
    overlapping = 0
    for bs in boxes.values():
        b = np.array(bs)
        x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
        iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
        ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
        inter = iw * ih
        np.fill_diagonal(inter, 0)
        overlapping += int((inter > 0).any(1).sum())
    assert overlapping > 0.3 * len(coco["annotations"])


def test_boxes_sit_on_the_drawn_objects(ds8):
    """Vivid (high-chroma) pixels concentrate inside the boxes, and each box is tight.

    Objects are drawn in vivid palette colours on muted backgrounds, so if boxes and drawings got
    out of sync (offset, swapped images, scaled coordinates) the inside/outside contrast would
    vanish. Tightness: each edge row/column of a box contains object pixels (vivid), while the
    rows/columns just outside it usually have a side with none (a box 1 px too small or too large
    fails one of the two).
    """
    coco = load_coco(ds8 / "train.json")
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append([int(v) for v in a["bbox"]])
    inside_frac, outside_frac, shifted_frac = [], [], []
    tight, grown_all_edges, n = 0, 0, 0
    for im in coco["images"]:
        vivid = _chroma(_pixels(ds8, im)) > 60
        inside = np.zeros_like(vivid)
        shifted = np.zeros_like(vivid)
        for x, y, w, h in by_image[im["id"]]:
            inside[y : y + h, x : x + w] = True
            sx, sy = (x + w // 2 + 40) % SIZE, (y + h // 2 + 40) % SIZE
            shifted[sy : sy + h, sx : sx + w] = True
            box = vivid[y : y + h, x : x + w]
            tight += box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
            g0x, g0y, g1x, g1y = x - 1, y - 1, x + w, y + h  # the ring just outside the box
            if g0x >= 0 and g0y >= 0 and g1x < SIZE and g1y < SIZE:
                n += 1
                grown_all_edges += bool(
                    vivid[g0y, g0x : g1x + 1].any()
                    and vivid[g1y, g0x : g1x + 1].any()
                    and vivid[g0y : g1y + 1, g0x].any()
                    and vivid[g0y : g1y + 1, g1x].any()
                )
        inside_frac.append(vivid[inside].mean())
        outside_frac.append(vivid[~inside].mean() if (~inside).any() else 0.0)
        shifted_frac.append(vivid[shifted & ~inside].mean() if (shifted & ~inside).any() else 0.0)
    n_boxes = len(coco["annotations"])
    assert np.mean(inside_frac) > 0.45, np.mean(inside_frac)  # measured ~0.62 (shapes leave box corners empty)
    assert np.mean(outside_frac) < 0.08, np.mean(outside_frac)  # measured ~0.02 (vivid clutter)
    assert np.mean(shifted_frac) < 0.5 * np.mean(inside_frac)
    assert tight >= 0.97 * n_boxes, (tight, n_boxes)
    assert grown_all_edges < 0.5 * n, (grown_all_edges, n)


def test_colour_alone_does_not_separate_classes(ds8):
    """Each class is drawn in two palette colours and each colour is worn by several classes (K >= 4).

    Read from the pixels: the median direction of a box's vivid pixels (a texture's dark tone is
    the same colour scaled, so same direction) names the nearest palette colour.
    """
    for k in range(4, len(synthetic.CLASSES) + 1):
        for colour in synthetic.PALETTE:
            assert sum(colour in c.colours for c in synthetic.CLASSES[:k]) >= 2, (k, colour)
    names = list(synthetic.PALETTE)
    pal = np.array([synthetic.PALETTE[n] for n in names], float)
    pal /= np.linalg.norm(pal, axis=1, keepdims=True)
    coco = load_coco(ds8 / "train.json")
    ims = {im["id"]: im for im in coco["images"]}
    seen: dict[int, set] = {}
    for a in coco["annotations"]:
        x, y, w, h = (int(v) for v in a["bbox"])
        rgb = _pixels(ds8, ims[a["image_id"]])[y : y + h, x : x + w].reshape(-1, 3).astype(float)
        rgb = rgb[_chroma(rgb) > 60]
        if len(rgb) < 20:
            continue
        d = np.median(rgb / np.linalg.norm(rgb, axis=1, keepdims=True), 0)
        seen.setdefault(a["category_id"], set()).add(names[int(np.argmax(pal @ d))])
    assert all(len(v) >= 2 for v in seen.values()), seen
    for colour in names:
        assert sum(colour in v for v in seen.values()) >= 2, (colour, seen)


def test_cli_preview_and_refusal_to_overwrite(tmp_path, capsys):
    out, sheet = tmp_path / "d", tmp_path / "sheet.png"
    argv = ["--out", str(out), "--seed", "0", "--n-train", "5", "--n-val", "2", "--size", "64", "--classes", "3"]
    assert run_cli(synthetic.main, [*argv, "--preview", str(sheet)]) == 0
    assert Image.open(sheet).size == (4 * (64 * 2 + 4) + 4, 2 * (64 * 2 + 4) + 4)  # 5 images, 4 per row
    assert load_coco(out / "train.json")["images"][0]["width"] == 64
    before = (out / "train.json").read_bytes()
    assert run_cli(synthetic.main, argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert run_cli(synthetic.main, [*argv[:2], "--seed", "1", *argv[4:], "--force"]) == 0
    assert (out / "train.json").read_bytes() != before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"classes": 11}, "--classes"),
        ({"classes": 1}, "--classes"),
        ({"size": 16}, "--size"),
        ({"n_val": 0}, "--n-val"),
    ],
)
def test_bad_parameters_leave_nothing(tmp_path, kwargs, text):
    params = {"seed": 0, "n_train": 2, "n_val": 1, **kwargs}
    with pytest.raises(InputError, match=text):
        synthetic.generate(tmp_path / "d", **params)
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_no_directory(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synthetic.render

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*a, **k)

    monkeypatch.setattr(synthetic, "render", flaky)
    with pytest.raises(RuntimeError):
        synthetic.generate(tmp_path / "d", seed=0, n_train=4, n_val=1)
    assert list(tmp_path.iterdir()) == []


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        synthetic.main(["--help"])
    text = capsys.readouterr().out
    for opt in ("--out", "--seed", "--n-train", "--n-val", "--size", "--classes", "--preview", "--force"):
        assert opt in text
