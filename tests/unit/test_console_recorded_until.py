"""The growing end of a recording index as the console shows it: extended up to the camera's
last status or its edge's later stats only while the index says recording, the camera is
online and its edge is not offline; never past a last frame its status said was old, now, or
half an hour after the index (Unix seconds)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sitewatch.console.store.models import Camera, RecordingIndexRow, Site
from sitewatch.console.video.recordings import GROWING_MAX_S, recorded_until, shown_spans

T = 1_765_000_000.0  # the index's "at"; its last span ends 10 s before


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def row(recording: bool = True, spans: list[list[float]] | None = None) -> RecordingIndexRow:
    spans = [[T - 3000, T - 2000], [T - 1000, T - 10]] if spans is None else spans
    return RecordingIndexRow(
        site_id="north", camera_id="gate", stream="detect", spans=spans, size_bytes=1,
        keep_s=3600.0, at=utc(T), received_at=utc(T), recording=recording,
    )  # fmt: skip


def camera(
    state: str = "online", status: float | None = T + 300, frame: float | None = None
) -> Camera:
    return Camera(
        site_id="north", camera_id="gate", state=state,
        status_at=utc(status) if status is not None else None,
        last_frame_at=utc(frame) if frame is not None else None,
    )  # fmt: skip


ONLINE = Site(id="north", edge_state="online")
STATS = Site(id="north", edge_state="online", stats_at=utc(T + 350))  # the edge's stats, later
EARLY_STATS = Site(id="north", edge_state="online", stats_at=utc(T + 100))
NOW = T + 400


@pytest.mark.parametrize(
    ("index", "cam", "site", "now", "until"),
    [
        # growing, camera online: up to its last status
        (row(), camera(), ONLINE, NOW, T + 300),
        # ... not past its last frame when the status said frames had stopped
        (row(), camera(frame=T + 200), ONLINE, NOW, T + 200),
        (row(), camera(frame=T + 200), STATS, NOW, T + 200),
        # ... up to the edge's later stats while frames flowed at the status
        (row(), camera(frame=T + 298), STATS, NOW, T + 350),
        (row(), camera(), STATS, NOW, T + 350),
        # ... stats before the status: the status
        (row(), camera(), EARLY_STATS, NOW, T + 300),
        # ... nor past now (an edge clock ahead)
        (row(), camera(status=T + 900), ONLINE, NOW, NOW),
        # ... nor half an hour past the index (no refresh came)
        (row(), camera(status=T + 5000), ONLINE, T + 6000, T + GROWING_MAX_S),
        # a status older than the index: the listed end
        (row(), camera(status=T - 100), ONLINE, NOW, T - 10),
        # the index does not say recording (an older edge's): as listed
        (row(recording=False), camera(), ONLINE, NOW, T - 10),
        # the camera offline, unknown or without a status; the edge offline: as listed
        (row(), camera(state="offline"), ONLINE, NOW, T - 10),
        (row(), None, ONLINE, NOW, T - 10),
        (row(), camera(status=None), ONLINE, NOW, T - 10),
        (row(), camera(), Site(id="north", edge_state="offline"), NOW, T - 10),
        # no site row: the camera's status decides
        (row(), camera(), None, NOW, T + 300),
        # nothing recorded
        (row(spans=[]), camera(), ONLINE, NOW, None),
    ],
)  # fmt: skip
def test_the_growing_end_is_bounded(
    index: RecordingIndexRow, cam: Camera | None, site: Site | None, now: float,
    until: float | None,
) -> None:  # fmt: skip
    assert recorded_until(index, cam, site, now) == until


def test_only_the_last_span_grows() -> None:
    assert shown_spans(row(), camera(), ONLINE, NOW) == [(T - 3000, T - 2000), (T - 1000, T + 300)]
    assert shown_spans(row(spans=[]), camera(), ONLINE, NOW) == []
