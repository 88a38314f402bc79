"""When the edge publishes a camera's status between its minutely ones (housekeeping)."""

from __future__ import annotations

from dataclasses import replace

from sitewatch.edge.housekeeping import status_changed
from sitewatch.edge.video.capture import CameraStats

STEADY = CameraStats(
    state="online",
    fps_in=25.0,
    fps_decoded=25.0,
    fps_taken=5.0,
    frames_skipped=0,
    reconnects=0,
    stalls=0,
    last_frame_at=1.0,
    last_error=None,
)


def test_first_status_is_news() -> None:
    assert status_changed(None, STEADY)


def test_a_steady_camera_is_not_news() -> None:
    jitter = replace(STEADY, fps_in=24.0, fps_taken=5.6, frames_skipped=40, last_frame_at=9.0)
    assert not status_changed(STEADY, jitter)


def test_state_and_error_changes_are_news() -> None:
    assert status_changed(STEADY, replace(STEADY, state="stalled", last_error="refused"))
    down = replace(STEADY, state="stalled", last_error="refused")
    assert status_changed(down, replace(down, last_error="timed out"))


def test_an_online_cameras_error_is_not_sent_so_not_news() -> None:
    assert not status_changed(STEADY, replace(STEADY, last_error="one bad packet"))


def test_a_moved_frame_rate_is_news() -> None:
    assert status_changed(STEADY, replace(STEADY, fps_in=12.0))  # the camera halved its rate
    assert status_changed(replace(STEADY, fps_taken=0.0), STEADY)  # analysis began
    assert not status_changed(replace(STEADY, fps_taken=0.5), replace(STEADY, fps_taken=1.2))
