"""Box and polygon geometry on numpy arrays: pure functions, no state, no I/O.

Boxes are ``xyxy`` (left, top, right, bottom) in whatever unit the caller uses (pixels, or
0..1 of the image); a box with ``right < left`` or ``bottom < top`` has zero area. Polygons
are ``(K, 2)`` ``x, y`` corners in order, the last joined back to the first.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]
"""One xyxy box as plain floats (what goes into messages and records)."""
FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
Image = UInt8Array
"""A picture: BGR ``(H, W, 3)`` uint8, as OpenCV and the detector take it."""


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes, as an ``(N, M)`` float32 array
    (0 where both boxes have no area)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def polygon_area(points: npt.ArrayLike) -> float:
    """Absolute shoelace area of a ``(K, 2)`` polygon, in its own units squared (a polygon
    that crosses itself counts its lobes against each other)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
