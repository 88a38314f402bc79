"""Camera passwords never reach a log line or a status: the pure functions, and a real ffmpeg
recorder failing to reach a camera whose URL holds credentials."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from sitewatch.edge.video.recorder import SegmentRecorder
from sitewatch.edge.video.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/sub", "rtsp://admin:***@10.0.0.5:554/sub"),
        ("rtsp://admin:p%40ss@cam/sub", "rtsp://admin:***@cam/sub"),  # an @ in the password
        ("rtsp://cam.local/sub", "rtsp://cam.local/sub"),
        ("rtsp://viewer@cam/sub", "rtsp://viewer@cam/sub"),  # a user, no password
        ("file:///clips/yard.mp4", "file:///clips/yard.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_hides_the_password_typed_or_decoded() -> None:
    url = "rtsp://admin:p%40ss@cam/sub"
    text = f"error opening {url}: 401 for user admin with p@ss or p%40ss"
    assert redact_text(text, url) == (
        "error opening rtsp://admin:***@cam/sub: 401 for user admin with *** or ***"
    )
    assert redact_text("no password here", "rtsp://cam/sub") == "no password here"


def test_a_failing_recorder_logs_and_reports_no_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "rtsp://admin:Zebra-Horse-42@127.0.0.1:9/main"  # port 9: nothing listens
    recorder = SegmentRecorder(url, tmp_path / "ring", connect_s=2.0, backoff_s=(0.1, 0.1))
    with caplog.at_level(logging.WARNING, logger="sitewatch.edge.video.recorder"):
        recorder.start()
        try:
            deadline = time.monotonic() + 20
            while recorder.status().restarts < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            recorder.stop()
    status = recorder.status()
    assert status.restarts >= 1 and status.last_error  # it did fail, and said why
    assert "Zebra-Horse-42" not in status.last_error
    assert "recorder rtsp://admin:***@127.0.0.1:9/main" in caplog.text
    assert "Zebra-Horse-42" not in caplog.text
    with pytest.raises(ValueError, match=r"ftp://u:\*\*\*@host") as err:
        SegmentRecorder("ftp://u:Zebra-Horse-42@host/x", tmp_path)
    assert "Zebra-Horse-42" not in str(err.value)
