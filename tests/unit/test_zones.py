"""Zones in pixels, point-in-polygon and anchors, on literal polygons and points."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sitewatch.edge.analysis.zones import CameraZones, PixelZone, anchor_points, check_zones
from sitewatch.edge.config.schema import Zone

FRAME = (100, 200)  # height, width
SQUARE = [(0.25, 0.2), (0.75, 0.2), (0.75, 0.8), (0.25, 0.8)]  # pixels x 50..150, y 20..80
L_SHAPE = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


def _zone(points: list[tuple[float, float]], kind: str = "helmet_required", zid: str = "z") -> Zone:
    return Zone.model_validate({"id": zid, "kind": kind, "points": points})


@pytest.mark.parametrize(
    ("points", "xy", "expected"),
    [
        (SQUARE, [[100, 50], [49, 50], [151, 50], [100, 19], [100, 81]], [1, 0, 0, 0, 0]),
        # half-open edges: left/top edges inside, right/bottom edges outside
        (SQUARE, [[50, 50], [150, 50], [100, 20], [100, 80]], [1, 0, 1, 0]),
        # concave: the notch of the L (top right) is outside
        (L_SHAPE, [[150, 25], [50, 25], [150, 75], [50, 75]], [0, 1, 1, 1]),
        (SQUARE, np.zeros((0, 2)), []),
    ],
)
def test_contains(
    points: list[tuple[float, float]], xy: npt.ArrayLike, expected: list[int]
) -> None:
    zone = PixelZone.from_config(_zone(points), FRAME)
    assert zone.contains(xy).tolist() == [bool(v) for v in expected]


def test_pixel_polygon_is_scaled_by_width_and_height() -> None:
    zone = PixelZone.from_config(_zone(SQUARE), FRAME)
    assert zone.polygon.tolist() == [[50, 20], [150, 20], [150, 80], [50, 80]]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(0.1, 0.1), (0.5, 0.5)], "at least 3 corners"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "zero area"),  # collinear
        ([(0.1, 0.1), (0.1, 0.1), (0.1, 0.1)], "zero area"),  # one point thrice
        ([(0, 0), (1, 1), (1, 0), (0, 1)], "zero area"),  # symmetric bow-tie: crosses itself
    ],
)
def test_degenerate_zone_fails_at_construction(
    points: list[tuple[float, float]], message: str
) -> None:
    zone = Zone.model_construct(id="bad", kind="mask", points=points)  # bypasses min_length=3
    with pytest.raises(ValueError, match=message):
        CameraZones([zone], FRAME)
    with pytest.raises(ValueError, match=message):
        check_zones([zone])


def test_pixel_zone_rejects_zero_area_in_pixels() -> None:
    with pytest.raises(ValueError, match="zero area"):
        PixelZone("z", "mask", np.array([[0, 0], [10, 0], [20, 0]], dtype=np.float64))


def test_duplicate_zone_ids_fail() -> None:
    with pytest.raises(ValueError, match="used twice"):
        CameraZones([_zone(SQUARE), _zone(L_SHAPE)], FRAME)


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        ("centre", [[15, 30], [100, 100]]),
        ("bottom_centre", [[15, 40], [100, 150]]),
        ("projected_feet", [[15, 40 + 6.5 * 20], [100, 150 + 6.5 * 100]]),
    ],
)
def test_anchor_points(anchor: str, expected: list[list[float]]) -> None:
    boxes = [[10, 20, 20, 40], [50, 50, 150, 150]]
    assert anchor_points(boxes, anchor).tolist() == expected  # type: ignore[arg-type]


def test_anchor_points_rejects_unknown_anchor() -> None:
    with pytest.raises(ValueError, match="unknown anchor 'feet'"):
        anchor_points([[0, 0, 1, 1]], "feet")  # type: ignore[arg-type]


def test_camera_zones_by_kind_first_zone_wins_and_mask() -> None:
    zones = CameraZones(
        [
            _zone(SQUARE, zid="a"),
            _zone(L_SHAPE, zid="b"),
            _zone([(0, 0), (0.1, 0), (0.1, 0.1)], kind="mask", zid="m"),
        ],
        FRAME,
    )
    points = [[100, 50], [20, 90], [150, 25], [15, 2]]
    assert zones.first_containing("helmet_required", points) == ["a", "b", None, "b"]
    assert zones.in_any("helmet_required", points).tolist() == [True, True, False, True]
    assert zones.masked(points).tolist() == [False, False, False, True]
    assert zones.in_any("no_smoking", points).tolist() == [False] * 4
