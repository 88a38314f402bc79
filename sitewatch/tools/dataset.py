"""Read a YOLO-format dataset folder: images, their label files, and ``data.yaml`` names.

Layout: ``DIR/images/<split>/*.jpg`` with ``DIR/labels/<split>/*.txt`` (or ``DIR/images`` and
``DIR/labels`` without a split), one ``class cx cy w h`` line per box, normalised 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from sitewatch.core.geometry import FloatArray, IntArray

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Dataset:
    """Image files with their label files, and class names when ``data.yaml`` gives them."""

    root: Path
    images: tuple[Path, ...]
    label_dir: Path
    names: dict[int, str] | None

    def label_file(self, image: Path) -> Path:
        return self.label_dir / (image.stem + ".txt")


def open_dataset(root: str | Path, split: str = "val") -> Dataset:
    """Find images and labels under ``root``; ``ValueError`` saying what is missing."""
    root = Path(root)
    for images, labels in (
        (root / "images" / split, root / "labels" / split),
        (root / "images", root / "labels"),
    ):
        files = _image_files(images)
        if files:
            return Dataset(root, files, labels, _read_names(root / "data.yaml"))
    raise ValueError(
        f"no images found in {root / 'images' / split} or {root / 'images'}; expected a "
        f"YOLO-format dataset (images/<split>/*.jpg with labels/<split>/*.txt)"
    )


def read_labels(path: Path, width: int, height: int) -> tuple[IntArray, FloatArray]:
    """Class ids and xyxy pixel boxes from a YOLO label file (missing file = no boxes)."""
    ids: list[int] = []
    boxes: list[list[float]] = []
    if path.is_file():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                cls = int(parts[0])
                cx, cy, w, h = (float(v) for v in parts[1:5])
            except ValueError as exc:
                raise ValueError(
                    f"{path}:{number}: expected 'class cx cy w h', got {line!r}"
                ) from exc
            if len(parts) != 5:
                raise ValueError(f"{path}:{number}: expected 'class cx cy w h', got {line!r}")
            ids.append(cls)
            boxes.append(
                [
                    (cx - w / 2) * width,
                    (cy - h / 2) * height,
                    (cx + w / 2) * width,
                    (cy + h / 2) * height,
                ]
            )
    return (
        np.asarray(ids, dtype=np.int64),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
    )


def _image_files(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))


def _read_names(path: Path) -> dict[int, str] | None:
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text())
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not all(
        isinstance(k, int) and isinstance(v, str) for k, v in names.items()
    ):
        raise ValueError(
            f"{path}: expected 'names' as a list or a mapping of class id to label, got {names!r}"
        )
    return dict(names)
