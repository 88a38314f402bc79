"""CameraReader against a real RTSP server (samples/rtsp_server.py) serving a looping 4-s clip."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator

import pytest

from sitewatch.edge.video.capture import CameraReader, CameraStats, Frame
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)

STALL_S = 2.0
MakeReader = Callable[..., CameraReader]


@pytest.fixture
def make_reader() -> Iterator[MakeReader]:
    """Started readers with test-sized timeouts; each must stop within 5 s at teardown."""
    readers: list[CameraReader] = []

    def make(url: str, need_fps: float | None = None) -> CameraReader:
        timeouts = {"stall_s": STALL_S, "open_timeout_s": 2.0}
        reader = CameraReader("cam", url, need_fps=need_fps, backoff_s=(0.2, 1.0), **timeouts)
        reader.start()
        readers.append(reader)
        return reader

    yield make
    stopped = [reader.stop(timeout_s=5.0) for reader in readers]
    assert all(stopped), "a reader thread did not stop within 5 s"


def wait_for(reader: CameraReader, check: Callable[[CameraStats], bool], timeout_s: float) -> float:
    """Seconds until ``check(reader.stats())`` holds; fails after ``timeout_s``."""
    start = time.monotonic()
    while not check(stats := reader.stats()):
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"condition not met within {timeout_s} s; stats: {stats}")
        time.sleep(0.05)
    return time.monotonic() - start


def collect(reader: CameraReader, seconds: float) -> list[Frame]:
    """Every frame the reader offers during ``seconds`` (a consumer that keeps up)."""
    frames: list[Frame] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = reader.latest(frames[-1].seq if frames else 0, timeout_s=0.5)
        if frame is not None:
            frames.append(frame)
    return frames


def test_frames_have_the_stream_size_and_increasing_stream_timestamps(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"))
    frames = collect(reader, 2.5)
    stats = reader.stats()
    assert len(frames) >= 40, f"expected ~60 frames at 25 fps in 2.5 s, got {len(frames)}"
    for frame in frames:
        assert frame.image.shape == (360, 640, 3) and frame.image.dtype.name == "uint8"
    assert frames[-1].image.mean() > 10, "a decoded picture, not a black frame"
    steps = [b.ts - a.ts for a, b in itertools.pairwise(frames)]
    assert min(steps) > 0
    gaps = [b.seq - a.seq - 1 for a, b in itertools.pairwise(frames)]
    assert min(gaps) >= 0, "sequence numbers only go up"
    # A consumer that keeps up takes nearly every frame; on a loaded 2-core CI box it can be
    # descheduled for more than one 40 ms frame, and the frame it missed is counted as skipped.
    assert sum(gaps) <= max(3, len(frames) // 10), f"too many frames skipped: {gaps}"
    assert stats.frames_skipped >= sum(gaps), "every frame not taken is counted as skipped"
    assert 0.035 < statistics.median(steps) < 0.045, "stream timestamps are 40 ms apart"
    assert abs(time.time() - frames[-1].ts) < 1.0, "ts is wall-clock time"
    assert stats.state == "online" and stats.reconnects == 0
    assert 15 < stats.fps_in < 35 and stats.last_error is None


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_count_as_skipped(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"))
    first = reader.latest(timeout_s=5.0)
    assert first is not None
    seq, taken = first.seq, 1
    for _ in range(6):
        time.sleep(0.5)  # a consumer at 2 fps on a 25 fps stream
        frame = reader.latest(seq)
        assert frame is not None
        skipped = reader.stats().frames_skipped
        assert frame.seq >= seq + 8, "about 12 frames arrived in 0.5 s; we get the last one"
        assert time.time() - frame.captured_at < 0.2, "the newest frame, not a queued one"
        seq, taken = frame.seq, taken + 1
        assert seq - taken <= skipped <= seq - taken + 2, "every frame not taken is skipped"


def test_only_the_frames_taken_and_used_are_converted(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"), need_fps=2.0)
    first = reader.latest(timeout_s=5.0)
    assert first is not None and not first.converted, "taking a frame converts nothing"
    time.sleep(0.5)
    frame = reader.latest(first.seq)
    assert frame is not None and frame.seq > first.seq + 5
    assert frame.image.shape == (360, 640, 3) and frame.converted
    assert frame.image is frame.image, "converted once"
    assert not first.converted, "a frame nobody looked at is never converted"
    stats = reader.stats()
    assert 15 < stats.fps_in < 35 and 15 < stats.fps_decoded < 35, "every frame is decoded"


def test_the_looping_server_keeps_a_stream_going_past_the_clip_end(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"))
    frames = collect(reader, 10.0)  # the clip is 4 s long
    span = frames[-1].ts - frames[0].ts
    assert span > 9.0 and len(frames) >= 225, f"{len(frames)} frames over {span:.1f} s"
    settled = [f for f in frames if f.ts > frames[0].ts + 1.0]  # past the connect-time burst
    steps = [b.ts - a.ts for a, b in itertools.pairwise(settled)]
    assert min(steps) > 0.03 and max(steps) < 0.2, "40 ms steps across the loop points"
    assert reader.stats().reconnects == 0, "one connection: the server looped, not reopened"


def test_a_lost_server_makes_the_camera_offline_and_it_recovers_by_itself(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"))
    before = reader.latest(timeout_s=5.0)
    assert before is not None
    rtsp_server.stop()
    wait_for(reader, lambda s: s.state == "offline", timeout_s=3.0)
    wait_for(reader, lambda s: s.reconnects >= 2, timeout_s=3.0)
    assert reader.stats().last_error is not None
    rtsp_server.start()
    wait_for(reader, lambda s: s.state == "online", timeout_s=5.0)
    assert reader.latest(before.seq, timeout_s=2.0) is not None, "new frames after recovery"


def test_a_camera_down_at_start_up_is_offline_and_comes_online_later(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    rtsp_server.stop()
    reader = make_reader(rtsp_server.url("cam2"))
    wait_for(reader, lambda s: s.reconnects >= 1, timeout_s=3.0)
    assert reader.stats().state == "offline" and reader.latest() is None
    rtsp_server.start()
    wait_for(reader, lambda s: s.state == "online", timeout_s=5.0)
    assert reader.latest(timeout_s=2.0) is not None


def test_a_frozen_server_is_seen_as_stalled_torn_down_and_recovered(
    rtsp_server: RtspServer,  # noqa: F811
    make_reader: MakeReader,
) -> None:
    reader = make_reader(rtsp_server.url("cam1"))
    assert reader.latest(timeout_s=5.0) is not None
    rtsp_server.pause()  # SIGSTOP: the TCP connection stays open, no data flows
    took = wait_for(reader, lambda s: s.state == "stalled", timeout_s=STALL_S + 1.0)
    assert took >= STALL_S - 0.5, f"reported stalled after {took:.2f} s, before stall_s"
    wait_for(reader, lambda s: s.stalls == 1, timeout_s=2 * STALL_S + 1.0)  # torn down
    last = reader.latest()
    rtsp_server.resume()
    wait_for(reader, lambda s: s.state == "online", timeout_s=6.0)
    assert reader.latest(last.seq if last else 0, timeout_s=2.0) is not None
    assert reader.stats().reconnects >= 1
