"""Recorder, segment ring and clip cutting on real ffmpeg output (material built in tmp dirs)."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.edge.evidence.clips import (
    ClipError,
    cut_clip,
    extract_still,
    missing_ranges,
    plan_clip,
    probe,
    wait_covered,
)
from sitewatch.edge.video.recorder import (
    Pin,
    Segment,
    SegmentRecorder,
    SegmentRing,
    next_backoff,
    plan_prune,
)
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg/ffprobe")
BASE = 1_700_000_000.0  # wall time at which the synthetic rings "started recording"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def camera_mp4(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of the factory clip as a camera would send it: H.264 with B-frames, GOP 1 s."""
    out = tmp_path_factory.mktemp("camera") / "camera.mp4"
    ffmpeg("-t", "12", "-i", str(shared / "clips" / "factory_floor_cctv.mp4"), "-an",
           "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30", "-keyint_min", "30",
           "-sc_threshold", "0", "-threads", "1", str(out))  # fmt: skip
    return out


def fast_ring(src: Path, directory: Path, loops: int = 0, segment_s: float = 2.0) -> SegmentRing:
    """Segment ``src`` as the recorder does, but at full speed, then set each file's mtime as if
    recording had started at BASE (the ring reads wall times from mtimes)."""
    directory.mkdir(parents=True, exist_ok=True)
    ffmpeg("-stream_loop", str(loops), "-i", str(src), "-map", "0:v:0", "-c", "copy",
           "-f", "segment", "-segment_format", "mpegts", "-segment_time", str(segment_s),
           "-reset_timestamps", "1", "-segment_list", str(directory / "r1.csv"),
           "-segment_list_type", "csv", str(directory / "r1-%06d.ts"))  # fmt: skip
    for line in (directory / "r1.csv").read_text().splitlines():
        name, _, end = line.split(",")
        os.utime(directory / name, (BASE + float(end), BASE + float(end)))
    os.utime(directory / "r1.csv", (BASE, BASE))
    return SegmentRing(directory, keep_s=30.0)


def atoms(path: Path) -> list[str]:
    """Top-level MP4 box types in file order."""
    data, names, i = path.read_bytes(), [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        names.append(kind.decode("latin-1"))
        if size < 8:
            break
        i += size
    return names


def first_frame(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot decode {path}"
    return frame


def assert_playable_clip(path: Path, sha: str, length: float) -> None:
    codec, duration = probe(path)
    assert codec == "h264"
    assert abs(duration - length) <= 1.0, duration
    kinds = atoms(path)
    assert kinds.index("moov") < kinds.index("mdat"), kinds  # faststart
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def segs(*bounds: tuple[float, float]) -> list[Segment]:
    return [Segment(Path(f"s{a:g}.ts"), a, b - a, 1000) for a, b in bounds]


TWO_S = segs(*((float(a), a + 2.0) for a in range(0, 40, 2)))


@pytest.mark.parametrize(
    ("t0", "t1", "start", "n_segments"),
    [
        (10.3, 30.3, 10.0, 10),  # bound before is nearer
        (11.3, 31.3, 12.0, 10),  # bound after is nearer: not always the one before
        (11.0, 31.0, 10.0, 10),  # a tie takes the earlier bound (more pre-roll)
        (29.3, 39.9, 28.0, 6),  # 30.0 is nearer but its window would end after 40: fall back
    ],
)
def test_plan_clip_starts_at_the_nearest_covered_bound(
    t0: float, t1: float, start: float, n_segments: int
) -> None:
    plan = plan_clip(TWO_S, t0, t1)
    assert (plan.start, plan.length, len(plan.segments)) == (start, t1 - t0, n_segments)
    assert plan.segments[0].start == start


@pytest.mark.parametrize(
    ("bounds", "t0", "t1", "missing", "why"),
    [
        ([(0, 10), (14, 30)], 5, 20, [(10, 14)], "recorder was offline"),
        ([(0, 10)], 5, 12, [(10, 12)], "not recorded yet"),
        ([(10, 20)], 4, 15, [(4, 10)], "older than the oldest segment"),
        ([], 4, 15, [(4, 15)], "ring is empty"),
    ],
)
def test_plan_clip_names_what_is_missing(
    bounds: list[tuple[float, float]], t0: float, t1: float, missing: list[tuple[float, float]],
    why: str,
) -> None:  # fmt: skip
    shifted = [Segment(s.path, BASE + s.start, s.duration, s.size) for s in segs(*bounds)]
    with pytest.raises(ClipError, match=f"no segments cover .*: .*{why}") as info:
        plan_clip(shifted, BASE + t0, BASE + t1)
    assert info.value.missing == [(BASE + a, BASE + b) for a, b in missing]


@pytest.mark.parametrize(
    ("bounds", "t0", "t1", "start", "length"),
    [
        ([(10, 12), (12, 14), (14, 16)], 4, 15, 10, 5),  # recording began after t0: shorter
        ([(0, 2), (2, 4), (4, 6)], 1.1, 5, 2, 3.9),  # covered: as without shorter_ok
    ],
)
def test_plan_clip_shorter_ok_starts_at_the_oldest_segment(
    bounds: list[tuple[float, float]], t0: float, t1: float, start: float, length: float
) -> None:
    plan = plan_clip(segs(*bounds), t0, t1, shorter_ok=True)
    assert (plan.start, plan.length) == (start, pytest.approx(length))


def test_plan_clip_shorter_ok_still_refuses_holes_and_missing_ends() -> None:
    with pytest.raises(ClipError, match="recorder was offline"):
        plan_clip(segs((10, 12), (14, 16)), 4, 15, shorter_ok=True)
    with pytest.raises(ClipError, match="not recorded yet"):
        plan_clip(segs((10, 12)), 4, 15, shorter_ok=True)


def test_cut_clip_shorter_ok_measures_the_real_duration(camera_mp4: Path, tmp_path: Path) -> None:
    ring = fast_ring(camera_mp4, tmp_path / "ring")  # BASE .. BASE + 12
    clip = cut_clip(ring, BASE - 6, BASE + 4, tmp_path / "first.mp4", shorter_ok=True)
    assert clip.start == BASE
    assert_playable_clip(clip.path, clip.sha256, 4.0)
    assert clip.file_info().to_message().duration_s == pytest.approx(clip.duration_s)
    assert abs(clip.duration_s - 4.0) <= 0.5


def test_small_holes_are_bridged() -> None:
    ring = segs((0, 2), (2.2, 4), (4, 6))
    assert missing_ranges(ring, 0, 6) == []
    assert plan_clip(ring, 0.1, 5.9).start == 0.0


def test_plan_prune_by_age_and_budget_never_pinned() -> None:
    ring = [Segment(Path(f"{i}.ts"), 100.0 + 2 * i, 2.0, 100) for i in range(10)]  # 100..120
    by_age = plan_prune(ring, [], now=120.0, keep_s=10.0, max_bytes=10**9)
    assert [s.path.name for s in by_age] == ["0.ts", "1.ts", "2.ts", "3.ts"]  # ended < 110
    pins = [Pin("a1", 101.0, 103.5)]  # overlaps 0.ts and 1.ts
    by_age = plan_prune(ring, pins, now=120.0, keep_s=10.0, max_bytes=10**9)
    assert [s.path.name for s in by_age] == ["2.ts", "3.ts"]
    by_budget = plan_prune(ring, pins, now=120.0, keep_s=100.0, max_bytes=450)
    assert [s.path.name for s in by_budget] == ["2.ts", "3.ts", "4.ts", "5.ts", "6.ts", "7.ts"]


def test_ring_reads_wall_times_from_mtimes_and_cuts_a_20s_clip(
    camera_mp4: Path, tmp_path: Path
) -> None:
    ring = fast_ring(camera_mp4, tmp_path / "ring", loops=2)  # 36 s of video
    found = ring.refresh()
    assert len(found) == 18
    for a, b in itertools.pairwise(found):  # contiguous, increasing wall times
        assert b.start > a.start
        assert abs(b.start - a.end) < 0.01
    t = BASE + 15.3
    clip = cut_clip(ring, t - 10, t + 10, tmp_path / "ev" / "a1_clip.mp4")
    assert_playable_clip(clip.path, clip.sha256, 20.0)
    assert abs(clip.start - (t - 10)) <= 1.0
    assert clip.size_bytes == clip.path.stat().st_size
    assert sorted(p.name for p in clip.path.parent.iterdir()) == ["a1_clip.mp4"]  # no temp left
    # the clip begins with the chosen segment's first frame, not a neighbour's
    start_seg = next(s for s in found if s.start == clip.start)
    assert np.array_equal(first_frame(clip.path), first_frame(start_seg.path))
    info = clip.file_info().to_message()
    assert (info.kind, info.content_type, info.sha256) == ("clip", "video/mp4", clip.sha256)


def test_cut_clip_over_a_hole_says_the_recorder_was_offline(
    camera_mp4: Path, tmp_path: Path
) -> None:
    ring = fast_ring(camera_mp4, tmp_path / "ring")
    hole = ring.refresh()[2]  # BASE+4..6 goes missing
    hole.path.unlink()
    with pytest.raises(ClipError, match=r"no segments cover .*the recorder was offline") as info:
        cut_clip(ring, BASE + 1, BASE + 9, tmp_path / "x.mp4")
    ((a, b),) = info.value.missing
    assert abs(a - hole.start) < 0.1 and abs(b - hole.end) < 0.1
    assert not (tmp_path / "x.mp4").exists()


def test_ring_prune_deletes_old_and_orphans_but_keeps_pinned(
    camera_mp4: Path, tmp_path: Path
) -> None:
    ring = fast_ring(camera_mp4, tmp_path / "ring", loops=2)  # 18 segments, BASE..BASE+36
    ring.keep_s = 10.0
    ring.pin("a1", BASE + 3, BASE + 5)  # segments 1 and 2
    orphan_old = tmp_path / "ring" / "r0-000009.ts"  # a killed run's unlisted last segment
    orphan_new = tmp_path / "ring" / "r2-000000.ts"  # the segment being written now
    for path, mtime in ((orphan_old, BASE), (orphan_new, BASE + 40)):
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    deleted = ring.prune(now=BASE + 40.5)
    left = ring.segments()
    assert [round(s.start - BASE) for s in left] == [2, 4, 30, 32, 34]
    assert len(deleted) == 13 and not any(s.path.exists() for s in deleted)
    assert not orphan_old.exists() and orphan_new.exists()
    ring.unpin("a1")
    ring.max_bytes = sum(s.size for s in left[-2:])
    ring.prune(now=BASE + 40.5)
    assert [round(s.start - BASE) for s in ring.segments()] == [32, 34]


def test_recorder_on_a_live_source_then_a_20s_clip(camera_mp4: Path, tmp_path: Path) -> None:
    """Real time: ffmpeg reads the looping file at 1x like a camera; ~25 s."""
    ring_dir = tmp_path / "ring"
    recorder = SegmentRecorder(f"file://{camera_mp4}", ring_dir, segment_s=2.0)
    launched = time.time()
    recorder.start()
    try:
        ring = SegmentRing(ring_dir, keep_s=60.0)
        assert wait_covered(ring, launched + 23.0, timeout_s=40.0), recorder.status()
        status = recorder.status()
        assert (status.state, status.restarts) == ("recording", 0)
    finally:
        recorder.stop()
    assert recorder.status().state == "stopped"
    found = ring.refresh()
    assert -0.5 <= found[0].start - launched < 1.5  # wall clock, not stream time
    for a, b in itertools.pairwise(found):
        assert b.start > a.start
        assert abs(b.start - a.end) < 0.2, (a, b)
    t = launched + 11.3
    clip = cut_clip(ring, t - 10, t + 10, tmp_path / "a2_clip.mp4")
    assert_playable_clip(clip.path, clip.sha256, 20.0)
    assert abs(clip.start - (t - 10)) <= 1.1


def test_recorder_restarts_a_failing_ffmpeg_with_backoff(tmp_path: Path) -> None:
    recorder = SegmentRecorder(
        f"file://{tmp_path}/absent.mp4", tmp_path / "ring", backoff_s=(0.1, 0.2)
    )
    recorder.start()
    try:
        deadline = time.monotonic() + 10
        while recorder.status().restarts < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        recorder.stop()
    status = recorder.status()
    assert status.restarts >= 3
    assert "ffmpeg exited with code" in status.last_error
    assert "No such file" in status.last_error


def test_recorder_watchdog_kills_a_stalled_ffmpeg(tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"  # connects, then never writes a segment
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    recorder = SegmentRecorder(
        "rtsp://127.0.0.1:9/cam", tmp_path / "ring", ffmpeg=str(fake), connect_s=1.0,
        backoff_s=(0.1, 0.1),
    )  # fmt: skip
    recorder.start()
    try:
        deadline = time.monotonic() + 10
        while recorder.status().restarts < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        recorder.stop()
    assert "no video written" in recorder.status().last_error


def test_backoff_doubles_to_a_cap_and_resets_after_a_healthy_run() -> None:
    delays, delay = [], None
    for _ in range(7):
        delay = next_backoff(delay, ran_s=2.0, first_s=1.0, cap_s=30.0)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert next_backoff(30.0, ran_s=600.0, first_s=1.0, cap_s=30.0) == 1.0


def test_ring_ignores_a_segment_listed_with_an_impossible_duration(tmp_path: Path) -> None:
    for name in ("r1-000000.ts", "r1-000001.ts"):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (BASE, BASE))
    (tmp_path / "r1.csv").write_text("r1-000000.ts,0.0,2.0\nr1-000001.ts,2.0,90002.0\n")
    os.utime(tmp_path / "r1.csv", (BASE, BASE))
    assert [s.path.name for s in SegmentRing(tmp_path).refresh()] == ["r1-000000.ts"]


def test_a_late_closed_last_segment_starts_where_its_predecessor_ended(tmp_path: Path) -> None:
    """The watchdog kills a stalled ffmpeg seconds after the last packet: the last segment's
    mtime is late, but the previous segment's mtime says when it began."""
    rows = [("r1-000000.ts", 0.0, 2.0, 2.0), ("r1-000001.ts", 2.0, 4.0, 4.0)]
    rows.append(("r1-000002.ts", 4.0, 5.0, 12.0))  # 1 s of video, closed 7 s after it ended
    for name, _, _, mtime in rows:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (BASE + mtime, BASE + mtime))
    (tmp_path / "r1.csv").write_text("".join(f"{n},{a},{b}\n" for n, a, b, _ in rows))
    os.utime(tmp_path / "r1.csv", (BASE + 12, BASE + 12))
    found = SegmentRing(tmp_path).refresh()
    assert [(s.start - BASE, s.end - BASE) for s in found] == [(0, 2), (2, 4), (4, 5)]


def test_recorder_over_rtsp_survives_a_frozen_server(
    rtsp_server: RtspServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A camera that hangs with its TCP connection open (SIGSTOP): ffmpeg is restarted (by the
    watchdog or its socket timeout, whichever fires first), recording resumes, and a clip over
    the hole names it; ~15 s."""
    ring_dir = tmp_path / "ring"
    recorder = SegmentRecorder(
        rtsp_server.url("cam1"), ring_dir, segment_s=2.0, stall_s=4.5, connect_s=3.0,
        backoff_s=(0.2, 0.5),
    )  # fmt: skip
    ring = SegmentRing(ring_dir)
    recorder.start()
    try:
        assert wait_covered(ring, time.time() + 3.5, timeout_s=15.0), recorder.status()
        assert recorder.status().restarts == 0
        rtsp_server.pause()
        paused = time.time()
        deadline = time.monotonic() + 10.0
        while recorder.status().restarts < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert recorder.status().restarts >= 1, recorder.status()
        rtsp_server.resume()
        resumed = time.time()
        assert wait_covered(ring, resumed + 4.5, timeout_s=20.0), recorder.status()
    finally:
        recorder.stop()
    found = ring.refresh()
    stopped = max(s.end for s in found if s.start < resumed)  # the end of the first run
    assert paused - 2.5 < stopped < paused + 0.5  # not the time of the kill
    with pytest.raises(ClipError, match="recorder was offline"):
        cut_clip(ring, paused - 1.0, resumed + 1.0, tmp_path / "x.mp4")
    back = min(s.start for s in found if s.start >= resumed)
    assert back < resumed + 2.0
    clip = cut_clip(ring, back + 0.3, back + 3.3, tmp_path / "after.mp4")
    assert_playable_clip(clip.path, clip.sha256, 3.0)


def test_a_still_is_the_clips_frame_at_that_moment(camera_mp4: Path, tmp_path: Path) -> None:
    ring = fast_ring(camera_mp4, tmp_path / "ring", loops=1)  # 24 s of video
    t = BASE + 12.0
    clip = cut_clip(ring, t - 8, t + 4, tmp_path / "ev" / "a1_clip.mp4")
    info = extract_still(clip, t, tmp_path / "ev" / "a1_still.jpg")
    still = cv2.imread(str(info.path))
    assert still is not None, "a JPEG"
    assert (info.kind, info.content_type) == ("still", "image/jpeg")
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    cap = cv2.VideoCapture(str(clip.path))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert still.shape == frames[0].shape, "the record stream's own resolution"
    index = round((t - clip.start) * cap.get(cv2.CAP_PROP_FPS))
    diff = [float(np.abs(still.astype(int) - f.astype(int)).mean()) for f in frames]
    assert diff[index] < 3.0 < diff[0], f"that moment, not the clip's first frame: {diff[:3]}"
    assert abs(diff.index(min(diff)) - index) <= 1, "the closest frame is the one asked for"
    late = extract_still(clip, t + 60, tmp_path / "ev" / "a1_late.jpg")  # clamped into the clip
    assert cv2.imread(str(late.path)) is not None
    assert sorted(p.name for p in clip.path.parent.iterdir()) == [
        "a1_clip.mp4",
        "a1_late.jpg",
        "a1_still.jpg",
    ], "no temp file left"


def test_waiting_for_a_recording_that_stopped_growing_gives_up_early(tmp_path: Path) -> None:
    """A stuck recorder (full disk, camera gone) must not hold an alert's end for the whole
    timeout: the wait ends once nothing new was recorded for ``stall_s``."""
    ring = SegmentRing(tmp_path)  # an empty folder: nothing is ever recorded
    began = time.monotonic()
    assert not wait_covered(ring, time.time() + 5.0, timeout_s=60.0, poll_s=0.1, stall_s=1.0)
    assert time.monotonic() - began < 30.0  # far below the timeout: it gave up on the stall
