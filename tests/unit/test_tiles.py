"""The tile look's pure parts on literal sizes and detections: which squares cover a frame, and
how the tiles' boxes come back to the frame."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.edge.detect.tiles import cued_regions, tile_regions, tile_scale, tiles_to_frame
from sitewatch.edge.detections import Detections


def _dets(*rows: tuple[list[float], float, str]) -> Detections:
    return Detections.from_lists([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


@pytest.mark.parametrize(
    ("hw", "wanted", "scale", "side", "count"),
    [
        ((1080, 1920), 1.5, 1.5, 427, 24),  # 6 across, 4 down, enlarged 1.5x
        ((1080, 1920), 1.0, 1.0, 640, 8),  # 4 across, 2 down, at the frame's own pixels
        ((1440, 2560), 1.5, 1.125, 569, 24),  # capped: seen 2880 px long
        ((3000, 4000), 1.5, 0.72, 889, 30),  # a phone photo: 6 x 5
        ((1280, 720), 1.0, 1.0, 640, 6),  # portrait: 2 across, 3 down
        ((600, 640), 1.0, 1.0, 640, 1),  # fits in one
    ],
)
def test_tiles_cover_the_frame_with_overlap(
    hw: tuple[int, int], wanted: float, scale: float, side: int, count: int
) -> None:
    assert tile_scale(hw, wanted) == pytest.approx(scale)
    regions = tile_regions(hw, tile_scale(hw, wanted))
    assert len(regions) == count
    widths, heights = regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1]
    assert (widths == min(side, hw[1])).all() and (heights == min(side, hw[0])).all()
    covered = np.zeros(hw, dtype=bool)
    for x0, y0, x1, y1 in regions.tolist():
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    for axis in (0, 1):  # neighbours along each axis share at least a quarter of a side
        starts = sorted(set(regions[:, axis].tolist()))
        steps = np.diff(starts)
        assert (steps <= 0.75 * side + 1).all(), steps


def test_bad_tile_arguments_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"overlap must be in \[0, 1\)"):
        tile_regions((1080, 1920), 1.0, overlap=1.0)
    with pytest.raises(ValueError, match="scale above 0"):
        tile_regions((1080, 1920), 0.0)


def test_tile_boxes_come_back_to_the_frame_once() -> None:
    frame_hw = (1080, 1920)
    regions = np.asarray([[0, 0, 640, 640], [427, 0, 1067, 640]], dtype=np.int64)
    found = [
        _dets(
            ([500, 100, 520, 124], 0.7, "head"),  # whole in both tiles: one box stays
            ([620, 300, 640, 330], 0.9, "head"),  # cut by the first tile's inner edge
            ([0, 500, 15, 530], 0.4, "helmet"),  # at the frame's own edge: kept
        ),
        _dets(
            ([73, 100, 93, 124], 0.6, "head"),  # the first box again, scored lower
            ([193, 300, 215, 330], 0.8, "helmet"),  # the cut head, whole here
            ([600, 10, 640, 40], 0.5, "head"),  # at the tile's right edge, inside the frame
        ),
    ]
    merged = tiles_to_frame(found, regions, frame_hw, iou=0.45, max_detections=300)
    rows = sorted((b.tolist(), round(s, 2), n) for b, s, n in merged)
    assert rows == [
        ([0.0, 500.0, 15.0, 530.0], 0.4, "helmet"),
        ([500.0, 100.0, 520.0, 124.0], 0.7, "head"),
        ([620.0, 300.0, 642.0, 330.0], 0.8, "helmet"),
    ]


def test_cued_tiles_are_those_a_box_scoring_enough_overlaps() -> None:
    regions = tile_regions((1080, 1920), 1.5)  # 6 across, 4 down, 427 px squares
    found = _dets(
        ([30, 30, 60, 70], 0.02, "head"),  # top left corner: in the first tile only
        ([1700, 700, 1760, 1000], 0.5, "person"),  # bottom right: the last two rows' last tile
        ([900, 500, 930, 530], 0.005, "helmet"),  # below the cue: no tile for it
    )
    kept = cued_regions(regions, found, 0.01)
    assert kept.tolist() == [regions[0].tolist(), regions[17].tolist(), regions[23].tolist()]
    assert cued_regions(regions, found, 0.9).shape == (0, 4)  # no box scores that: no tile
    assert cued_regions(regions, _dets(), 0.01).shape == (0, 4)
