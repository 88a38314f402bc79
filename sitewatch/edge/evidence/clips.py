"""Cut an evidence clip [t0, t1] (wall clock) from a camera's segment ring, by stream copy.

A clip is a run of *whole* segments (each starts on a keyframe) joined by the concat demuxer
and trimmed at the end with ``-t``: no seeking inside a segment, no re-encoding. It starts at
the segment bound nearest ``t0`` and keeps the length ``t1 - t0``, so pre- and post-roll are
each off by at most half a segment (``evidence.segment_s``). The output is H.264 MP4 with
``+faststart``, so a browser plays it while it downloads.

With ``shorter_ok`` a clip whose pre-roll begins before the oldest segment starts there instead
and is that much shorter; a hole anywhere else is an error. ``Clip.duration_s`` is the length
ffprobe measures. Why whole segments: docs/design/evidence.md.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.edge.evidence.files import EvidenceFileInfo, sha256_file
from sitewatch.edge.video.recorder import Segment, SegmentRing

DASH = "\u2013"
log = logging.getLogger(__name__)

GAP_S = 0.5
"""Holes in the recording up to this long are bridged (timestamps jitter by a few frames)."""


class ClipError(RuntimeError):
    """The clip cannot be cut; ``missing`` holds the uncovered wall-clock ranges, if any."""

    def __init__(self, message: str, missing: Sequence[tuple[float, float]] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


@dataclass(frozen=True)
class ClipPlan:
    segments: tuple[Segment, ...]  # whole segments to join; the first starts at ``start``
    start: float  # wall time of the clip's first frame (a segment bound, hence a keyframe)
    length: float  # seconds to keep from ``start``


@dataclass(frozen=True)
class Clip:
    path: Path
    start: float  # wall time of the first frame; the alert is at ``t_alert - start`` in the clip
    duration_s: float  # measured by ffprobe
    size_bytes: int
    sha256: str

    def file_info(self) -> EvidenceFileInfo:
        return EvidenceFileInfo(
            kind="clip",
            name=self.path.name,
            path=self.path,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            content_type="video/mp4",
            duration_s=self.duration_s,
        )


def hms(t: float) -> str:
    """``12:00:01.3`` (UTC) for messages."""
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:10]


def missing_ranges(
    segments: Sequence[Segment], t0: float, t1: float, gap_s: float = GAP_S
) -> list[tuple[float, float]]:
    """Parts of [t0, t1] no segment covers, ignoring holes up to ``gap_s``."""
    missing, cursor = [], t0
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.end <= cursor:
            continue
        if seg.start >= t1:
            break
        if seg.start - cursor > gap_s:
            missing.append((cursor, seg.start))
        cursor = max(cursor, seg.end)
    if t1 - cursor > gap_s:
        missing.append((cursor, t1))
    return missing


def _why(gap: tuple[float, float], segs: Sequence[Segment]) -> str:
    if not segs:
        return "the ring is empty: the recorder has written no segment (see its status)"
    first, last = segs[0].start, max(s.end for s in segs)
    if gap[1] > last:
        return (
            f"not recorded yet: the newest segment ends at {hms(last)}; "
            "cut the clip once the post-roll has been recorded"
        )
    if gap[0] < first:
        return f"older than the oldest segment ({hms(first)}): pruned or never recorded"
    return "the recorder was offline or the stream dropped"


def plan_clip(
    segments: Sequence[Segment],
    t0: float,
    t1: float,
    gap_s: float = GAP_S,
    *,
    shorter_ok: bool = False,
) -> ClipPlan:
    """Choose the whole segments and the start bound of the clip [t0, t1] (see module doc);
    ``shorter_ok``: start at the oldest segment when ``t0`` is older than it."""
    if not t1 > t0:
        raise ValueError(f"a clip needs t1 > t0, got {hms(t0)}..{hms(t1)}")
    segs = sorted(segments, key=lambda s: s.start)
    if shorter_ok and segs and t0 < segs[0].start - gap_s < t1:
        log.info(
            "clip %s%s%s UTC starts at the oldest recorded segment, %s",
            hms(t0), DASH, hms(t1), hms(segs[0].start),
        )  # fmt: skip
        t0 = segs[0].start
    missing = missing_ranges(segs, t0, t1, gap_s)
    if missing:
        parts = [f"{hms(a)}{DASH}{hms(b)} UTC: {_why((a, b), segs)}" for a, b in missing]
        raise ClipError("no segments cover " + "; ".join(parts), missing)
    length = t1 - t0
    first = next(i for i, s in enumerate(segs) if s.end > t0)  # holds t0 (or starts just after)
    candidates = sorted(segs[first : first + 2], key=lambda s: (abs(s.start - t0), s.start))
    for cand in candidates:
        run = _contiguous_from(segs, segs.index(cand), cand.start + length, gap_s)
        if run is not None:
            return ClipPlan(tuple(run), cand.start, length)
    raise ClipError(  # only if coverage ends within a segment of t1 and t0 sits on a bound
        f"no segments cover {hms(t1)}{DASH}{hms(t1 + gap_s)} UTC: " + _why((t1, t1 + gap_s), segs),
        [(t1, t1 + gap_s)],
    )


def _contiguous_from(
    segs: Sequence[Segment], i: int, until: float, gap_s: float
) -> list[Segment] | None:
    run = [segs[i]]
    while run[-1].end < until - gap_s:
        nxt = i + len(run)
        if nxt >= len(segs) or segs[nxt].start - run[-1].end > gap_s:
            return None
        run.append(segs[nxt])
    return run


def cut_clip(
    source: SegmentRing | Sequence[Segment],
    t0: float,
    t1: float,
    out_path: Path,
    *,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout_s: float = 60.0,
    shorter_ok: bool = False,
) -> Clip:
    """Cut [t0, t1] into ``out_path`` (MP4, written to a temp name and renamed into place);
    ``shorter_ok``: see ``plan_clip``."""
    segments = source.refresh() if isinstance(source, SegmentRing) else source
    plan = plan_clip(segments, t0, t1, shorter_ok=shorter_ok)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.part")
    text = "ffconcat version 1.0\n"
    for seg in plan.segments:
        quoted = str(seg.path.resolve()).replace("'", "'\\''")
        text += f"file '{quoted}'\nduration {seg.duration:.6f}\n"
    fd, listing = tempfile.mkstemp(suffix=".ffconcat", dir=out_path.parent)
    cmd = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", listing,
        "-map", "0:v:0", "-c", "copy", "-t", f"{plan.length:.3f}",
        "-avoid_negative_ts", "make_zero", "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]  # fmt: skip
    try:  # on a full disk even the listing may fail: it is removed either way
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        _run_ffmpeg(cmd, timeout_s, f"cut {out_path.name}", tmp)
        codec, duration = probe(tmp, ffprobe)
        if codec != "h264":
            raise ClipError(
                f"the record stream is {codec}, browsers need h264: "
                "set the camera's main stream to H.264"
            )
        if abs(duration - plan.length) > 1.0:
            log.warning("clip %s lasts %.2f s, %.2f s were asked", out_path, duration, plan.length)
        os.replace(tmp, out_path)
    finally:
        Path(listing).unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return Clip(out_path, plan.start, duration, out_path.stat().st_size, sha256_file(out_path))


def extract_still(
    clip: Clip, t: float, out_path: Path, *, ffmpeg: str = "ffmpeg", timeout_s: float = 30.0
) -> EvidenceFileInfo:
    """The clip's frame at wall time ``t`` (clamped into the clip) as a JPEG at the record
    stream's full resolution: the snapshots come from the small detect stream, and a reviewer
    wants the face and the missing hard hat in the main stream's detail."""
    offset = min(max(t - clip.start, 0.0), max(clip.duration_s - 0.5, 0.0))  # a frame after it
    tmp = out_path.with_name(f".{out_path.name}.part")
    cmd = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-ss", f"{offset:.3f}", "-i", str(clip.path), "-frames:v", "1", "-q:v", "2",
        "-f", "image2", "-c:v", "mjpeg", str(tmp),
    ]  # fmt: skip
    try:
        _run_ffmpeg(cmd, timeout_s, f"take a still at {offset:.2f} s of {clip.path.name}", tmp)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return EvidenceFileInfo(
        "still", out_path.name, out_path, out_path.stat().st_size, sha256_file(out_path),
        "image/jpeg",
    )  # fmt: skip


def _run_ffmpeg(cmd: list[str], timeout_s: float, what: str, out: Path) -> None:
    """Run ``cmd``; ``ClipError`` saying ``what`` failed unless it wrote ``out``."""
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ClipError(f"ffmpeg took over {timeout_s:.0f} s to {what}") from None
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise ClipError(
            f"ffmpeg could not {what} (exit {done.returncode}): {tail or 'nothing written'}"
        )


def probe(path: Path, ffprobe: str = "ffprobe") -> tuple[str, float]:
    """(video codec name, container duration in seconds) of a media file, by ffprobe."""
    done = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-of", "json",
         "-show_entries", "stream=codec_name:format=duration", str(path)],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ClipError(f"ffprobe cannot read {path}: {done.stderr.decode(errors='replace')}")
    info = json.loads(done.stdout)
    streams = info.get("streams") or [{}]
    return str(streams[0].get("codec_name", "none")), float(info["format"]["duration"])


def wait_covered(
    ring: SegmentRing, t: float, timeout_s: float, poll_s: float = 0.5, stall_s: float = 30.0
) -> bool:
    """Wait until the ring holds video up to wall time ``t``; False after ``timeout_s``, or
    sooner once the recording has not grown for ``stall_s`` (the recorder is stuck: a full
    disk, a camera gone), so that an alert's end is not held for a clip that cannot come."""
    start = time.monotonic()
    deadline = start + timeout_s
    newest, grew_at = None, start
    while True:
        segs = ring.refresh()
        end = max((s.end for s in segs), default=None)
        if end is not None and end >= t:
            return True
        now = time.monotonic()
        if end != newest:
            newest, grew_at = end, now
        if now >= deadline or now - grew_at >= stall_s:
            return False
        time.sleep(poll_s)
