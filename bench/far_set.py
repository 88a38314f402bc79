"""Val images as a site camera sees them: each photo shrunk and pasted into a larger frame.

Built under ``build/`` at run time from ``../shared`` (nothing third-party is committed): every
image of ``<dataset>/images/val`` is resized to ``scale`` of the canvas height and pasted at a
seeded random place into a blurred, canvas-sized copy of itself; its labels move with it.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import cv2

from sitewatch.tools.dataset import open_dataset, read_labels

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))


def far_set(dataset: str, out: Path, scale: float, canvas: tuple[int, int], seed: int = 0) -> Path:
    """Build (once) and return a YOLO dataset folder of ``dataset``'s val split made far away."""
    src_root = SHARED / "datasets" / dataset
    src = open_dataset(src_root, "val")
    if (out / "DONE").exists():
        return out
    rng = random.Random(seed)
    (out / "images" / "val").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "val").mkdir(parents=True, exist_ok=True)
    shutil.copy(src_root / "data.yaml", out / "data.yaml")
    cw, ch = canvas
    for path in src.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        h, w = image.shape[:2]
        f = min(scale * ch / h, cw / w)
        small = cv2.resize(
            image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA
        )
        sh, sw = small.shape[:2]
        frame = cv2.GaussianBlur(cv2.resize(image, canvas), (0, 0), 25)
        x0, y0 = rng.randint(0, cw - sw), rng.randint(0, ch - sh)
        frame[y0 : y0 + sh, x0 : x0 + sw] = small
        name = f"{path.stem}.jpg"
        cv2.imwrite(str(out / "images" / "val" / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        ids, boxes = read_labels(src.label_file(path), w, h)
        lines = []
        for c, (x1, y1, x2, y2) in zip(ids.tolist(), boxes.tolist(), strict=True):
            X1, Y1, X2, Y2 = x0 + x1 * f, y0 + y1 * f, x0 + x2 * f, y0 + y2 * f
            lines.append(
                f"{c} {(X1 + X2) / 2 / cw:.6f} {(Y1 + Y2) / 2 / ch:.6f} "
                f"{(X2 - X1) / cw:.6f} {(Y2 - Y1) / ch:.6f}"
            )
        (out / "labels" / "val" / f"{path.stem}.txt").write_text("\n".join(lines) + "\n")
    (out / "DONE").write_text("")
    return out
