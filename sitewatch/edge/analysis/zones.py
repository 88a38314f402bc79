"""Zones in pixels for one camera and frame size, and the anchor points tested against them.

Config holds zones as normalised 0..1 polygons; :class:`CameraZones` turns them into pixel
polygons once per camera and frame size and fails fast on degenerate ones. ``contains`` is a
vectorised even-odd test: a point on an edge is inside on the left/top edges and outside on
the right/bottom ones, so two zones that share an edge never both claim a point.

Anchors, one per rule (each ``Rule.anchor`` in ``analysis.registry``): ``smoking`` and
``restricted_zone`` test a person's feet (bottom-centre of the box); ``no_helmet`` tests the
centre of the head box, or with ``projected_feet`` the head box moved down
:data:`HEAD_HEIGHTS_TO_FEET` head heights. Masks use the anchor of the rule being tested. Why
these anchors, and what they ask of the operator's zones: docs/design/zones.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from sitewatch.contract.messages import ZoneKind
from sitewatch.core.geometry import BoolArray, polygon_area
from sitewatch.core.geometry import Float64Array as FloatArray
from sitewatch.edge.config.schema import Zone

Anchor = Literal["centre", "bottom_centre", "projected_feet"]

HEAD_HEIGHTS_TO_FEET = 6.5
"""For ``projected_feet``: head heights from the bottom of a head box to the feet of a
standing adult (an adult is about 7.5 head heights tall)."""
MIN_AREA = 1e-6
"""Smallest zone area as a share of the image; anything smaller is a line or a point."""


def anchor_points(xyxy: npt.ArrayLike, anchor: Anchor) -> FloatArray:
    """``(N, 2)`` pixel points ``x, y`` for ``(N, 4)`` xyxy pixel boxes."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    if anchor == "centre":
        y = (boxes[:, 1] + boxes[:, 3]) / 2
    elif anchor == "bottom_centre":
        y = boxes[:, 3]
    elif anchor == "projected_feet":
        y = boxes[:, 3] + HEAD_HEIGHTS_TO_FEET * (boxes[:, 3] - boxes[:, 1])
    else:
        raise ValueError(
            f"unknown anchor {anchor!r}; expected centre, bottom_centre or projected_feet"
        )
    return np.stack([cx, y], axis=1)


def check_zones(zones: Sequence[Zone]) -> None:
    """Fail fast on duplicate ids and on polygons with fewer than 3 points or no area."""
    seen: set[str] = set()
    for zone in zones:
        if zone.id in seen:
            raise ValueError(
                f"zone id {zone.id!r} is used twice on this camera; ids must be unique"
            )
        seen.add(zone.id)
        _check_polygon(zone.id, zone.points, MIN_AREA)


@dataclass(frozen=True)
class PixelZone:
    """One zone as a ``(K, 2)`` float pixel polygon of a given frame."""

    id: str
    kind: ZoneKind
    polygon: FloatArray

    def __post_init__(self) -> None:
        poly = np.asarray(self.polygon, dtype=np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2:
            raise ValueError(f"zone {self.id!r}: polygon must have shape (K, 2), got {poly.shape}")
        _check_polygon(self.id, poly, 1.0)  # 1 px^2
        object.__setattr__(self, "polygon", poly)

    @classmethod
    def from_config(cls, zone: Zone, frame_hw: tuple[int, int]) -> PixelZone:
        h, w = frame_hw
        if h <= 0 or w <= 0:
            raise ValueError(f"frame_hw must be positive (height, width), got {frame_hw}")
        pts = np.asarray(zone.points, dtype=np.float64).reshape(-1, 2) * np.array([w, h])
        return cls(zone.id, zone.kind, pts)

    def contains(self, points_xy: npt.ArrayLike) -> BoolArray:
        """``(N,)`` bools: which ``(N, 2)`` pixel points lie inside the polygon."""
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        x, y = pts[:, :1], pts[:, 1:]  # (N, 1)
        x1, y1 = self.polygon[:, 0], self.polygon[:, 1]  # (K,)
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        crosses = (y1 > y) != (y2 > y)  # the edge spans the horizontal line through the point
        dy = np.where(y2 == y1, 1.0, y2 - y1)
        x_at = x1 + (y - y1) * (x2 - x1) / dy
        inside: BoolArray = ((crosses & (x < x_at)).sum(axis=1) % 2) == 1
        return inside


class CameraZones:
    """All zones of one camera in pixels for one frame size."""

    def __init__(self, zones: Sequence[Zone], frame_hw: tuple[int, int]) -> None:
        check_zones(zones)
        self.frame_hw = frame_hw
        self.zones = [PixelZone.from_config(z, frame_hw) for z in zones]

    def of_kind(self, kind: ZoneKind) -> list[PixelZone]:
        return [z for z in self.zones if z.kind == kind]

    def in_any(self, kind: ZoneKind, points_xy: npt.ArrayLike) -> BoolArray:
        """``(N,)`` bools: which points lie in at least one zone of ``kind``."""
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        hit = np.zeros(len(pts), dtype=bool)
        for zone in self.of_kind(kind):
            hit |= zone.contains(pts)
        return hit

    def first_containing(self, kind: ZoneKind, points_xy: npt.ArrayLike) -> list[str | None]:
        """Per point, the id of the first zone of ``kind`` (config order) holding it, or None."""
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        found: list[str | None] = [None] * len(pts)
        for zone in self.of_kind(kind):
            for i, inside in enumerate(zone.contains(pts).tolist()):
                if inside and found[i] is None:
                    found[i] = zone.id
        return found

    def masked(self, points_xy: npt.ArrayLike) -> BoolArray:
        """``(N,)`` bools: which points lie in a ``mask`` zone (ignored areas)."""
        return self.in_any("mask", points_xy)


def _check_polygon(zone_id: str, points: npt.ArrayLike, min_area: float) -> None:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        raise ValueError(
            f"zone {zone_id!r} has {len(pts)} points; a polygon needs at least 3 corners"
        )
    area = polygon_area(pts)
    if area < min_area:
        raise ValueError(
            f"zone {zone_id!r} has (near) zero area ({area:.3g}): its points are repeated or "
            "on one line, or the polygon crosses itself; redraw it as a simple polygon"
        )
