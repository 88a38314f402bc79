"""Recorded ranges cut into one MP4 on real ffmpeg segments, decoded back with PyAV."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from sitewatch.edge.video.ranges import CutFailed, NotRecorded, cut_range
from sitewatch.edge.video.ring import Segment, SegmentRing

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
BASE = 1_700_000_000.0
SEGMENT_S = 2.0


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def segments(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    """36 s of the factory clip as a recorder's 2 s MPEG-TS segments from wall time BASE."""
    folder = tmp_path_factory.mktemp("ring")
    clip = folder / "camera.mp4"
    ffmpeg("-t", "12", "-i", str(shared / "clips" / "factory_floor_cctv.mp4"), "-an",
           "-vf", "scale=320:-2", "-r", "25", "-frames:v", "300", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
           "-threads", "1", str(clip))  # fmt: skip
    ffmpeg("-stream_loop", "2", "-i", str(clip), "-map", "0:v:0", "-c", "copy",
           "-f", "segment", "-segment_format", "mpegts", "-segment_time", str(SEGMENT_S),
           "-reset_timestamps", "1", "-segment_list", str(folder / "r1.csv"),
           "-segment_list_type", "csv", str(folder / "r1-%06d.ts"))  # fmt: skip
    for line in (folder / "r1.csv").read_text().splitlines():
        name, _, end = line.split(",")
        os.utime(folder / name, (BASE + float(end), BASE + float(end)))
    os.utime(folder / "r1.csv", (BASE, BASE))
    found = SegmentRing(folder, keep_s=86400.0).refresh()
    assert len(found) == 18
    return found


def decoded(path: Path) -> tuple[str, int, float, float]:
    """(codec, frames, first and last frame time in seconds) as a player decodes the file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        times = [float(frame.time or 0.0) for frame in container.decode(stream)]
    return codec, len(times), times[0], times[-1]


def moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (5.0, 15.0),  # inside the recording: whole segments 4..16
        (0.0, 36.0),  # all of it
        (-100.0, 3.0),  # begins before the recording: what there is
        (30.5, 31.0),  # half a second: the one segment holding it
    ],
)
def test_a_range_cuts_into_an_mp4_of_the_expected_length(
    segments: list[Segment], tmp_path: Path, start: float, end: float
) -> None:
    out = tmp_path / "range.mp4"
    cut = cut_range(segments, BASE + start, BASE + end, out)
    assert cut.path == out and cut.size_bytes == out.stat().st_size > 0
    assert cut.start <= max(BASE + start, BASE) < cut.start + SEGMENT_S + 0.01
    assert cut.end - SEGMENT_S - 0.01 < min(BASE + end, BASE + 36.0) <= cut.end
    codec, frames, first, last = decoded(out)
    assert codec == "h264" and first == pytest.approx(0.0, abs=0.1)
    asked = min(end, 36.0) - max(start, 0.0)
    assert abs((last + 0.04) - asked) <= SEGMENT_S  # ±1 segment of what was asked
    assert frames == round((cut.end - cut.start) * 25)
    assert moov_before_mdat(out)  # +faststart: a browser plays it while it downloads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["range.mp4"]  # no temp left


def test_a_hole_stays_a_hole_so_positions_keep_wall_time(
    segments: list[Segment], tmp_path: Path
) -> None:
    kept = [s for s in segments if not 10.0 <= s.start - BASE < 14.0]  # 10..14 deleted
    cut = cut_range(kept, BASE + 6.0, BASE + 20.0, tmp_path / "gap.mp4")
    assert (cut.start, cut.end) == pytest.approx((BASE + 6.0, BASE + 20.0), abs=0.01)
    with av.open(str(cut.path)) as container:
        times = [float(f.time or 0.0) for f in container.decode(container.streams.video[0])]
    jump = max(b - a for a, b in itertools.pairwise(times))
    assert jump == pytest.approx(4.04, abs=0.05)  # the 4 s hole, not squeezed out
    assert times[-1] == pytest.approx(14.0 - 0.04, abs=0.05)
    assert len(times) == 10 * 25


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        (100.0, 160.0, r"nothing recorded in 2023-11-14T22:15:00Z \.\. 2023-11-14T22:16:00Z"),
        (-600.0, -60.0, r"recorded: 2023-11-14T22:13:20Z \.\. 2023-11-14T22:13:56Z"),
    ],
)
def test_a_range_never_recorded_raises_not_recorded(
    segments: list[Segment], tmp_path: Path, start: float, end: float, said: str
) -> None:
    with pytest.raises(NotRecorded, match=said):
        cut_range(segments, BASE + start, BASE + end, tmp_path / "none.mp4")
    with pytest.raises(NotRecorded, match="recorded: nothing"):
        cut_range([], BASE, BASE + 10, tmp_path / "none.mp4")
    assert not list(tmp_path.iterdir())


def test_a_bad_range_or_a_missing_ffmpeg_says_so(segments: list[Segment], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="end > start"):
        cut_range(segments, BASE + 10, BASE + 10, tmp_path / "x.mp4")
    with pytest.raises(CutFailed, match="cannot run '/nonexistent/ffmpeg'"):
        cut_range(segments, BASE, BASE + 4, tmp_path / "x.mp4", ffmpeg="/nonexistent/ffmpeg")
    assert not list(tmp_path.iterdir())
