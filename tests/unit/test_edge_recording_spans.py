"""Pure parts of continuous recording: spans of the index and the prune plan, on literal data."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.edge.video.recording import CameraRecording, spans
from sitewatch.edge.video.ring import Pin, Segment, plan_prune


def segs(*bounds: tuple[float, float], size: int = 100) -> list[Segment]:
    """Segments from (start, end) wall-clock pairs in seconds."""
    return [Segment(Path(f"r1-{i:06d}.ts"), a, b - a, size) for i, (a, b) in enumerate(bounds)]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ([], []),
        ([(0, 2), (2, 4), (4, 6)], [(0, 6)]),
        ([(0, 2), (5.9, 8)], [(0, 8)]),  # a 3.9 s hole, under two 2 s segments: bridged
        ([(0, 2), (6, 8)], [(0, 2), (6, 8)]),  # a 4 s hole: two spans
        ([(9, 11), (0, 2), (2, 4)], [(0, 4), (9, 11)]),  # any order in, oldest first out
    ],
)
def test_spans_merge_holes_shorter_than_two_segments(
    bounds: list[tuple[float, float]], expected: list[tuple[float, float]]
) -> None:
    assert spans(segs(*bounds), bridge_s=4.0) == expected


def test_plan_prune_by_age_then_budget_oldest_first_never_held() -> None:
    ring = segs(*[(100.0 + 2 * i, 102.0 + 2 * i) for i in range(10)])  # 100..120 s, 100 B each
    assert [s.start for s in plan_prune(ring, [], 120.0, 10.0, 10**9)] == [100, 102, 104, 106]
    held = [Pin("case-1", 101.0, 103.5), Pin("alert-1", 113.0, 113.5)]  # 100, 102 and 112
    by_budget = plan_prune(ring, held, now=120.0, keep_s=100.0, max_bytes=450)
    assert [s.start for s in by_budget] == [104, 106, 108, 110, 114, 116]
    assert plan_prune(ring, held, now=120.0, keep_s=100.0, max_bytes=0)[-1].start == 118


def test_the_clip_stream_must_be_kept(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record stream feeds alert clips"):
        CameraRecording(
            "gate", "file:///sub.mp4", "file:///main.mp4", tmp_path,
            segment_s=2.0, keep_s={"detect": 60.0},
        )  # fmt: skip
    rec = CameraRecording(
        "gate", "file:///sub.mp4", "file:///main.mp4", tmp_path,
        segment_s=2.0, keep_s={"detect": 0.0, "record": 60.0},
    )  # fmt: skip
    assert list(rec.rings) == ["record"] and rec.clip_ring is rec.ring("record")
    with pytest.raises(KeyError, match="does not record its detect stream"):
        rec.ring("detect")
