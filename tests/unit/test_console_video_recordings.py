"""Recorded spans as the timeline draws them: merged where they overlap or touch, clipped to
the range asked for; playback windows aligned to a minute, and when a cached one is final
(literal data, Unix seconds)."""

from __future__ import annotations

import pytest

from sitewatch.console.video.ranges import (
    PLAYBACK_WINDOW_S,
    SETTLE_S,
    cache_key,
    settled,
    window_of,
)
from sitewatch.console.video.recordings import Span, clip_spans


@pytest.mark.parametrize(
    ("spans", "lo", "hi", "expected"),
    [
        # nothing recorded
        ([], 0.0, 100.0, []),
        # one span inside the range stays as it is
        ([(10.0, 20.0)], 0.0, 100.0, [(10.0, 20.0)]),
        # clipped on both sides
        ([(10.0, 200.0)], 50.0, 100.0, [(50.0, 100.0)]),
        # wholly before, wholly after, and touching the range's edge only: left out
        ([(0.0, 10.0), (120.0, 130.0), (40.0, 50.0)], 50.0, 100.0, []),
        # overlapping spans merge; touching ones too; a gap stays a gap
        ([(10.0, 30.0), (20.0, 40.0), (40.0, 45.0), (50.0, 60.0)], 0.0, 100.0,
         [(10.0, 45.0), (50.0, 60.0)]),
        # out of order in, oldest first out
        ([(70.0, 80.0), (10.0, 20.0)], 0.0, 100.0, [(10.0, 20.0), (70.0, 80.0)]),
        # a span inside another one is absorbed
        ([(10.0, 90.0), (20.0, 30.0)], 0.0, 100.0, [(10.0, 90.0)]),
    ],
)  # fmt: skip
def test_spans_merge_and_clip(
    spans: list[Span], lo: float, hi: float, expected: list[Span]
) -> None:
    assert clip_spans(spans, lo, hi) == expected


@pytest.mark.parametrize(
    ("at", "window"),
    [
        (1_764_979_200.0, (1_764_979_200.0, 1_764_979_260.0)),  # on a boundary
        (1_764_979_259.9, (1_764_979_200.0, 1_764_979_260.0)),  # just before the next
        (1_764_979_261.5, (1_764_979_260.0, 1_764_979_320.0)),
    ],
)
def test_playback_windows_are_aligned_minutes(at: float, window: tuple[float, float]) -> None:
    assert window_of(at) == window
    assert window[1] - window[0] == PLAYBACK_WINDOW_S


def test_cache_key_names_camera_stream_and_window() -> None:
    assert (
        cache_key("north", "gate-2", "detect", 1_764_979_200.0) == "north.gate-2.detect.1764979200"
    )


W = 1_764_979_260.0  # a window's end


@pytest.mark.parametrize(
    ("end", "stored_at", "final"),
    [
        (W - 0.5, W - 20.0, True),  # reaches the window's end (within a second)
        (W - 30.0, W - 20.0, False),  # cut while the window was being recorded: may grow
        (W - 30.0, W + SETTLE_S - 1, False),  # the edge may not have closed its segment yet
        (W - 30.0, W + SETTLE_S, True),  # cut well after: the rest was never recorded
    ],
)
def test_a_cached_window_is_final_once_whole_or_cut_after_it_settled(
    end: float, stored_at: float, final: bool
) -> None:
    meta = {"start": W - 60.0, "end": end, "window_end": W, "stored_at": stored_at}
    assert settled(meta) is final
