"""When the edge publishes a recording index: only news against the one last sent, on literal
indexes (Unix seconds; segments of 10 s, so a slack of 30 s: a prune's 10 s and two segments)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitewatch.contract import messages as m
from sitewatch.edge.video.recording import INDEX_REFRESH_S, CameraRecording, index_news

T = 1_765_000_000.0  # the last index's "at"
SLACK_S = 30.0
HOUR = 3600.0


def index(
    at: float,
    *spans: tuple[float, float],
    recording: bool = True,
    size: int = 1000,
    keep_s: float = HOUR,
) -> m.RecordingIndex:
    return m.RecordingIndex(
        site_id="north",
        camera_id="gate",
        stream="detect",
        spans=[m.RecordedSpan(start=utc(a), end=utc(b)) for a, b in spans],
        size_bytes=size,
        keep_s=keep_s,
        at=utc(at),
        recording=recording,
    )


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


LAST = index(T, (T - 3000, T - 10))  # 50 minutes of an hour's retention, still growing


@pytest.mark.parametrize(
    ("new", "why"),
    [
        # the end grew by a minute: the console extends it itself
        (index(T + 60, (T - 3000, T + 50)), None),
        # ... also when the size grew a little (under 10 %)
        (index(T + 60, (T - 3000, T + 50), size=1090), None),
        # fifteen minutes on: a refresh, news or not
        (index(T + INDEX_REFRESH_S, (T - 3000, T + 890)), "refresh"),
        # the camera stopped: the span closed
        (index(T + 60, (T - 3000, T + 10), recording=False), "recording stopped"),
        # a gap, and recording again: a new span
        (index(T + 60, (T - 3000, T), (T + 40, T + 50)), "spans"),
        (index(T + 60, (T - 3000, T + 50), keep_s=2 * HOUR), "keep_s"),
        (index(T + 60, (T - 3000, T + 50), size=1200), "size"),
        (index(T + 60, (T - 3000, T + 50), size=800), "size"),
        # the disk budget deleted ten minutes of fifty (20 %): news
        (index(T + 60, (T - 2400, T + 50)), "trimmed"),
        # ... one segment of fifty minutes: not worth a message until the refresh
        (index(T + 60, (T - 2990, T + 50)), None),
    ],
)  # fmt: skip
def test_only_news_is_published(new: m.RecordingIndex, why: str | None) -> None:
    assert index_news(LAST, new, SLACK_S) == why


def test_spans_aging_out_at_the_retention_are_not_news() -> None:
    full = index(T, (T - 5000, T - 4000), (T - 3590, T - 10))  # an hour kept, a span before it
    aged = index(T + 60, (T - 3530, T + 50))  # the old span gone, the start an hour back
    assert index_news(full, aged, SLACK_S) is None
    budget = index(T + 60, (T - 3000, T + 50))  # ten minutes younger than the retention
    assert index_news(full, budget, SLACK_S) == "trimmed"


def test_a_held_span_before_the_retention_leaves_the_budget_rule_as_it_is() -> None:
    held = (T - 90_000, T - 89_000)  # a legal hold a day back, kept beyond the retention
    last = index(T, held, (T - 3000, T - 10))
    assert index_news(last, index(T + 60, held, (T - 2990, T + 50)), SLACK_S) is None
    assert index_news(last, index(T + 60, held, (T - 2400, T + 50)), SLACK_S) == "trimmed"
    assert index_news(last, index(T + 60, (T - 3000, T + 50)), SLACK_S) is None  # released
    # a hole deleted inside a span splits it: news
    split = index(T + 60, held, (T - 3000, T - 2000), (T - 1900, T + 50))
    assert index_news(last, split, SLACK_S) == "spans"


def test_the_first_index_and_recording_starting_are_news() -> None:
    stopped = index(T, (T - 3000, T - 600), recording=False)
    assert index_news(None, stopped, SLACK_S) == "first"
    assert index_news(stopped, stopped, SLACK_S) is None  # nothing changed
    again = index(T + 60, (T - 3000, T - 600), (T + 20, T + 50))
    assert index_news(stopped, again, SLACK_S) == "recording started"
    # a stopped span does not grow unnoticed: its end is compared
    moved = index(T + 60, (T - 3000, T - 590), recording=False)
    assert index_news(stopped, moved, SLACK_S) == "spans"
    empty = index(T, recording=False, size=0)
    assert index_news(empty, empty, SLACK_S) is None
    assert index_news(empty, stopped, SLACK_S) == "size"  # (from 0 bytes)
    assert index_news(index(T, recording=False), stopped, SLACK_S) == "spans"


def test_the_index_says_recording_while_the_newest_segment_is_recent(tmp_path: Path) -> None:
    folder = tmp_path / "gate" / "detect"
    folder.mkdir(parents=True)
    end = 1_765_000_000.0
    rows = []
    for i in range(3):  # three 10 s segments ending at ``end``
        name = f"r1-{i:06d}.ts"
        (folder / name).write_bytes(b"x" * 100)
        rows.append(f"{name},{i * 10.0:.3f},{(i + 1) * 10.0:.3f}")
    (folder / "r1.csv").write_text("\n".join(rows) + "\n")
    for i in range(3):
        stamp = end - (2 - i) * 10.0
        os.utime(folder / f"r1-{i:06d}.ts", (stamp, stamp))
    os.utime(folder / "r1.csv", (end, end))
    rec = CameraRecording(
        "gate", "file:///sub.mp4", None, tmp_path / "gate", segment_s=10.0,
        keep_s={"detect": HOUR},
    )  # fmt: skip
    (now_growing,) = rec.index("north", "gate", end + 25.0)  # two segments and 5 s: growing
    (now_stopped,) = rec.index("north", "gate", end + 25.5)
    assert now_growing.spans and now_growing.spans[-1].end.timestamp() == pytest.approx(end)
    assert now_growing.recording and not now_stopped.recording


def test_an_older_edges_index_without_recording_still_validates() -> None:
    payload = LAST.model_dump(mode="json", by_alias=True)
    del payload["recording"]
    old = m.RecordingIndex.model_validate(payload)
    assert old.recording is False and old.spans == LAST.spans
