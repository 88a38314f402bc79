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


_EPS = 1e-9
"""Tolerance of the polygon checks: coordinates this close count as equal."""
MIN_POLYGON_AREA = 1e-6
"""Smallest area a zone polygon may have, in its units squared (for 0..1 points: a millionth
of the image)."""
POLYGON_MESSAGES: dict[str, str] = {
    "repeated_corner": "a polygon whose corners all differ, got corner {second} at the same "
    "place as corner {first} ({x:g}, {y:g}); delete one of them",
    "no_area": "a polygon with an area, got corners that lie on one line (or nearly); move a "
    "corner off that line",
    "edges_cross": "a polygon whose edges do not cross, got edge {a} (corner {a} to {a_next}) "
    "crossing edge {b} (corner {b} to {b_next}), a bow-tie; put the corners in order around "
    "the outline",
}
"""Why a polygon is refused, by code: ``str.format`` templates of :func:`polygon_problem`.
Corners and edges count from 1; edge k joins corner k to the next one (the last to the first).
The console's zone editor shows the same words for the same codes."""


def polygon_fault(points: npt.ArrayLike) -> tuple[str, dict[str, float]] | None:
    """Why ``points`` (``(K, 2)``, K >= 3) is no simple polygon: a code of
    :data:`POLYGON_MESSAGES` and its fields, or None. Checked in this order: a corner repeated,
    all corners on one line, two edges that cross or touch (a bow-tie, or an edge running back
    over the one before), an area under :data:`MIN_POLYGON_AREA`."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    k = len(p)
    for j in range(1, k):
        same = np.flatnonzero(np.all(np.abs(p[:j] - p[j]) <= _EPS, axis=1))
        if same.size:
            return "repeated_corner", {
                "first": int(same[0]) + 1,
                "second": j + 1,
                "x": float(p[j, 0]),
                "y": float(p[j, 1]),
            }
    if k < 3 or np.linalg.svd(p - p.mean(axis=0), compute_uv=False)[-1] <= _EPS:
        return "no_area", {}
    for a in range(k):
        for b in range(a + 1, k):
            if _edges_meet(p, a, b):
                return "edges_cross", {
                    "a": a + 1,
                    "a_next": (a + 1) % k + 1,
                    "b": b + 1,
                    "b_next": (b + 1) % k + 1,
                }
    if polygon_area(p) < MIN_POLYGON_AREA:
        return "no_area", {}
    return None


def polygon_problem(points: npt.ArrayLike) -> str | None:
    """Why ``points`` is no simple polygon, in the words of :data:`POLYGON_MESSAGES`, or None."""
    fault = polygon_fault(points)
    return None if fault is None else POLYGON_MESSAGES[fault[0]].format(**fault[1])


def _cross(o: Float64Array, a: Float64Array, b: Float64Array) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _edges_meet(p: Float64Array, a: int, b: int) -> bool:
    """Whether edges ``a`` and ``b`` (``a < b``) share a point they should not: any point for
    edges apart, more than their common corner for neighbours."""
    k = len(p)
    p1, p2, p3, p4 = p[a], p[(a + 1) % k], p[b], p[(b + 1) % k]
    if b == a + 1 or (a == 0 and b == k - 1):  # neighbours: only a fold back over each other
        corner, x, y = (p2, p1, p4) if b == a + 1 else (p1, p2, p3)
        return abs(_cross(corner, x, y)) <= _EPS and float(np.dot(x - corner, y - corner)) > 0
    d1, d2 = _cross(p3, p4, p1), _cross(p3, p4, p2)
    d3, d4 = _cross(p1, p2, p3), _cross(p1, p2, p4)
    if ((d1 > _EPS and d2 < -_EPS) or (d1 < -_EPS and d2 > _EPS)) and (
        (d3 > _EPS and d4 < -_EPS) or (d3 < -_EPS and d4 > _EPS)
    ):
        return True
    return any(
        abs(d) <= _EPS and _on_segment(q, s, t)
        for d, q, s, t in ((d1, p1, p3, p4), (d2, p2, p3, p4), (d3, p3, p1, p2), (d4, p4, p1, p2))
    )


def _on_segment(q: Float64Array, s: Float64Array, t: Float64Array) -> bool:
    """Whether ``q``, on the line through ``s`` and ``t``, lies between them (ends included)."""
    lo, hi = np.minimum(s, t) - _EPS, np.maximum(s, t) + _EPS
    return bool(np.all(q >= lo) and np.all(q <= hi))
