"""The analysed stream recorded from its reader's packets (sitewatch.edge.video.packet_recorder),
against a real RTSP server: segments that play on their own, listed as ffmpeg's recorder lists
them, indexed by the same ring, and a new run after the camera comes back."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import av
import pytest

from sitewatch.edge.video.capture import CameraReader
from sitewatch.edge.video.packet_recorder import PacketRecorder
from sitewatch.edge.video.ring import SegmentRing
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)

SEGMENT_S = 1.0


def wait_segments(ring: SegmentRing, count: int, timeout_s: float) -> list[Path]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        segs = ring.refresh()
        if len(segs) >= count:
            return [seg.path for seg in segs]
        time.sleep(0.2)
    pytest.fail(f"expected {count} indexed segments within {timeout_s} s, got {ring.refresh()}")


def decode(path: Path) -> tuple[int, bool, float]:
    """Frames decoded, whether the first is a keyframe, and the duration in seconds."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
    assert frames, f"{path} decodes to no frame"
    first, last = frames[0].time or 0.0, frames[-1].time or 0.0
    return len(frames), frames[0].key_frame, last - first


def test_segments_play_alone_and_are_indexed_like_ffmpegs(
    rtsp_server: RtspServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    recorder = PacketRecorder(tmp_path, SEGMENT_S, keep_s=60.0)
    ring = SegmentRing(tmp_path, keep_s=60.0)
    reader = CameraReader("cam", rtsp_server.url("cam1"), need_fps=2.0, packets=recorder)
    recorder.start()
    reader.start()
    try:
        paths = wait_segments(ring, 4, timeout_s=30.0)
        assert recorder.status().state == "recording"
    finally:
        reader.stop(timeout_s=5.0)
        recorder.stop()
    listing = next(tmp_path.glob("p*.csv"))
    rows = list(csv.reader(listing.read_text().splitlines()))
    assert [r[0] for r in rows[: len(paths)]] == [p.name for p in paths]
    for path, (_, start, end) in zip(paths, rows, strict=False):
        frames, key_first, seconds = decode(path)
        assert key_first, f"{path.name} does not start at a keyframe: it cannot play alone"
        listed = float(end) - float(start)
        # cut at the first keyframe after SEGMENT_S; the test stream's GOP is at most 2 s
        assert SEGMENT_S * 0.5 <= listed <= SEGMENT_S + 2.5, (path.name, listed)
        assert abs(seconds - listed) < 0.2, (path.name, seconds, listed)
        assert frames >= int(listed * 20), f"{path.name}: {frames} frames for {listed:.2f} s"
    starts = [seg.start for seg in ring.refresh()]
    assert starts == sorted(starts)
    assert recorder.failed_segments == 0


def test_a_camera_that_comes_back_starts_a_new_run(
    rtsp_server: RtspServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    recorder = PacketRecorder(tmp_path, SEGMENT_S, keep_s=60.0)
    ring = SegmentRing(tmp_path, keep_s=60.0)
    reader = CameraReader(
        "cam",
        rtsp_server.url("cam1"),
        stall_s=2.0,
        open_timeout_s=2.0,
        backoff_s=(0.2, 1.0),
        packets=recorder,
    )
    recorder.start()
    reader.start()
    try:
        wait_segments(ring, 2, timeout_s=30.0)
        rtsp_server.stop()
        time.sleep(1.0)
        assert recorder.status().state == "backoff"
        rtsp_server.start()
        deadline = time.monotonic() + 30.0
        while len({p.name.split("-")[0] for p in tmp_path.glob("p*-*.ts")}) < 2:
            assert time.monotonic() < deadline, "no segment of a second run after reconnecting"
            time.sleep(0.2)
        wait_segments(ring, 4, timeout_s=30.0)
    finally:
        reader.stop(timeout_s=5.0)
        recorder.stop()
    assert recorder.status().restarts >= 1
    runs = sorted(tmp_path.glob("p*.csv"))
    assert len(runs) >= 2, "each connection lists its segments in its own run's list"
