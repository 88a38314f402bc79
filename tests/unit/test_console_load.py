"""The pure parts of bench/console_load.py: percentiles, lost and duplicated, the message rate
of a camera, and the alert schedule (a burst in the middle; files before their listing)."""

from __future__ import annotations

import heapq

import pytest

from bench.console_load_edges import Profile, Schedule
from bench.console_load_watch import delays, lost_and_duplicated, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 95, None),
        ([3.0], 95, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),  # nearest rank: ceil(4 * 0.5) = 2nd
        ([float(i) for i in range(1, 101)], 95, 95.0),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 100, 5.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_delays_only_for_keys_in_both() -> None:
    sent = {("a", 0): 10.0, ("a", 1): 11.0, ("b", 0): 12.0}
    seen = {("a", 0): 10.5, ("b", 0): 14.0, ("c", 0): 1.0}  # ("a", 1) never seen
    assert sorted(delays(sent, seen)) == [0.5, 2.0]


def test_lost_and_duplicated() -> None:
    published = [("a", 0), ("a", 1), ("b", 0)]
    stored = [("a", 0), ("b", 0), ("b", 0), ("z", 9)]  # (b, 0) twice; (z, 9) not ours
    assert lost_and_duplicated(published, stored) == ([("a", 1)], [("b", 0)])


def test_a_camera_sends_about_two_thirds_of_a_message_a_minute() -> None:
    # status every 300 s, snapshot every 300 s, two recording indexes every 900 s, alerts' 6
    rate = Profile(alerts_per_camera_day=20.0).messages_per_camera_s()
    assert rate == pytest.approx(1 / 300 + 1 / 300 + 2 / 900 + 20 * 6 / 86400)


class FakeEdge:
    """Stands in for SimEdge in the schedule: records what would be sent (no network)."""

    def __init__(self, cameras: int) -> None:
        self.site = "s"
        self.cameras = [f"cam{i}" for i in range(cameras)]
        self.sent: list[tuple[float, str, int]] = []

    def alert(
        self, alert_id: object, camera: str, seq: int, started: float, now: float, filler: object
    ) -> None:
        self.sent.append((now, str(alert_id), seq))


def test_alerts_burst_in_the_middle_and_each_has_three_messages_in_order() -> None:
    edge = FakeEdge(100)
    profile = Profile(
        alerts_per_camera_day=200.0,
        burst_factor=100.0,
        burst_s=10.0,
        snapshot_bytes=1000,
        clip_bytes=1000,
    )
    schedule = Schedule([edge], profile, seconds=100.0, seed=1)  # type: ignore[list-item]
    schedule._plan_alerts(0.0, 100.0)
    while schedule._heap:  # run the timeline without waiting
        due, _, job = heapq.heappop(schedule._heap)
        job(due)
    b0, b1 = schedule.burst_window(0.0)
    assert (b0, b1) == (45.0, 55.0)
    starts = [t for t, _, seq in edge.sent if seq == 0]
    in_burst = sum(b0 <= t < b1 for t in starts)
    # base 100 * 200 / 86400 = 0.23 alerts/s; 100x in the 10 s burst: ~231 there, ~21 outside
    assert in_burst > 150 and len(starts) - in_burst < 60
    by_alert: dict[str, list[int]] = {}
    for _, alert_id, seq in sorted(edge.sent):
        by_alert.setdefault(alert_id, []).append(seq)
    assert all(seqs == [0, 1, 2] for seqs in by_alert.values())
