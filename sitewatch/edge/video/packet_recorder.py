"""The analysed stream recorded from the packets its reader already receives.

:class:`PacketRecorder` is fed every video packet by :class:`~sitewatch.edge.video.capture.
CameraReader` (its reader thread) and writes them, by stream copy (PyAV muxing, no decoding),
as MPEG-TS segments ``<run>-000001.ts``, ... cut at the first keyframe after ``segment_s``, with
``<run>.csv`` listing the complete ones (``name,start,end``, seconds of stream time) exactly as
:class:`~sitewatch.edge.video.recorder.SegmentRecorder`'s ffmpeg does, so the same
:class:`~sitewatch.edge.video.ring.SegmentRing` indexes, cuts and prunes them. Each connection
of the reader is a run; a segment open when it ends is closed and listed. Timestamps restart
at 0 in every segment (ffmpeg's ``-reset_timestamps 1``).

Why not a second ffmpeg per camera: each costs an RTSP session at the camera (cheap cameras
allow 2-4) and ~2 % of a core (bench/RESULTS.md, "Edge throughput", "Quiet run: watched
against the baseline"). A muxing error never reaches the reader: the segment is dropped,
counted in :meth:`status`, and the next keyframe starts a new one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from sitewatch.edge.video.recorder import RecorderState, RecorderStatus
from sitewatch.edge.video.ring import LIST_SPAN_S

log = logging.getLogger(__name__)


class _Segment:
    """One open output file; timestamps rebased to its first packet's.

    RTSP gives the very first packet of a connection no timestamp and no packet a dts (the
    muxer derives it): a missing pts is the previous one plus its duration."""

    def __init__(
        self, path: Path, template: av.video.stream.VideoStream, first: av.Packet[Any], start: int
    ) -> None:
        self.path = path
        self.container = av.open(str(path), "w", format="mpegts")
        # opaque: the input's codec parameters as they are (SPS/PPS, size): no codec opened
        self.stream = self.container.add_stream_from_template(template, opaque=True)
        self.time_base: Fraction = first.time_base or template.time_base or Fraction(1, 90000)
        self.first_pts = first.pts if first.pts is not None else start
        self.next_pts = self.first_pts  # where a packet without a pts goes
        self.last_end = self.first_pts

    def mux(self, packet: av.Packet[Any]) -> None:
        pts = packet.pts if packet.pts is not None else self.next_pts
        step = packet.duration or 0
        self.next_pts = max(self.next_pts, pts + step)
        self.last_end = max(self.last_end, pts + step)
        packet.pts = pts - self.first_pts
        if packet.dts is not None:
            packet.dts -= self.first_pts
        packet.stream = self.stream
        self.container.mux(packet)

    def seconds(self, pts: int) -> float:
        return float((pts - self.first_pts) * self.time_base)

    def close(self) -> None:
        self.container.close()


class PacketRecorder:
    """Segments of one stream from packets fed by its reader; see the module doc.

    ``start``/``stop``/``status`` as :class:`~sitewatch.edge.video.recorder.SegmentRecorder`;
    the reader calls :meth:`begin` on each connection, :meth:`feed` per video packet and
    :meth:`end` when the connection ends. Thread-safe (a lock per call).
    """

    def __init__(self, directory: Path, segment_s: float = 2.0, *, keep_s: float = 60.0) -> None:
        if segment_s <= 0:
            raise ValueError(f"segment_s must be positive seconds, got {segment_s}")
        self.directory, self.segment_s = directory, segment_s
        self.list_size = int(min(keep_s, LIST_SPAN_S) / segment_s) + 10  # as SegmentRecorder
        self._lock = threading.Lock()
        self._running = False
        self._template: av.video.stream.VideoStream | None = None
        self._run = ""
        self._number = 0
        self._run_start: float | None = None  # stream seconds of the run's first packet
        self._segment: _Segment | None = None
        self._segment_end = 0  # stream time (time_base units) where the last segment ended
        self._listed: list[str] = []
        self._state: RecorderState = "stopped"
        self._restarts = 0  # connections after the first (the reader reconnected)
        self._last_error = ""
        self._last_segment_at: float | None = None
        self.failed_segments = 0

    def status(self) -> RecorderStatus:
        return RecorderStatus(self._state, self._restarts, self._last_error, self._last_segment_at)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._running = True
            self._state = "starting"

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close and list the open segment; packets fed later are ignored."""
        del timeout_s  # nothing to wait for: same signature as SegmentRecorder.stop
        with self._lock:
            self._close()
            self._running = False
            self._template = None
            self._state = "stopped"

    # -- called by the reader thread ------------------------------------------------------
    def begin(self, stream: av.video.stream.VideoStream) -> None:
        """A new connection: a new run (its own segment numbers and list)."""
        with self._lock:
            self._close()
            if self._run:
                self._restarts += 1
            self._template = stream
            self._run = f"p{time.time_ns() // 1_000_000}"
            self._number, self._listed, self._run_start = 0, [], None
            self._segment_end = 0

    def feed(self, packet: av.Packet[Any]) -> None:
        """One packet of the stream given to :meth:`begin`, in demux order."""
        with self._lock:
            if not self._running or self._template is None or not packet.size:
                return
            try:
                self._feed(packet)
            except (av.FFmpegError, OSError, ValueError) as exc:
                self.failed_segments += 1
                self._last_error = f"segment dropped: {type(exc).__name__}: {exc}"
                log.warning("recorder %s: %s", self.directory, self._last_error)
                self._drop()

    def end(self) -> None:
        """The connection ended: close and list the open segment."""
        with self._lock:
            self._close()
            self._template = None
            if self._running:
                self._state = "backoff"

    # -- internals (lock held) -----------------------------------------------------------------
    def _feed(self, packet: av.Packet[Any]) -> None:
        seg = self._segment
        key = packet.is_keyframe
        if seg is None:
            if not key:
                return  # a segment starts at a keyframe, so it plays on its own
            self._open(packet)
            seg = self._segment
            assert seg is not None
        elif key and packet.pts is not None and seg.seconds(packet.pts) >= self.segment_s:
            self._close()
            self._open(packet)
            seg = self._segment
            assert seg is not None
        seg.mux(packet)

    def _open(self, first: av.Packet[Any]) -> None:
        assert self._template is not None
        self._number += 1
        path = self.directory / f"{self._run}-{self._number:06d}.ts"
        start = self._segment_end if first.pts is None else first.pts
        self._segment = _Segment(path, self._template, first, start)
        if self._run_start is None:
            self._run_start = float(self._segment.first_pts * self._segment.time_base)

    def _close(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        self._segment_end = seg.next_pts
        try:
            seg.close()
        except (av.FFmpegError, OSError) as exc:
            self.failed_segments += 1
            self._last_error = f"segment dropped at close: {type(exc).__name__}: {exc}"
            seg.path.unlink(missing_ok=True)
            return
        start = float(seg.first_pts * seg.time_base) - (self._run_start or 0.0)
        end = start + seg.seconds(seg.last_end)
        if end <= start:
            seg.path.unlink(missing_ok=True)  # a single packet: nothing to play
            return
        self._listed = [*self._listed, f"{seg.path.name},{start:.6f},{end:.6f}"][-self.list_size :]
        listing = self.directory / f"{self._run}.csv"
        tmp = listing.with_suffix(".csv.tmp")
        tmp.write_text("\n".join(self._listed) + "\n")
        os.replace(tmp, listing)  # the ring reads the list whole, never half-written
        self._last_segment_at = time.time()
        self._state = "recording"

    def _drop(self) -> None:
        seg, self._segment = self._segment, None
        if seg is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                seg.close()
            seg.path.unlink(missing_ok=True)
