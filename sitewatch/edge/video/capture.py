"""One reader thread per camera: RTSP over TCP with PyAV, latest frame only, reconnect forever.

``CameraReader`` keeps one decoded frame, the newest; the batcher takes it with
``latest(after_seq)`` when it is newer. A frame overwritten before anyone took it is skipped
and counted in ``stats()`` (not a drop), so a slow consumer never sees a backlog. Every frame is
decoded; a frame's ``image`` (BGR) is converted on first use, in the caller's thread. With
``need_fps`` at a quarter of the stream's rate or less, non-reference frames are not decoded.

Failures never end the thread: a camera that is down is "offline" and retried with capped,
jittered exponential backoff; one with no frame for ``stall_s`` is "stalled" and reopened.
``Frame.ts`` is wall-clock seconds in stream steps (``pts`` plus an offset), re-anchored when
it runs ahead of the wall clock or ``RESYNC_S`` behind, never going backwards for one camera.
A host name whose DNS lookup hangs blocks the thread: give cameras as IP addresses.
Why, and what decoding costs: docs/design/video.md.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

import av
import cv2
import numpy as np

from sitewatch.core.geometry import Image

logger = logging.getLogger(__name__)

CameraState = Literal["online", "offline", "stalled"]
RESYNC_S = 5.0
"""Stream time this far behind the wall clock is taken as a camera reset: re-anchor."""
RATE_WINDOW_S = 5.0
"""Window over which fps_in / fps_decoded / fps_taken are measured."""


class PacketSink(Protocol):
    """Takes the stream's packets as they arrive (``sitewatch.edge.video.packet_recorder``):
    ``begin`` per connection, ``feed`` per video packet, after it was decoded, ``end`` when
    the connection ends. Called on the reader thread: it must be quick and never raise."""

    def begin(self, stream: av.video.stream.VideoStream) -> None: ...
    def feed(self, packet: av.Packet[Any]) -> None: ...
    def end(self) -> None: ...


class Frame:
    """A decoded frame. ``ts``: stream time as wall-clock seconds (monotonic per camera);
    ``captured_at``: wall-clock seconds when it was decoded; ``seq`` grows by one per frame.

    ``image`` (H x W x 3, BGR) is either given or converted from the decoded picture on first
    use (once, thread-safe), so frames nobody analyses are never converted."""

    __slots__ = ("_convert", "_image", "_lock", "camera", "captured_at", "seq", "ts")

    def __init__(
        self,
        camera: str,
        seq: int,
        ts: float,
        captured_at: float,
        image: Image | Callable[[], Image],
    ) -> None:
        self.camera, self.seq, self.ts, self.captured_at = camera, seq, ts, captured_at
        self._image: Image | None = None if callable(image) else image
        self._convert: Callable[[], Image] | None = image if callable(image) else None
        self._lock = threading.Lock()

    @property
    def image(self) -> Image:
        if self._image is None:
            with self._lock:
                if self._image is None and self._convert is not None:
                    self._image, self._convert = self._convert(), None
        assert self._image is not None
        return self._image

    @property
    def converted(self) -> bool:
        """Whether ``image`` has been converted (or was given)."""
        return self._image is not None

    def __repr__(self) -> str:
        return f"Frame({self.camera!r}, seq={self.seq}, ts={self.ts:.3f})"


@dataclass(frozen=True)
class CameraStats:
    """A camera's health; rates are frames per second over the last few seconds."""

    state: CameraState
    fps_in: float  # frames received from the network
    fps_decoded: float  # frames decoded (not converted: see ``Frame.image``) and offered
    fps_taken: float  # frames handed over by latest(): "fps analysed"
    frames_skipped: int  # offered frames overwritten before anyone took them (by design)
    reconnects: int  # connection attempts after the first
    stalls: int  # streams torn down for delivering no frame for stall_s
    last_frame_at: float | None  # wall-clock seconds
    last_error: str | None


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._since: float | None = None

    def add(self, now: float) -> None:
        if self._since is None:
            self._since = now
        self._times.append(now)

    def per_s(self, now: float) -> float:
        while self._times and self._times[0] < now - RATE_WINDOW_S:
            self._times.popleft()
        if self._since is None:
            self._since = now  # counting starts with the first question
        return len(self._times) / min(max(now - self._since, 1.0), RATE_WINDOW_S)


class _Stalled(Exception):
    pass


def _describe(exc: BaseException) -> str:
    """The error without the URL (PyAV puts it in str(exc); it may hold a password)."""
    reason = exc.strerror if isinstance(exc, OSError | av.FFmpegError) else None
    return f"{type(exc).__name__}: {reason or exc}"


class CameraReader:
    """Reads one camera in a daemon thread; ``start()``, then ``latest()`` and ``stats()``.

    ``need_fps``: the most frames a second the caller takes (None: all); at a quarter of the
    stream's rate or less, non-reference frames are not decoded. ``backoff_s``: first and
    longest wait between attempts; the wait doubles per failure and is reset after
    ``healthy_s`` of frames. ``packets``: given every video packet (the stream recorded
    without a second connection to the camera).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        need_fps: float | None = None,
        stall_s: float = 5.0,
        open_timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        healthy_s: float = 10.0,
        packets: PacketSink | None = None,
    ) -> None:
        if need_fps is not None and need_fps <= 0:
            raise ValueError(f"need_fps must be positive or None (all frames), got {need_fps}")
        if stall_s <= 0 or open_timeout_s <= 0:
            raise ValueError(f"timeouts must be positive, got {stall_s=} {open_timeout_s=}")
        if not 0 < backoff_s[0] <= backoff_s[1]:
            raise ValueError(f"backoff_s must be (min, max) with 0 < min <= max, got {backoff_s}")
        self.name, self.url = name, url
        self.need_fps, self.stall_s, self.open_timeout_s = need_fps, stall_s, open_timeout_s
        self.backoff_s, self.healthy_s = backoff_s, healthy_s
        self.packets = packets
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)
        # Guarded by _cond:
        self._frame: Frame | None = None
        self._taken_seq = 0
        self._state: CameraState = "offline"
        self._skipped = self._reconnects = self._stalls = 0
        self._last_error: str | None = None
        self._last_frame_at: float | None = None
        self._last_frame_mono = 0.0
        self._in, self._decoded, self._taken = _Rate(), _Rate(), _Rate()
        # Reader thread only:
        self._opened = False  # the current connection got past open
        self._online_since: float | None = None  # monotonic time of its first frame
        self._seq = 0
        self._last_ts = 0.0
        self._offset: float | None = None  # wall-clock minus stream seconds

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Ask the thread to end; True if it did within ``timeout_s``. A read blocked on a dead
        socket ends within ``stall_s`` (an open within ``open_timeout_s``)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def latest(self, after_seq: int = 0, timeout_s: float = 0.0) -> Frame | None:
        """The newest frame if its ``seq`` is above ``after_seq``, else None; waits up to
        ``timeout_s`` for one. The frame counts as taken (not dropped)."""
        with self._cond:
            if timeout_s > 0:
                self._cond.wait_for(self._newer_than(after_seq), timeout_s)
            frame = self._frame
            if frame is None or frame.seq <= after_seq:
                return None
            if frame.seq > self._taken_seq:
                self._taken_seq = frame.seq
                self._taken.add(time.monotonic())
            return frame

    def _newer_than(self, seq: int) -> Callable[[], bool]:
        return lambda: self._stop.is_set() or (self._frame is not None and self._frame.seq > seq)

    def stats(self) -> CameraStats:
        now = time.monotonic()
        with self._cond:
            state = self._state
            if state == "online" and now - self._last_frame_mono > self.stall_s:
                state = "stalled"  # the watchdog's view, before the read times out
            return CameraStats(
                state=state,
                fps_in=self._in.per_s(now),
                fps_decoded=self._decoded.per_s(now),
                fps_taken=self._taken.per_s(now),
                frames_skipped=self._skipped,
                reconnects=self._reconnects,
                stalls=self._stalls,
                last_frame_at=self._last_frame_at,
                last_error=self._last_error,
            )

    # -- reader thread -------------------------------------------------------------------

    def _set(self, state: CameraState, error: str | None = None) -> None:
        with self._cond:
            if state != self._state:
                log = logger.info if state == "online" else logger.warning
                log("camera %s: %s -> %s (%s)", self.name, self._state, state, error or "")
            self._state = state
            if error:
                self._last_error = error

    def _run(self) -> None:
        backoff = self.backoff_s[0]
        attempts = 0
        while not self._stop.is_set():
            if attempts:
                with self._cond:
                    self._reconnects += 1
            attempts += 1
            self._online_since = None
            self._opened = False
            started = time.monotonic()
            try:
                self._read_stream()
                if not self._stop.is_set():
                    self._set("offline", "stream ended (EOF)")
            except _Stalled as exc:
                self._stalled(str(exc))
            except (av.FFmpegError, OSError, ValueError) as exc:
                if self._opened and isinstance(exc, av.ExitError | TimeoutError):
                    self._stalled(f"no data for {self.stall_s:g} s (read timed out)")
                elif not self._opened and time.monotonic() - started >= self.open_timeout_s:
                    self._set("offline", f"no answer within {self.open_timeout_s:g} s")
                else:
                    self._set("offline", _describe(exc))
            except Exception as exc:  # never let one camera's surprise end its thread
                logger.exception("camera %s: unexpected error", self.name)
                self._set("offline", _describe(exc))
            since = self._online_since
            if since is not None and self._last_frame_mono - since >= self.healthy_s:
                backoff = self.backoff_s[0]  # it worked for a while: retry quickly
            self._stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self.backoff_s[1])
        with self._cond:
            self._state = "offline"
        logger.info("camera %s: stopped", self.name)

    def _stalled(self, why: str) -> None:
        with self._cond:
            self._stalls += 1
        self._set("stalled", why)

    def _read_stream(self) -> None:
        options = {
            "rtsp_transport": "tcp",
            "timeout": str(int(self.stall_s * 1e6)),  # socket I/O, microseconds
            # Probe 0.1 s, not 5 s: opens in ~0.15 s instead of ~1.1 s, and the frames read
            # while probing do not arrive as a burst (measured on samples/rtsp_server.py).
            "analyzeduration": "100000",
        }
        # A read gives up after stall_s / 2 without data. Over RTSP, FFmpeg's H.264 parser holds
        # the last frame until the next one starts and releases it when a read gives up, which
        # restarts the clock: a frozen stream ends in an error stall_s after its last data.
        timeout = (self.open_timeout_s, self.stall_s / 2)
        with av.open(self.url, options=options, timeout=timeout) as c:
            self._opened = True
            if not c.streams.video:
                raise ValueError("the stream has no video track")
            stream = c.streams.video[0]
            ctx = stream.codec_context
            ctx.thread_count = 1  # many cameras share few cores: no threads per decoder
            rate = float(stream.guessed_rate or stream.average_rate or 25)
            if self.need_fps is not None and self.need_fps <= rate / 4:
                ctx.skip_frame = "NONREF"
            self._offset = None
            with self._cond:
                self._last_frame_mono = time.monotonic()
            sink = self.packets
            if sink is None:
                self._decode(c, stream)
                return
            sink.begin(stream)
            try:
                self._decode(c, stream, sink)
            finally:
                sink.end()

    def _decode(
        self,
        c: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        sink: PacketSink | None = None,
    ) -> None:
        """Demux and decode until the stream ends, stalls or the reader stops."""
        for packet in c.demux():  # every stream's packets, so this loop sees any data
            now = time.monotonic()
            if self._stop.is_set():
                return
            if now - self._last_frame_mono > self.stall_s:
                raise _Stalled(f"data but no decoded frame for {self.stall_s:g} s")
            if packet.stream_index != stream.index:
                continue
            if packet.size:
                with self._cond:
                    self._in.add(now)
            for frame in stream.decode(packet):
                self._on_frame(frame)
            if sink is not None:
                sink.feed(packet)

    def _on_frame(self, frame: av.VideoFrame) -> None:
        wall, mono = time.time(), time.monotonic()
        pts = frame.time
        if pts is None:
            ts = wall
        else:
            if self._offset is None or self._offset + pts > wall:
                self._offset = wall - pts  # first frame, or it would run ahead of the clock
            elif wall - (self._offset + pts) > RESYNC_S:
                logger.warning("camera %s: stream time jumped; re-anchoring", self.name)
                self._offset = wall - pts
            ts = self._offset + pts
        ts = max(ts, self._last_ts + 1e-6)
        self._last_ts = ts
        with self._cond:
            self._last_frame_mono, self._last_frame_at = mono, wall
        if self._online_since is None:
            self._online_since = mono
            self._set("online")
        self._seq += 1
        with self._cond:
            if self._frame is not None and self._frame.seq > self._taken_seq:
                self._skipped += 1
            self._frame = Frame(self.name, self._seq, ts, wall, partial(_bgr, frame))
            self._decoded.add(mono)
            self._cond.notify_all()


FULL_RANGE = 2
"""FFmpeg's AVCOL_RANGE_JPEG: luma 0-255 rather than video's 16-235."""


def _bgr(frame: av.VideoFrame) -> Image:
    """The picture as BGR ``uint8`` HxWx3. Limited-range YUV 4:2:0 of even size goes through
    OpenCV (faster than FFmpeg's swscale and nearer to BT.601: bench/RESULTS.md, "Colour
    conversion"); anything else (full-range "yuvj", odd sizes, other layouts) through swscale."""
    limited = frame.color_range != FULL_RANGE
    even = frame.width % 2 == 0 and frame.height % 2 == 0
    if frame.format.name == "yuv420p" and limited and even:
        i420 = frame.to_ndarray()  # (H * 3 / 2) x W: the Y plane, then U, then V
        return np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)  # no copy
