"""Where the second look crops, and how its cigarettes merge, on literal detections."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.edge.detect.second_look import head_regions, merge_cigarettes
from sitewatch.edge.detections import Detections

FRAME = (1000, 1000)
PERSON = [100, 100, 200, 500]  # 100 x 400: top 45% = 180 px, widened 120 -> 180 square
PERSON_REGION = [60, 100, 240, 280]


def _dets(*rows: tuple[list[float], float, str]) -> Detections:
    return Detections.from_lists([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


@pytest.mark.parametrize(
    ("dets", "max_crops", "expected"),
    [
        (_dets((PERSON, 0.9, "person")), 8, [PERSON_REGION]),
        (_dets(([0, 0, 100, 400], 0.9, "person")), 8, [[0, 0, 180, 180]]),  # pushed inside
        # a far-away person: 48 px minimum, centred on the top 45%
        (_dets(([500, 500, 510, 540], 0.9, "person")), 8, [[481, 485, 529, 533]]),
        (_dets((PERSON, 0.1, "person")), 8, []),  # too unsure to crop
        # a head inside the person adds nothing; a lone head gets 3 head sizes, head near the top
        (
            _dets(
                (PERSON, 0.9, "person"),
                ([140, 100, 160, 124], 0.8, "head"),
                ([700, 700, 720, 724], 0.7, "head"),
            ),
            8,
            [PERSON_REGION, [674, 692, 746, 765]],
        ),
        # best score first, capped
        (
            _dets(([600, 100, 700, 500], 0.5, "person"), (PERSON, 0.9, "person")),
            1,
            [PERSON_REGION],
        ),
        (_dets(([0, 0, 1000, 1000], 0.9, "person")), 8, []),  # as big as the frame: skip
        # the same person found twice: one crop
        (_dets((PERSON, 0.9, "person"), ([101, 100, 201, 498], 0.8, "person")), 8, [PERSON_REGION]),
        (_dets(([10, 10, 20, 20], 0.9, "helmet"), ([5, 5, 8, 8], 0.9, "cigarette")), 8, []),
    ],
)
def test_head_regions(dets: Detections, max_crops: int, expected: list[list[int]]) -> None:
    regions = head_regions(dets, FRAME, min_score=0.25, max_crops=max_crops, min_size=48)
    assert regions.shape == (len(expected), 4)
    assert regions.tolist() == expected


def test_no_regions_for_a_model_without_people_or_heads() -> None:
    dets = Detections.from_lists([[0, 0, 10, 10]], [0.9], ["cigarette"], ("cigarette",))
    regions = head_regions(dets, FRAME, min_score=0.25, max_crops=8, min_size=48)
    assert regions.shape == (0, 4)


def test_merge_keeps_frame_labels_and_suppresses_duplicate_cigarettes() -> None:
    frame = _dets(([0, 0, 10, 10], 0.8, "head"), ([100, 100, 110, 105], 0.3, "cigarette"))
    crops = [
        _dets(([101, 100, 111, 105], 0.6, "cigarette"), ([50, 50, 60, 60], 0.9, "head")),
        _dets(([300, 300, 305, 310], 0.5, "cigarette")),
    ]
    merged = merge_cigarettes(frame, crops, iou=0.45, max_detections=300)
    assert merged.label_names() == ["head", "cigarette", "cigarette"]
    np.testing.assert_allclose(merged.scores, [0.8, 0.6, 0.5])
    np.testing.assert_allclose(merged.xyxy[1:], [[101, 100, 111, 105], [300, 300, 305, 310]])


def test_merge_without_crop_cigarettes_changes_nothing() -> None:
    frame = _dets(([0, 0, 10, 10], 0.8, "head"))
    merged = merge_cigarettes(frame, [_dets(([1, 1, 9, 9], 0.9, "helmet"))], 0.45, 300)
    assert merged.label_names() == ["head"] and merged.scores.tolist() == pytest.approx([0.8])
