"""Build the merged, pseudo-labelled training sets from ``../shared/datasets``.

Two sets labelled for different things are merged into one four-label set
(``helmet, head, person, cigarette``). Objects a set does not label would be learnt as
background, so the recipe fills the gaps with pseudo-labels:

* ``person`` on every image, from the starting YOLOv8s person detector (the hard-hat set
  labels people sparsely, the cigarette set not at all); ground-truth person boxes are kept.
* ``helmet``/``head`` on the cigarette images, from the stage-1 hard-hat model.

Training images get a degraded copy with probability ``degrade_p`` (distance, blur, low
light, CCTV compression), seeded, so a run is reproducible. Val images are never degraded.
``write_grids`` adds zoomed-out copies: n x n photos of one set in one compressed frame, so
that the heads of close-ups are also seen at CCTV sizes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

LABELS = ("helmet", "head", "person", "cigarette")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}

Box = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalised)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_labels(label_file: Path, remap: dict[int, int]) -> list[Box]:
    boxes: list[Box] = []
    if not label_file.exists():
        return boxes
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        cls = remap[int(parts[0])]
        cx, cy, w, h = (float(v) for v in parts[1:])
        boxes.append((cls, cx, cy, w, h))
    return boxes


def iou_cxcywh(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a[1] - a[3] / 2, a[2] - a[4] / 2, a[1] + a[3] / 2, a[2] + a[4] / 2
    bx1, by1, bx2, by2 = b[1] - b[3] / 2, b[2] - b[4] / 2, b[1] + b[3] / 2, b[2] + b[4] / 2
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[3] * a[4] + b[3] * b[4] - inter
    return inter / union if union > 0 else 0.0


def merge_pseudo(truth: list[Box], pseudo: Iterable[Box], iou: float = 0.5) -> list[Box]:
    """Add pseudo boxes that do not overlap a ground-truth box of the same class."""
    out = list(truth)
    for p in pseudo:
        if all(t[0] != p[0] or iou_cxcywh(t, p) < iou for t in truth):
            out.append(p)
    return out


def degrade(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """One of: far away (down/up-scale), blur, low light with noise, heavy JPEG."""
    kind = rng.choice(["distance", "blur", "lowlight", "jpeg"])
    h, w = image.shape[:2]
    if kind == "distance":
        f = rng.uniform(0.3, 0.6)
        small = cv2.resize(
            image, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
        )
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind == "blur":
        k = rng.choice([3, 5, 7])
        image = cv2.GaussianBlur(image, (k, k), 0)
    elif kind == "lowlight":
        gamma = rng.uniform(1.8, 3.0)
        lut = ((np.arange(256) / 255.0) ** gamma * 255).astype(np.uint8)
        image = cv2.LUT(image, lut)
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    quality = rng.randint(15, 40) if kind == "jpeg" else rng.randint(40, 70)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    decoded: np.ndarray = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return decoded


def write_labels(path: Path, boxes: list[Box]) -> None:
    """One YOLO label file: a ``class cx cy w h`` line per box (normalised)."""
    lines = [f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for c, cx, cy, w, h in boxes]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def write_split(
    out: Path,
    split: str,
    items: list[tuple[Path, list[Box]]],
    degrade_p: float,
    seed: int,
) -> None:
    """Write ``out/images/<split>`` (links or degraded copies) and ``out/labels/<split>``."""
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for src, boxes in items:
        stem = f"{src.parent.parent.parent.name}_{src.stem}"
        write_labels(lbl_dir / f"{stem}.txt", boxes)
        if degrade_p and rng.random() < degrade_p:
            image = cv2.imread(str(src), cv2.IMREAD_COLOR)
            cv2.imwrite(str(img_dir / f"{stem}.jpg"), degrade(image, rng))
        else:
            link = img_dir / f"{stem}{src.suffix.lower()}"
            if not link.exists():
                link.symlink_to(src.resolve())


def grid(
    cells: list[tuple[Path, list[Box]]], n: int, side: int, rng: random.Random
) -> tuple[np.ndarray, list[Box]]:
    """``n * n`` photos, each fitted into its cell of a ``side`` px square (grey 114 around it,
    as letterboxing pads), compressed like CCTV (JPEG 35-70); their boxes moved with them."""
    canvas = np.full((side, side, 3), 114, np.uint8)
    cell = side // n
    boxes: list[Box] = []
    for k, (src, rows) in enumerate(cells[: n * n]):
        image = cv2.imread(str(src), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        f = cell / max(h, w)
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        x0 = (k % n) * cell + (cell - nw) // 2
        y0 = (k // n) * cell + (cell - nh) // 2
        canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(
            image, (nw, nh), interpolation=cv2.INTER_AREA
        )
        for c, cx, cy, bw, bh in rows:
            boxes.append(
                (c, (x0 + cx * nw) / side, (y0 + cy * nh) / side, bw * nw / side, bh * nh / side)
            )
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 70)])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR), boxes


def write_grids(
    out: Path,
    prefix: str,
    items: list[tuple[Path, list[Box]]],
    count: int,
    ns: tuple[int, ...],
    seed: int,
    side: int = 832,
) -> None:
    """``count`` grids (``grid``) of random photos from ``items`` into ``out``'s train split,
    named ``<prefix>_grid<k>`` (``prefix`` picks their label weights in the partial loss)."""
    img_dir, lbl_dir = out / "images" / "train", out / "labels" / "train"
    rng = random.Random(seed)
    for k in range(count):
        n = rng.choice(ns)
        image, boxes = grid(rng.sample(items, n * n), n, side, rng)
        cv2.imwrite(str(img_dir / f"{prefix}_grid{k:04d}.jpg"), image)
        write_labels(lbl_dir / f"{prefix}_grid{k:04d}.txt", boxes)


def write_yaml(out: Path, names: tuple[str, ...]) -> Path:
    path = out / "data.yaml"
    body = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    path.write_text(json.dumps(body, indent=2))  # JSON is valid YAML
    return path
