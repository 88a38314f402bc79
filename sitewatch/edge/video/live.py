"""One live stream: a camera stream copied to fragmented MP4 and POSTed to the console part by part.

A :class:`LiveStream` runs ``ffmpeg -c copy`` (no re-encode) from the camera URL to fMP4 on its
stdout, splits it (:mod:`sitewatch.edge.video.boxes`) and POSTs the init part, then one media
part per keyframe interval, in order (:mod:`sitewatch.edge.video.uploader`). Its own threads read
ffmpeg and send, joined by a small queue: a slow console drops the oldest waiting fragment
(counted; the next one starts with a keyframe), never blocks ffmpeg or the worker. It ends at
``expires_at`` unless :meth:`renew`-ed, on :meth:`stop`, when the console answers 410, 401 or
403, or when the camera fails (then an ``error`` part ``camera_offline`` says why).

Times are the edge's wall clock. ffmpeg writes a fragment when the *next* keyframe comes, so a
fragment's bytes arrive about one fragment after its first frame; the part before it arrived
when that first frame did. A media part's ``X-SiteWatch-Time`` is therefore when the part before
it began arriving (the init: when ffmpeg began writing): good to a fraction of a second on a live
stream, with no camera clock involved.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable

from sitewatch.contract import messages as m
from sitewatch.edge.video.boxes import BoxError, FragmentSplitter, Part
from sitewatch.edge.video.recorder import input_args
from sitewatch.edge.video.redact import redact_text, redact_url
from sitewatch.edge.video.uploader import ErrorCode, Uploader

log = logging.getLogger(__name__)

QUEUED_PARTS = 3
"""Media parts waiting to be sent; one more drops the oldest (a slow console sees fresh video)."""
STALL_S = 20.0
"""Seconds without a byte from ffmpeg before the camera is called stalled and ffmpeg killed."""
READ_BYTES = 1 << 16


def live_command(url: str, ffmpeg: str = "ffmpeg") -> list[str]:
    """The ffmpeg command copying ``url``'s video to fragmented MP4 on stdout."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
        *input_args(url), "-i", url,
        "-map", "0:v:0", "-an", "-c", "copy",
        "-f", "mp4", "-movflags", "empty_moov+default_base_moof+frag_keyframe",
        "-flush_packets", "1", "pipe:1",
    ]  # fmt: skip


class LiveStream:
    """Session ``request_id``: ``url`` (the camera's stream) to the console until it ends."""

    def __init__(
        self,
        request_id: str,
        camera_id: str,
        url: str,
        uploader: Uploader,
        expires_at: float,
        *,
        stream: m.VideoStream = "detect",
        ffmpeg: str = "ffmpeg",
        stall_s: float = STALL_S,
        on_end: Callable[[LiveStream], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.command = live_command(url, ffmpeg)  # ValueError for an unsupported URL
        self.request_id, self.camera_id, self.stream, self.url = request_id, camera_id, stream, url
        self.uploader, self.expires_at, self.stall_s = uploader, expires_at, stall_s
        self.on_end, self.clock = on_end, clock
        self.ended: str | None = None
        """Why the stream ended (None while it runs)."""
        self.sent = self.dropped = self.bytes_sent = 0
        self.closed_by_console = False
        """The console ended the session (410) or refused it (401, 403): never restart it."""
        self._stop = threading.Event()
        self._parts: deque[tuple[int, float, Part]] = deque()  # seq, time, part
        self._ready = threading.Condition()
        self._read_done = False
        self._last_byte = time.monotonic()
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=5)  # ffmpeg's last stderr lines
        self._failure: tuple[ErrorCode, str, float] | None = None  # code, detail, when
        self._threads: list[threading.Thread] = []

    @property
    def alive(self) -> bool:
        return self.ended is None

    def start(self) -> None:
        """Start the threads (ffmpeg starts on one); a stream that fails ends with an error part."""
        self._threads = [
            threading.Thread(target=self._read, name=f"live-read-{self.camera_id}", daemon=True),
            threading.Thread(target=self._send, name=f"live-send-{self.camera_id}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def renew(self, expires_at: float) -> None:
        """Keep streaming until ``expires_at`` (a later ``live`` of the same session)."""
        self.expires_at = max(self.expires_at, expires_at)

    def stop(self, reason: str = "stopped") -> None:
        """End the stream (no error part); returns at once, the threads finish on their own."""
        self._end(reason)

    def join(self, timeout_s: float = 5.0) -> None:
        for thread in self._threads:
            thread.join(timeout_s)

    # -- reading ffmpeg ----------------------------------------------------------------------
    def _read(self) -> None:
        try:
            proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            self._fail("failed", f"cannot start {self.command[0]!r}: {exc}")
            return
        self._proc = proc
        if self._stop.is_set():  # stopped while starting
            proc.kill()
        drain = threading.Thread(target=self._drain, args=(proc,), daemon=True)
        drain.start()
        splitter, seq, previous = FragmentSplitter(), 0, self.clock()
        assert proc.stdout is not None
        try:
            while chunk := os.read(proc.stdout.fileno(), READ_BYTES):  # what is there, or waits
                self._last_byte = time.monotonic()
                for part in splitter.feed(chunk, self.clock()):
                    at = part.at if part.kind == "init" else previous
                    previous = part.at
                    self._put(seq, at, part)
                    seq += 1
        except BoxError as exc:
            self._fail("failed", f"ffmpeg wrote something that is not fragmented MP4: {exc}")
        finally:
            _end_process(proc)
            drain.join(2.0)
            if not self._stop.is_set():  # before the sender can see the end: it sends this
                tail = redact_text(" | ".join(self._tail), self.url)
                got = "after sending video" if seq else "before any video"
                self._fail(
                    "camera_offline",
                    f"the camera stream {redact_url(self.url)} ended {got} (ffmpeg exit code "
                    f"{proc.returncode}){': ' + tail if tail else ''}",
                )
            with self._ready:
                self._read_done = True
                self._ready.notify_all()

    def _put(self, seq: int, at: float, part: Part) -> None:
        with self._ready:
            if len(self._parts) >= QUEUED_PARTS:
                media = next((i for i, p in enumerate(self._parts) if p[2].kind == "media"), 0)
                del self._parts[media]
                self.dropped += 1
            self._parts.append((seq, at, part))
            self._ready.notify_all()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._tail.append(line)

    # -- sending -------------------------------------------------------------------------
    def _send(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._next()
                if item is None:
                    continue
                seq, at, part = item
                answer = self.uploader.post(part.kind, seq, at, part.data)
                if answer.ok:
                    self.sent += 1
                    self.bytes_sent += len(part.data)
                elif answer.final:
                    self.closed_by_console = True
                    self._end(f"the console answered {answer.status} {answer.reason}")
                else:  # 5xx, 413 or no answer: this fragment is lost, the next has a keyframe
                    self.dropped += 1
                    log.warning(
                        "live %s of camera %s: part %d not taken (%s %s); going on",
                        self.request_id, self.camera_id, seq, answer.status, answer.reason,
                    )  # fmt: skip
            if self._failure is not None:
                answer = self.uploader.post_error(*self._failure)
                if not answer.ok:
                    log.warning("live %s: error part not taken: %s", self.request_id, answer)
        finally:
            self.uploader.close()
            if self.on_end is not None:
                self.on_end(self)

    def _next(self) -> tuple[int, float, Part] | None:
        """The next part to send, or None (after at most 0.5 s) when there is none or the
        stream ends now: expired, stalled, or ffmpeg ended and all it wrote went out."""
        if self.clock() >= self.expires_at:
            self._end("expired without a renewal")
            return None
        if time.monotonic() - self._last_byte > self.stall_s:
            self._fail(
                "camera_offline",
                f"no video from {redact_url(self.url)} for {self.stall_s:g} s (stalled stream)",
            )
            return None
        with self._ready:
            if not self._parts and not self._read_done:
                self._ready.wait(0.5)
            if self._parts:
                return self._parts.popleft()
            read_done = self._read_done
        if read_done:
            self._end("ffmpeg ended")
        return None

    # -- ending --------------------------------------------------------------------------
    def _fail(self, code: ErrorCode, detail: str) -> None:
        if self._failure is None and not self._stop.is_set():
            self._failure = (code, detail, self.clock())
            log.warning("live %s of camera %s: %s", self.request_id, self.camera_id, detail)
        self._end(detail)

    def _end(self, reason: str) -> None:
        with self._ready:
            if self.ended is None:
                self.ended = reason
                log.info("live %s of camera %s ended: %s", self.request_id, self.camera_id, reason)
            self._stop.set()
            self._ready.notify_all()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # its output is not wanted any more: no need to let it finish


def _end_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
