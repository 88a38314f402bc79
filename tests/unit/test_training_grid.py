"""The zoomed-out training frames (``training.data.grid``): every box still lies on its object."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np

from training.data import Box, grid


def _photo(path: Path, w: int, h: int, box: tuple[int, int, int, int]) -> list[Box]:
    image = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    cv2.imwrite(str(path), image)
    return [(1, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)]


def test_grid_moves_each_box_with_its_photo(tmp_path: Path) -> None:
    shapes = [(400, 300, (40, 30, 140, 130)), (300, 500, (200, 300, 280, 480)),
              (640, 360, (500, 10, 620, 120)), (256, 256, (0, 0, 64, 64))]  # fmt: skip
    cells = [
        (tmp_path / f"{k}.png", _photo(tmp_path / f"{k}.png", w, h, box))
        for k, (w, h, box) in enumerate(shapes)
    ]
    image, boxes = grid(cells, 2, 416, random.Random(0))

    assert image.shape == (416, 416, 3)
    assert len(boxes) == 4
    white = image.min(axis=2) > 128
    for k, (c, cx, cy, bw, bh) in enumerate(boxes):
        assert c == 1
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]) * 416
        x1, y1, x2, y2 = (int(v) for v in box.round())
        near = np.zeros_like(white)  # this photo's cell, around its box
        cell = np.zeros_like(white)
        cell[k // 2 * 208 : k // 2 * 208 + 208, k % 2 * 208 : k % 2 * 208 + 208] = True
        near[max(0, y1 - 8) : y2 + 8, max(0, x1 - 8) : x2 + 8] = True
        near &= cell
        ys, xs = np.nonzero(white & near)
        found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(found - box).max() <= 1.5, (found, box)
