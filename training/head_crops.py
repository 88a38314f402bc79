"""Head crops for the head-state classifier: ``python -m training.head_crops``.

Every ``helmet`` (hard hat) and ``head`` (bare) box of ``neuhardhat`` and ``hardhat`` train
(YOLO txt, normalised ``cls cx cy w h``) becomes a square crop of the photo, cut the way the
edge would cut it: the head box's long side ``s``, its centre shifted by up to ``JITTER * s``
and its size misjudged by ``SIZE_RANGE`` (as a head estimated from a person box is), the crop
``CONTEXT * s`` wide, resized to ``CROP_PX``. Each head gives one mild copy and one degraded
like CCTV (the head shrunk to 8-24 px and enlarged back, blur, JPEG 25-70). A third class,
``none``, is crops of the same sizes away from every labelled head (a person estimate whose
head box holds no head). ``cigarette`` train's smokers (heads unlabelled) add the shipped
detector's head boxes as bare heads (``smokers_heads``). ``neuhardhat`` val, built the same
way with its own seed, is the validation set; ``evalsets/`` is never read here.

Output: one ``.npz`` per split (``x``: uint8 ``(N, CROP_PX, CROP_PX, 3)`` BGR, ``y``: int64
``(N,)`` in ``CLASSES`` order) under ``--out`` (default ``/root/tv-runs/crops``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from sitewatch.edge.detect.head_look import (
    CLASSIFIER_CLASSES,
    CLASSIFIER_CONTEXT,
    cut_square,
    head_crop_box,
)

SHARED = Path(os.environ.get("SITEWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CLASSES = CLASSIFIER_CLASSES
"""Classifier outputs, in order; the first two are the detector's head-state labels."""
CROP_PX = 64
"""Side of a crop as the classifier sees it (px)."""
CONTEXT = CLASSIFIER_CONTEXT
"""Crop side over the head's long side: head and a margin of hair, neck and shoulders."""
JITTER = 0.2
"""Largest shift of the crop centre, as a share of the head size (each axis)."""
SIZE_RANGE = (0.75, 1.35)
"""Range of the factor by which the head size is misjudged."""
HEAD_PX_RANGE = (8, 24)
"""Head size (px) the degraded copy is shrunk to before being enlarged back."""
NONE_PER_IMAGE = 1
"""``none`` crops per image (kept at about a fifth of the heads)."""
MIN_HEAD_PX = 6
"""Labelled heads smaller than this (px) are skipped: nothing to classify."""


def degrade(crop: np.ndarray, head_px: float, rng: np.random.Generator) -> np.ndarray:
    """A CCTV-like copy: the crop shrunk so its head is ``head_px`` px, enlarged back, blurred
    at random, JPEG-compressed at quality 25-70."""
    px = crop.shape[0]
    small = max(4, round(head_px * CONTEXT))  # the crop's side when its head is head_px
    out = cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA)
    out = cv2.resize(out, (px, px), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.5)))
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 71))])
    if not ok:
        raise RuntimeError("JPEG encoding of a crop failed: expected OpenCV with libjpeg")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding of a crop failed: expected OpenCV with libjpeg")
    return decoded.astype(np.uint8)


def read_heads(label_file: Path, hw: tuple[int, int]) -> list[tuple[int, tuple[float, ...]]]:
    """``(class index in CLASSES, xyxy px)`` of the ``helmet``/``head`` boxes of a YOLO label
    file (ids 0 and 1 in both hard-hat sets)."""
    h, w = hw
    out: list[tuple[int, tuple[float, ...]]] = []
    if not label_file.is_file():
        return out
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[0] not in ("0", "1"):
            continue
        cx, cy, bw, bh = (float(v) for v in parts[1:])
        box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        if max(bw * w, bh * h) >= MIN_HEAD_PX:
            out.append((int(parts[0]), box))
    return out


def jittered(box: tuple[float, ...], rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A head box as an estimate would place it: shifted and resized at random."""
    x1, y1, x2, y2 = box
    s = max(x2 - x1, y2 - y1) * rng.uniform(*SIZE_RANGE)
    cx = (x1 + x2) / 2 + rng.uniform(-JITTER, JITTER) * s
    cy = (y1 + y2) / 2 + rng.uniform(-JITTER, JITTER) * s
    return (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)


def crops_of_image(
    image: np.ndarray,
    heads: list[tuple[int, tuple[float, ...]]],
    rng: np.random.Generator,
    copies: int = 1,
) -> Iterator[tuple[np.ndarray, int]]:
    """``copies`` pairs of crops per head (mild, degraded; each pair jittered anew) and
    ``NONE_PER_IMAGE`` crops away from heads."""
    for cls, box in heads:
        for _ in range(copies):
            crop = cut_square(image, head_crop_box(jittered(box, rng)), CROP_PX)
            yield crop, cls
            yield degrade(crop, rng.uniform(*HEAD_PX_RANGE), rng), cls
    h, w = image.shape[:2]
    sizes = [max(b[2] - b[0], b[3] - b[1]) for _, b in heads] or [min(h, w) / 8]
    for _ in range(NONE_PER_IMAGE * 20):  # tries
        s = float(rng.choice(sizes)) * rng.uniform(*SIZE_RANGE)
        cx, cy = rng.uniform(s / 2, max(w - s / 2, s)), rng.uniform(s / 2, max(h - s / 2, s))
        est = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
        if all(_overlap(est, b) < 0.05 for _, b in heads):
            crop = cut_square(image, head_crop_box(est), CROP_PX)
            yield (
                (degrade(crop, rng.uniform(*HEAD_PX_RANGE), rng) if rng.random() < 0.5 else crop),
                2,
            )
            break


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Share of box ``b``'s area inside box ``a``."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)
    return iw * ih / area


def smokers_heads(folder: Path, min_score: float) -> dict[str, list[tuple[int, tuple[float, ...]]]]:
    """Pseudo-labels for ``cigarette`` train, whose heads are unlabelled: every ``head`` or
    ``helmet`` box the shipped detector finds (416, no second looks) scoring at least
    ``min_score``, taken as a bare head (smokers in caps, hoods and beanies, no hard hats:
    the confusion the classifier must learn). Keyed by file name."""
    from sitewatch.edge.detect.detector import Detector

    det = Detector(conf=min_score, second_look=False, head_look=False, threads=1)
    out: dict[str, list[tuple[int, tuple[float, ...]]]] = {}
    paths = sorted(folder.iterdir())
    for i in range(0, len(paths), 8):
        read = [(p, cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in paths[i : i + 8]]
        chunk = [(p, im.astype(np.uint8)) for p, im in read if im is not None]
        for (path, _), dets in zip(chunk, det.detect([im for _, im in chunk]), strict=True):
            boxes = dets.with_label("head", "helmet").xyxy.tolist()
            heads = [(1, tuple(b)) for b in boxes if max(b[2] - b[0], b[3] - b[1]) >= MIN_HEAD_PX]
            out[path.name] = heads
    return out


SMOKER_COPIES = 3
"""Crop pairs per pseudo-labelled smoker's head (they are few, and the set's only caps)."""


def build_split(
    folders: list[Path],
    seed: int,
    pseudo: dict[str, list[tuple[int, tuple[float, ...]]]] | None = None,
    pseudo_folder: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All crops of the images under ``folders`` (``images/<split>`` dirs beside
    ``labels/<split>``), in file order, then of ``pseudo_folder`` with the ``pseudo`` heads
    (``SMOKER_COPIES`` pairs each), seeded."""
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    jobs: list[tuple[Path, Path | None]] = []
    for folder in folders:
        labels = folder.parents[1] / "labels" / folder.name
        jobs += [(p, labels / f"{p.stem}.txt") for p in sorted(folder.iterdir())]
    if pseudo and pseudo_folder:
        jobs += [(pseudo_folder / name, None) for name in sorted(pseudo)]
    for path, label_file in jobs:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        if label_file is None:
            heads, copies = (pseudo or {})[path.name], SMOKER_COPIES
        else:
            heads, copies = read_heads(label_file, image.shape[:2]), 1
        for crop, cls in crops_of_image(image, heads, rng, copies):
            xs.append(crop)
            ys.append(cls)
    if not xs:
        raise FileNotFoundError(f"no labelled heads under {folders}: expected ../shared beside")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/root/tv-runs/crops"))
    ap.add_argument(
        "--smokers", type=float, default=0.3, help="pseudo-label score for cigarette train heads"
    )
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    data = SHARED / "datasets"
    smokers = data / "cigarette/images/train"
    pseudo = smokers_heads(smokers, a.smokers) if a.smokers < 1 else None
    if pseudo is not None:
        print(f"smokers' heads: {sum(map(len, pseudo.values()))} in {len(pseudo)} images")
    splits = {
        "train": [data / "neuhardhat/images/train", data / "hardhat/images/train"],
        "val": [data / "neuhardhat/images/val"],
    }
    for i, (name, folders) in enumerate(splits.items()):
        extra = (pseudo, smokers) if name == "train" else (None, None)
        x, y = build_split(folders, 11 + i, *extra)
        np.savez(a.out / f"{name}.npz", x=x, y=y)
        counts = {c: int((y == k).sum()) for k, c in enumerate(CLASSES)}
        print(f"{name}: {len(y)} crops {counts}", flush=True)


if __name__ == "__main__":
    main()
