"""The record stream of a camera as a ring of short MPEG-TS segments, cut by stream copy.

:class:`SegmentRecorder` runs one ``ffmpeg`` per camera that reads the record URL and writes
``<run>-000001.ts``, ... by stream copy (``-f segment``, video only), plus ``<run>.csv``: the
segment muxer's list of *complete* segments with their start and end in stream time. ffmpeg is
restarted forever with a capped backoff; a watchdog kills one that closes no segment for
``stall_s`` (a frozen camera that keeps its TCP connection open).

:class:`SegmentRing` indexes the complete segments of one camera with wall-clock times taken
from the file system (a segment's mtime is the wall time of its end), never from a camera
clock. The ring prunes by age and by a disk budget but never deletes a segment pinned by an
open alert. Why mtimes: docs/design/video.md.
"""

from __future__ import annotations

import csv
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sitewatch.edge.video.redact import redact_text, redact_url

log = logging.getLogger(__name__)

RecorderState = Literal["stopped", "starting", "recording", "backoff"]
HEALTHY_RUN_S = 60.0
MAX_SEGMENT_S = 120.0
LIST_SETTLE_S = 0.25
"""A list younger than this may name a segment ffmpeg has not closed yet (its mtime is early)."""


@dataclass(frozen=True)
class Segment:
    """One complete segment: wall-clock ``start`` (epoch seconds), ``duration`` in seconds."""

    path: Path
    start: float
    duration: float
    size: int

    @property
    def end(self) -> float:
        return self.start + self.duration


_FFLAGS = "+genpts+discardcorrupt"


def input_args(url: str) -> list[str]:
    """ffmpeg input options for ``url``: RTSP over TCP with timeouts, or a looping file."""
    scheme = urlsplit(url).scheme
    if scheme in ("rtsp", "rtsps"):
        # -timeout: socket I/O timeout in microseconds (ffmpeg >= 5); a dead camera ends ffmpeg.
        return ["-rtsp_transport", "tcp", "-timeout", "5000000", "-fflags", _FFLAGS]
    if scheme in ("http", "https"):
        return ["-rw_timeout", "5000000", "-fflags", _FFLAGS]
    if scheme == "file" or not scheme:
        return ["-re", "-stream_loop", "-1"]  # a file stands in for a camera: real time, forever
    raise ValueError(f"a rtsp://, rtsps://, http(s):// or file:// URL, got {redact_url(url)!r}")


def record_command(
    url: str, directory: Path, run_id: str, segment_s: float, list_size: int, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """The ffmpeg command of one recorder run (video only, stream copy, MPEG-TS segments)."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
        *input_args(url), "-i", url,
        "-map", "0:v:0", "-an", "-c", "copy",
        "-f", "segment", "-segment_format", "mpegts", "-segment_time", f"{segment_s:g}",
        "-reset_timestamps", "1",
        "-segment_list", str(directory / f"{run_id}.csv"), "-segment_list_type", "csv",
        "-segment_list_size", str(list_size),
        str(directory / f"{run_id}-%06d.ts"),
    ]  # fmt: skip


def next_backoff(previous: float | None, ran_s: float, first_s: float, cap_s: float) -> float:
    """Seconds to wait before the next run: doubling up to ``cap_s``, back to ``first_s``
    after a run that lasted ``HEALTHY_RUN_S`` (a camera that works again reconnects fast)."""
    if previous is None or ran_s >= HEALTHY_RUN_S:
        return first_s
    return min(previous * 2.0, cap_s)


@dataclass(frozen=True)
class RecorderStatus:
    state: RecorderState
    restarts: int  # ffmpeg runs that ended (crash, EOF, stall) and were restarted
    last_error: str  # the last lines ffmpeg wrote to stderr before it ended, or a watchdog note
    last_segment_at: float | None  # wall time of the newest write to a segment file


class SegmentRecorder:
    """Keeps one ffmpeg recording ``url`` into ``directory`` alive until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        directory: Path,
        segment_s: float = 2.0,
        *,
        keep_s: float = 60.0,
        ffmpeg: str = "ffmpeg",
        stall_s: float | None = None,
        connect_s: float = 20.0,
        backoff_s: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        input_args(url)  # fail fast on an unsupported URL
        self.url, self.directory, self.segment_s = url, directory, segment_s
        self.ffmpeg = ffmpeg
        self.list_size = int(keep_s / segment_s) + 10  # the list outlives the ring's window
        # ffmpeg writes a segment file in one go when it closes: allow the longest segment
        # (a GOP longer than segment_s makes them longer) before calling the stream stalled
        self.stall_s = stall_s if stall_s is not None else max(20.0, 5 * segment_s)
        self.connect_s = connect_s
        self.backoff_s = backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._state: RecorderState = "stopped"
        self._restarts = 0
        self._last_error = ""
        self._last_segment_at: float | None = None

    def status(self) -> RecorderStatus:
        return RecorderStatus(self._state, self._restarts, self._last_error, self._last_segment_at)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"recorder of {redact_url(self.url)} already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop ffmpeg (SIGTERM lets it close and list its last segment) and the supervisor."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout_s + 2.0)
            self._thread = None
        self._state = "stopped"

    def _supervise(self) -> None:
        delay: float | None = None
        while not self._stop.is_set():
            began = time.monotonic()
            self._state = "starting"
            reason = self._run_once(f"r{time.time_ns() // 1_000_000}")
            if self._stop.is_set():
                break
            self._restarts += 1
            self._last_error = reason = redact_text(reason, self.url)
            delay = next_backoff(delay, time.monotonic() - began, *self.backoff_s)
            self._state = "backoff"
            log.warning(
                "recorder %s: %s; restarting in %.1f s", redact_url(self.url), reason, delay
            )
            self._stop.wait(delay)

    def _run_once(self, run_id: str) -> str:
        """Run ffmpeg until it exits, stalls or :meth:`stop`; say why it ended."""
        cmd = record_command(
            self.url, self.directory, run_id, self.segment_s, self.list_size, self.ffmpeg
        )
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            return f"cannot start {self.ffmpeg!r}: {exc}"
        self._proc = proc
        tail: deque[str] = deque(maxlen=5)
        drain = threading.Thread(target=_drain, args=(proc, tail), daemon=True)
        drain.start()
        started = time.time()
        reason = ""
        while proc.poll() is None and not self._stop.is_set():
            self._stop.wait(0.5)
            newest = _newest_mtime(self.directory, run_id)
            if newest is not None:
                self._last_segment_at = newest
                self._state = "recording"
            last = newest if newest is not None else started
            limit = self.stall_s if newest is not None else self.connect_s
            if time.time() - last > limit:
                reason = f"no video written for {time.time() - last:.0f} s (stalled stream)"
                break
        if proc.poll() is None:
            proc.terminate()  # lets ffmpeg close and list its last segment, unless it is stuck
            try:
                proc.wait(5.0 if self._stop.is_set() else 1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drain.join(2.0)
        self._proc = None
        if not reason:
            reason = f"ffmpeg exited with code {proc.returncode}"
        return f"{reason}: {' | '.join(tail)}" if tail else reason


def _drain(proc: subprocess.Popen[bytes], tail: deque[str]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").strip()
        if line:
            tail.append(line)


def _newest_mtime(directory: Path, run_id: str) -> float | None:
    times = [p.stat().st_mtime for p in directory.glob(f"{run_id}-*.ts")]
    return max(times) if times else None


@dataclass(frozen=True)
class Pin:
    alert_id: str
    start: float
    end: float


def plan_prune(
    segments: Sequence[Segment], pins: Sequence[Pin], now: float, keep_s: float, max_bytes: int
) -> list[Segment]:
    """Segments to delete: those ended more than ``keep_s`` ago, then the oldest until the rest
    fit in ``max_bytes``; never one that overlaps a pin."""

    def pinned(seg: Segment) -> bool:
        return any(seg.start < p.end and seg.end > p.start for p in pins)

    ordered = sorted(segments, key=lambda s: s.start)
    doomed = [s for s in ordered if s.end < now - keep_s and not pinned(s)]
    total = sum(s.size for s in ordered) - sum(s.size for s in doomed)
    for seg in ordered:
        if total <= max_bytes:
            break
        if seg not in doomed and not pinned(seg):
            doomed.append(seg)
            total -= seg.size
    return doomed


class SegmentRing:
    """The complete segments of one camera's recorder directory, with pins and pruning."""

    def __init__(self, directory: Path, keep_s: float = 60.0, max_bytes: int = 2 * 10**9) -> None:
        self.directory, self.keep_s, self.max_bytes = directory, keep_s, max_bytes
        self._index: dict[str, Segment] = {}
        self._pins: dict[str, Pin] = {}
        self._bad: set[str] = set()  # listed with an impossible duration; pruned as orphans
        self._closed: dict[str, float] = {}  # segment name -> mtime (when the next one began)
        self._lock = threading.Lock()

    def refresh(self) -> list[Segment]:
        """Index segments newly listed by the recorder; forget deleted ones; all, oldest first."""
        with self._lock:
            for listing in self.directory.glob("*.csv"):
                rows = _read_list(listing)
                if rows and time.time() - listing.stat().st_mtime < LIST_SETTLE_S:
                    rows = rows[:-1]  # ffmpeg may still be flushing the newest listed segment
                for name, s, e in rows:
                    path = self.directory / name
                    if name in self._index or name in self._bad or not path.is_file():
                        continue
                    duration = e - s
                    if not 0.0 < duration <= MAX_SEGMENT_S:  # timestamps jumped (camera reset)
                        log.warning("ring %s: ignoring %s, listed as %.1f s", listing, name, e - s)
                        self._bad.add(name)
                        continue
                    st = path.stat()
                    start = self._closed.get(_previous(name), st.st_mtime - duration)
                    self._index[name] = Segment(path, start, duration, st.st_size)
                    self._closed[name] = st.st_mtime
            for name in [n for n, seg in self._index.items() if not seg.path.exists()]:
                del self._index[name]
            self._closed = {n: t for n, t in self._closed.items() if n in self._index}
            return sorted(self._index.values(), key=lambda seg: seg.start)

    def segments(self) -> list[Segment]:
        with self._lock:
            return sorted(self._index.values(), key=lambda seg: seg.start)

    def covered_until(self) -> float | None:
        """Wall time up to which video is recorded (end of the newest complete segment)."""
        segs = self.refresh()
        return max(s.end for s in segs) if segs else None

    def bytes_per_hour(self) -> float:
        """Observed recording rate; 0 while nothing is recorded."""
        segs = self.refresh()
        seconds = sum(s.duration for s in segs)
        return sum(s.size for s in segs) / seconds * 3600.0 if seconds > 0 else 0.0

    def pin(self, alert_id: str, start: float, end: float) -> None:
        """Keep every segment overlapping [start, end] until :meth:`unpin` (the clip is cut)."""
        with self._lock:
            self._pins[alert_id] = Pin(alert_id, start, end)

    def unpin(self, alert_id: str) -> None:
        with self._lock:
            self._pins.pop(alert_id, None)

    def is_pinned(self, seg: Segment) -> bool:
        with self._lock:
            return any(seg.start < p.end and seg.end > p.start for p in self._pins.values())

    def delete(self, seg: Segment) -> None:
        """Delete one segment (the disk manager's emergency path); refuses a pinned one."""
        if self.is_pinned(seg):
            raise ValueError(f"segment {seg.path.name} is pinned by an open alert; not deleting")
        seg.path.unlink(missing_ok=True)
        with self._lock:
            self._index.pop(seg.path.name, None)

    def prune(self, now: float | None = None) -> list[Segment]:
        """Apply :func:`plan_prune`; also delete stale unlisted files and finished lists."""
        now = time.time() if now is None else now
        segs = self.refresh()
        with self._lock:
            doomed = plan_prune(segs, list(self._pins.values()), now, self.keep_s, self.max_bytes)
            for seg in doomed:
                seg.path.unlink(missing_ok=True)
                self._index.pop(seg.path.name, None)
            known = set(self._index)
        young = [s for s in doomed if s.end >= now - self.keep_s]
        if young:
            log.warning(
                "ring %s over its %d-byte budget: deleted %d segments younger than %.0f s",
                self.directory, self.max_bytes, len(young), self.keep_s,
            )  # fmt: skip
        for path in [*self.directory.glob("*.ts"), *self.directory.glob("*.csv")]:
            # a killed ffmpeg leaves an unlisted last segment; an ended run leaves its list
            try:
                stale = path.stat().st_mtime < now - self.keep_s
            except FileNotFoundError:
                continue
            if stale and path.name not in known and not self._listed_alive(path, known):
                path.unlink(missing_ok=True)
        return doomed

    def _listed_alive(self, path: Path, known: set[str]) -> bool:
        return path.suffix == ".csv" and any(name in known for name, _, _ in _read_list(path))


def _previous(name: str) -> str:
    """``r1-000007.ts`` -> ``r1-000006.ts``: the segment before it in the same ffmpeg run."""
    run, _, number = name.removesuffix(".ts").rpartition("-")
    return f"{run}-{int(number) - 1:06d}.ts" if number.isdigit() else ""


def _read_list(path: Path) -> list[tuple[str, float, float]]:
    """Rows ``name,start,end`` of a segment list (rewritten atomically by ffmpeg)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    rows = []
    for row in csv.reader(text.splitlines()):
        try:
            rows.append((row[0], float(row[1]), float(row[2])))
        except (IndexError, ValueError):
            log.warning("segment list %s: skipping malformed row %r", path, row)
    return rows
