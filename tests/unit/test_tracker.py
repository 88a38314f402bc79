"""The tracker on scripted frames: ids stay with the object through crossings, misses, gaps and
uneven frame intervals."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sitewatch.edge.analysis.tracker import Tracker
from sitewatch.edge.detections import Detections

Row = tuple[Sequence[float], float, str]


def _dets(*rows: Row) -> Detections:
    return Detections.from_lists([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def _run(tracker: Tracker, frames: Sequence[tuple[float, Sequence[Row]]]) -> list[list[int]]:
    return [tracker.update(_dets(*rows), ts).track_ids.tolist() for ts, rows in frames]


def _box(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_a_track_has_its_id_from_the_first_sighting_and_keeps_it() -> None:
    head = ([100, 100, 130, 130], 0.8, "head")
    ids = _run(Tracker(), [(0.0, [head]), (0.5, [head]), (1.0, [head])])
    assert ids == [[1], [1], [1]]


def test_min_hits_one_confirms_at_once() -> None:
    ids = _run(Tracker(min_hits=1), [(0.0, [([0, 0, 10, 10], 0.9, "person")])])
    assert ids == [[1]]


def test_two_crossing_people_keep_their_ids() -> None:
    # 2 fps, 60x160 boxes moving 40 px per frame towards each other, 20 px apart vertically
    frames = []
    for k in range(12):
        a = (_box(100 + 40 * k, 300, 60, 160), 0.9, "person")
        b = (_box(540 - 40 * k, 320, 60, 160), 0.85, "person")
        frames.append((k * 0.5, [a, b]))
    ids = _run(Tracker(), frames)
    assert all(row == [1, 2] for row in ids), ids


@pytest.mark.parametrize("gap_s", [1.0, 1.5])  # one missed frame at 2 fps; dropped frames
def test_track_survives_a_gap(gap_s: float) -> None:
    # a person walking right at 80 px/s
    def at(ts: float) -> list[Row]:
        return [(_box(100 + 80 * ts, 300, 60, 160), 0.9, "person")]

    times = [0.0, 0.5, 1.0, 1.0 + gap_s, 1.5 + gap_s]
    ids = _run(Tracker(), [(t, at(t)) for t in times])
    assert ids == [[1]] * 5


def test_plain_iou_without_prediction_would_lose_the_gap() -> None:
    # the same walk with the box jumping 120 px (two widths): matched only thanks to velocity
    times = [0.0, 0.5, 1.0, 2.5]
    frames = [(t, [(_box(100 + 80 * t, 300, 60, 160), 0.9, "person")]) for t in times]
    ids = _run(Tracker(), frames)
    assert ids[-1] == [1]
    # a standing track does not catch a box appearing two widths away
    still = [(t, [(_box(100, 300, 60, 160), 0.9, "person")]) for t in (0.0, 0.5, 1.0)]
    jump = (2.5, [(_box(220, 300, 60, 160), 0.9, "person")])
    assert _run(Tracker(), [*still, jump])[-1] == [2]


def test_track_older_than_max_age_is_removed() -> None:
    head = ([100, 100, 130, 130], 0.8, "head")
    ids = _run(Tracker(max_age_s=1.0), [(0.0, [head]), (0.5, [head]), (2.0, [head]), (2.5, [head])])
    assert ids == [[1], [1], [2], [2]]


def test_head_helmet_flicker_keeps_one_track() -> None:
    labels = ["head", "helmet", "head", "helmet", "head"]
    frames = [(k * 0.5, [([100 + k, 100, 130 + k, 130], 0.8, n)]) for k, n in enumerate(labels)]
    assert _run(Tracker(), frames) == [[1]] * 5


def test_head_and_helmet_on_one_head_share_the_id() -> None:
    both = [([100, 100, 130, 130], 0.7, "head"), ([101, 99, 131, 130], 0.6, "helmet")]
    ids = _run(Tracker(), [(0.0, both), (0.5, both), (1.0, both)])
    assert ids == [[1, 1]] * 3


def test_two_overlapping_people_are_two_tracks() -> None:
    # one worker half behind another: IoU 0.82, but both boxes survived NMS, so two people
    rows: list[Row] = [([100, 100, 200, 400], 0.9, "person"), ([110, 100, 210, 400], 0.8, "person")]
    ids = _run(Tracker(), [(0.0, rows), (0.5, rows), (1.0, rows)])
    assert ids[1:] == [[1, 2], [1, 2]]


def test_groups_are_tracked_separately_and_cigarettes_never() -> None:
    # a head inside a person box must not be matched to the person track
    rows: list[Row] = [
        ([90, 90, 150, 300], 0.9, "person"),
        ([105, 92, 135, 122], 0.8, "head"),
        ([130, 120, 140, 124], 0.9, "cigarette"),
    ]
    ids = _run(Tracker(), [(0.0, rows), (0.5, rows)])
    assert ids[1][2] == -1
    assert ids[1][0] != ids[1][1] and min(ids[1][:2]) >= 1


def test_low_score_detections_keep_a_track_but_never_start_one() -> None:
    strong = ([100, 100, 130, 130], 0.8, "head")
    weak = ([102, 100, 132, 130], 0.2, "head")
    frames = [(0.0, [strong]), (0.5, [strong]), (1.0, [weak]), (1.5, [weak])]
    assert _run(Tracker(), frames) == [[1]] * 4
    assert _run(Tracker(), [(0.0, [weak]), (0.5, [weak]), (1.0, [weak])]) == [[-1]] * 3
    # a tentative track (one sighting) is not fed by weak boxes
    assert _run(Tracker(), [(0.0, [strong]), (0.5, [weak])]) == [[1], [-1]]


def test_tentative_track_missing_a_frame_is_dropped() -> None:
    head = ([100, 100, 130, 130], 0.8, "head")
    ids = _run(Tracker(), [(0.0, [head]), (0.5, []), (1.0, [head]), (1.5, [head])])
    assert ids == [[1], [], [2], [2]]


def _walk(times: Sequence[float], speed: float = 60.0, jitter: float = 0.0) -> list[list[int]]:
    """A head (30 px) walking right at ``speed`` px/s, seen at ``times``; its box jitters by
    +-``jitter`` px from frame to frame (the detector's noise)."""
    frames = []
    for k, t in enumerate(times):
        dx = jitter if k % 2 else -jitter
        frames.append((t, [(_box(100 + speed * t + dx, 200, 30, 30), 0.8, "head")]))
    return _run(Tracker(), frames)


@pytest.mark.parametrize(
    "times",
    [
        # two frames 40 ms apart (a batch that took a camera early), then the usual 0.5 s
        [0.0, 0.04, 0.54, 1.04, 1.54, 2.04],
        # irregular: early, late, a second lost, bursts
        [0.0, 0.3, 0.35, 1.2, 1.25, 1.3, 2.5, 2.6, 3.1],
        # first steps short, then a gap of dropped frames
        [0.0, 0.05, 0.3, 1.5, 2.0, 2.5],
    ],
)
def test_uneven_frame_intervals_keep_one_id(times: list[float]) -> None:
    assert _walk(times, jitter=3.0) == [[1]] * len(times)


def test_a_jittery_first_step_does_not_fling_the_track_away() -> None:
    # 6 px of box noise over 40 ms would be a 150 px/s "velocity" measured per step; the
    # person stands still and is seen again 1 s later, where it was
    times = [0.0, 0.04, 1.04, 1.54]
    assert _walk(times, speed=0.0, jitter=3.0) == [[1]] * len(times)


def test_a_fast_walker_seen_unevenly_keeps_its_id() -> None:
    # 100 px/s (three head widths a second), frames 0.1 to 0.85 s apart
    times = [0.0, 0.25, 0.75, 0.85, 1.7, 2.1, 2.4, 3.0]
    assert _walk(times, speed=100.0, jitter=2.0) == [[1]] * len(times)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": {"a": ("head",), "b": ("head", "person")}}, "in groups 'a' and 'b'"),
        ({"low_score": 0.6, "high_score": 0.5}, "low_score <= high_score"),
        ({"match_iou": 0.0}, "match_iou must be in"),
        ({"min_hits": 0}, "min_hits >= 1"),
        ({"max_age_s": 0.0}, "max_age_s > 0"),
    ],
)
def test_bad_settings_fail(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tracker(**kwargs)  # type: ignore[arg-type]
