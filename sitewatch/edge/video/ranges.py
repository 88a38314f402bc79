"""Cut a recorded wall-clock range into one MP4, by stream copy (playback windows, exports).

:func:`cut_range` joins every whole segment overlapping [start, end] with ffmpeg's concat
demuxer into an MP4 with ``+faststart`` (a browser plays it while it downloads); nothing is
re-encoded or trimmed, so the file starts on a keyframe at the first segment's start and ends
at the last one's end (``CutRange.start``/``end``, wall clock). A hole in the recording stays a
hole in the timestamps (the frame before it stays on screen), so a position ``t`` seconds
into the file is the wall time ``start + t``. Nothing overlapping: :class:`NotRecorded`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.edge.video.ring import Segment


class NotRecorded(ValueError):
    """No recorded segment overlaps the range asked (never recorded, or deleted)."""


class CutFailed(RuntimeError):
    """ffmpeg could not cut the range (says why, with ffmpeg's last words)."""


@dataclass(frozen=True)
class CutRange:
    path: Path
    start: float  # wall clock (epoch seconds) of the first frame
    end: float  # wall clock of the end of the last frame
    size_bytes: int


def iso(t: float) -> str:
    """``2026-12-05T23:01:02Z`` for messages."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overlapping(segments: Sequence[Segment], start: float, end: float) -> list[Segment]:
    """The segments overlapping [start, end], oldest first."""
    return sorted((s for s in segments if s.start < end and s.end > start), key=lambda s: s.start)


def cut_range(
    segments: Sequence[Segment],
    start: float,
    end: float,
    out: Path,
    ffmpeg: str = "ffmpeg",
    timeout_s: float = 120.0,
) -> CutRange:
    """Write the segments overlapping [start, end] to ``out`` (temp name, renamed into place)."""
    if not end > start:
        raise ValueError(f"a range needs end > start, got {iso(start)} .. {iso(end)}")
    chosen = overlapping(segments, start, end)
    if not chosen:
        raise NotRecorded(
            f"nothing recorded in {iso(start)} .. {iso(end)}; recorded: {_recorded(segments)}"
        )
    text = "ffconcat version 1.0\n"
    for seg, nxt in zip(chosen, [*chosen[1:], None], strict=True):
        # up to the next segment's start: a hole stays a hole in the timestamps
        length = (nxt.start - seg.start) if nxt is not None else seg.duration
        quoted = str(seg.path.resolve()).replace("'", "'\\''")
        text += f"file '{quoted}'\nduration {max(length, seg.duration):.6f}\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    fd, listing = tempfile.mkstemp(suffix=".ffconcat", dir=out.parent)
    cmd = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", listing,
        "-map", "0:v:0", "-c", "copy", "-avoid_negative_ts", "make_zero",
        "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]  # fmt: skip
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        _run(cmd, timeout_s, f"cut {iso(start)} .. {iso(end)} into {out.name}", tmp)
        os.replace(tmp, out)
    finally:
        Path(listing).unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return CutRange(out, chosen[0].start, chosen[-1].end, out.stat().st_size)


def _recorded(segments: Sequence[Segment]) -> str:
    if not segments:
        return "nothing (the recorder has written no segment, or all were deleted)"
    first = min(s.start for s in segments)
    last = max(s.end for s in segments)
    return f"{iso(first)} .. {iso(last)} (with holes where the camera was offline)"


def _run(cmd: list[str], timeout_s: float, what: str, out: Path) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise CutFailed(f"ffmpeg took over {timeout_s:.0f} s to {what}") from None
    except OSError as exc:
        raise CutFailed(f"cannot run {cmd[0]!r} to {what}: {exc}") from None
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise CutFailed(
            f"ffmpeg could not {what} (exit {done.returncode}): {tail or 'nothing written'}"
        )
