"""A camera stream recorded as short MPEG-TS segments, by stream copy.

:class:`SegmentRecorder` runs one ``ffmpeg`` per camera that reads the record URL and writes
``<run>-000001.ts``, ... by stream copy (``-f segment``, video only), plus ``<run>.csv``: the
segment muxer's list of *complete* segments with their start and end in stream time. ffmpeg is
restarted forever with a capped backoff; a watchdog kills one that closes no segment for
``stall_s`` (a frozen camera that keeps its TCP connection open).

:class:`SegmentRing` (``sitewatch.edge.video.ring``, re-exported here) indexes the complete
segments with wall-clock times from the file system and prunes them, never a held one.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sitewatch.edge.video.redact import redact_text, redact_url
from sitewatch.edge.video.ring import LIST_SPAN_S, Pin, Segment, SegmentRing, plan_prune

log = logging.getLogger(__name__)

RecorderState = Literal["stopped", "starting", "recording", "backoff"]
HEALTHY_RUN_S = 60.0
__all__ = [
    "Pin",
    "RecorderStatus",
    "Segment",
    "SegmentRecorder",
    "SegmentRing",
    "input_args",
    "next_backoff",
    "plan_prune",
    "record_command",
]


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
        # the list outlives the ring's refreshes; older segments are indexed by their mtimes
        self.list_size = int(min(keep_s, LIST_SPAN_S) / segment_s) + 10
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
