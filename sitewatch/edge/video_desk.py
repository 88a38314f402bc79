"""The worker's desk for video commands: live streams and recorded ranges, POSTed to the console.

:meth:`VideoDesk.receive` runs on paho's thread and never blocks it: it reads a
``VideoCommand``, checks it as config commands are checked (the console's signature, issued
within ``trust.command_max_age_s`` and at most :data:`MAX_AHEAD_S` ahead), then starts, renews
or stops a :class:`LiveStream` (their own threads) or queues the work for the desk's job
threads (a ``range`` cut and POSTed, and every ``error`` part). A command that fails its checks
is only logged (rate-capped): its ``upload_url`` is not to be trusted. A signed command the
edge cannot serve gets an ``error`` part: ``failed`` (another site, an unknown camera),
``camera_offline`` (a disabled camera, or it failed), ``busy`` (``video.max_live`` streams
run) or ``not_recorded``. A ``hold`` puts a legal hold on the camera's recordings (a job)
and answers with a ``held`` part. Renewals reuse the request id, so a signed command replayed within
its age can restart a live stream to the console's own URL; the console answers 410 to a
session it does not hold, and a session it ended is never restarted here.
Protocol: docs/design/live-video.md.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import fingerprint, parse_public_key, verify
from sitewatch.edge.command_gate import ANSWERED_PER_MINUTE, MAX_AHEAD_S
from sitewatch.edge.config.schema import CameraSettings, SiteConfig
from sitewatch.edge.video.live import LiveStream
from sitewatch.edge.video.ranges import CutFailed, NotRecorded, cut_range
from sitewatch.edge.video.ring import Segment
from sitewatch.edge.video.uploader import ErrorCode, Uploader

log = logging.getLogger(__name__)

SegmentsOf = Callable[[str, m.VideoStream], Sequence[Segment]]
"""The recorded segments of (camera, stream); ``KeyError`` when that stream is not recorded."""
HoldOf = Callable[[str, str, float, float, str], None]
"""Put a legal hold ``(camera, hold id, start, end, reason)`` on every recorded stream of the
camera (wall clock, epoch seconds); ``KeyError`` for a camera not running here, ``OSError`` or
:class:`~sitewatch.edge.video.holds.HoldsFileError` when the holds file cannot be written."""
JOBS_QUEUED = 16
"""Range cuts and error parts waiting for a job thread; more are dropped and logged."""
JOB_THREADS = 2
CLOSED_REMEMBERED = 256


def command_problem(
    cmd: m.VideoCommand, key: Ed25519PublicKey | None, max_age_s: float, now: float
) -> str | None:
    """Why ``cmd`` must not be obeyed (not signed by ``key``, too old, ahead), or None."""
    fp = fingerprint(key) if key is not None else None
    if key is None:
        return (
            "expected a video command this edge can check, but its config has no "
            "trust.console_public_key, so it takes none: set it to the output of "
            "'sitewatch server public-key' and restart the edge"
        )
    if not cmd.signature:
        return f"expected a video command signed by the console's key {fp}, got an unsigned one"
    if not verify(cmd, key):
        return (
            f"expected the signature of the console's key {fp}, got one that does not match "
            "(another key, or the command was changed on the way): check trust.console_public_key"
        )
    age = now - cmd.issued_at.timestamp()
    if age > max_age_s:
        return (
            f"expected a video command issued within the last {max_age_s:g} s, got one issued "
            f"{age:.0f} s ago ({cmd.issued_at.isoformat()}): if this repeats, check both clocks"
        )
    if -age > MAX_AHEAD_S:
        return (
            f"expected issued_at at most {MAX_AHEAD_S:g} s ahead of the edge's clock, got "
            f"{-age:.0f} s ahead ({cmd.issued_at.isoformat()}): check both clocks (NTP)"
        )
    return None


def stream_url(cam: CameraSettings, stream: m.VideoStream) -> str:
    """The camera URL of ``stream``: ``record`` is the detect stream on a camera without one."""
    return cam.detect if stream == "detect" else cam.record or cam.detect


class VideoDesk:
    """Video commands in, video out to the console; :meth:`configure` on every config change."""

    def __init__(
        self,
        config: SiteConfig,
        key: Ed25519PrivateKey,
        segments: SegmentsOf,
        work_dir: Path,
        *,
        ffmpeg: str = "ffmpeg",
        clock: Callable[[], float] = time.time,
        hold: HoldOf | None = None,
    ) -> None:
        self.key, self.segments, self.work_dir = key, segments, work_dir
        self.hold = hold
        self.ffmpeg, self.clock = ffmpeg, clock
        self.config = config
        self._console = _console_key(config)
        self._lock = threading.Lock()  # the live table: paho's thread, streams' threads, worker
        self._live: dict[str, LiveStream] = {}  # request id -> running stream
        self._closed: deque[str] = deque(maxlen=CLOSED_REMEMBERED)  # sessions the console ended
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=JOBS_QUEUED)
        self._logged: deque[float] = deque()  # clock() of recent refusal log lines
        self._closing = False
        self.refused = 0
        """Commands refused for their signature or age, or dropped with the job queue full."""
        self.on_upload_url: Callable[[str], None] | None = None
        """Told each signed command's ``upload_url`` (the evidence lane learns the console's
        address from it: sitewatch.edge.publish.evidence_upload)."""
        self._threads = [
            threading.Thread(target=self._work, name=f"video-jobs-{i}", daemon=True)
            for i in range(JOB_THREADS)
        ]
        work_dir.mkdir(parents=True, exist_ok=True)
        for leftover in work_dir.glob("*.mp4"):  # cuts an earlier run did not finish sending
            leftover.unlink(missing_ok=True)
        for thread in self._threads:
            thread.start()

    def configure(self, config: SiteConfig) -> None:
        """A new config: streams of a camera removed, disabled or moved to another URL stop
        (the console's next renewal starts them again on the new URL)."""
        self.config, self._console = config, _console_key(config)
        cams = {c.id: c for c in config.cameras if c.enabled}
        with self._lock:
            streams = list(self._live.values())
        for live in streams:
            cam = cams.get(live.camera_id)
            if cam is None or stream_url(cam, live.stream) != live.url:
                live.stop(f"camera {live.camera_id} changed in the edge's config")

    def live_count(self) -> int:
        with self._lock:
            return len(self._live)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop every live stream and the job threads (a range being cut finishes first);
        commands that come after are ignored."""
        with self._lock:
            self._closing = True
            streams = list(self._live.values())
        for live in streams:
            live.stop("the edge is shutting down")
        for _ in self._threads:
            try:
                self._jobs.put(None, timeout=timeout_s)
            except queue.Full:
                break
        for live in streams:
            live.join(timeout_s)
        for thread in self._threads:
            thread.join(timeout_s)

    # -- paho's thread ---------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes) -> None:
        """On paho's thread: one command read, checked and handed on; never blocks."""
        if self._closing:
            return
        try:
            cmd = m.decode(payload, m.VideoCommand)
        except m.ContractError as exc:
            self._refuse(f"ignored a video command on {topic}: {exc}")
            return
        config = self.config
        problem = command_problem(cmd, self._console, config.trust.command_max_age_s, self.clock())
        if problem is not None:
            who = f"by {cmd.issued_by!r}, as it says"
            self._refuse(f"video command {cmd.request_id} ({who}) refused: {problem}")
            return
        if cmd.site_id != config.site.id:
            self._error(cmd, "failed", f"this edge serves site {config.site.id}, not {cmd.site_id}")
            return
        if self.on_upload_url is not None:
            self.on_upload_url(cmd.upload_url)
        if cmd.action == "stop":
            self._stop_live(str(cmd.request_id))
        elif cmd.action == "live":
            self._live_command(cmd, config)
        elif cmd.action == "hold":
            self._job(cmd, lambda: self._hold(cmd))
        else:
            self._job(cmd, lambda: self._range(cmd))

    def _live_command(self, cmd: m.VideoCommand, config: SiteConfig) -> None:
        rid = str(cmd.request_id)
        with self._lock:
            running = self._live.get(rid)
            closed = rid in self._closed
            count = len(self._live)
        if running is not None:
            running.renew(cmd.expires_at.timestamp())
            return
        if closed or cmd.expires_at.timestamp() <= self.clock():
            return  # the console ended it, or the renewal came too late to matter
        cam = next((c for c in config.cameras if c.id == cmd.camera_id), None)
        if cam is None or not cam.enabled:
            why = "is disabled in" if cam else "is not in"
            code: ErrorCode = "camera_offline" if cam else "failed"
            self._error(cmd, code, f"camera {cmd.camera_id} {why} this edge's config")
            return
        if count >= config.video.max_live:
            self._error(
                cmd, "busy", f"this edge streams at most {config.video.max_live} cameras live"
            )
            return
        try:
            live = LiveStream(
                rid,
                cmd.camera_id,
                stream_url(cam, cmd.stream),
                self._uploader(cmd),
                cmd.expires_at.timestamp(),
                stream=cmd.stream,
                ffmpeg=self.ffmpeg,
                on_end=self._ended,
            )
        except ValueError as exc:  # an upload URL without a host
            self._refuse(f"video command {rid} refused: {exc}")
            return
        with self._lock:
            self._live[rid] = live
        live.start()
        log.info("live %s of camera %s (%s) for %s", rid, cmd.camera_id, cmd.stream, cmd.issued_by)

    def _stop_live(self, rid: str) -> None:
        with self._lock:
            self._closed.append(rid)
            live = self._live.get(rid)
        if live is not None:
            live.stop("the console asked to stop")

    def _ended(self, live: LiveStream) -> None:
        with self._lock:
            if self._live.get(live.request_id) is live:
                del self._live[live.request_id]
            if live.closed_by_console:
                self._closed.append(live.request_id)

    # -- job threads -------------------------------------------------------------------------
    def _range(self, cmd: m.VideoCommand) -> None:
        """Cut the range and POST it as one ``range`` part (retried), or an ``error`` part."""
        assert cmd.start is not None and cmd.end is not None  # the contract's check
        if self.clock() > cmd.expires_at.timestamp():
            log.warning("range %s dropped: not begun by its expires_at", cmd.request_id)
            return
        out = self.work_dir / f"{cmd.request_id}.mp4"
        try:
            segments = self.segments(cmd.camera_id, cmd.stream)
            cut = cut_range(segments, cmd.start.timestamp(), cmd.end.timestamp(), out, self.ffmpeg)
        except (KeyError, NotRecorded) as exc:
            self._send_error(cmd, "not_recorded", str(exc).strip("'\""))
            return
        except (CutFailed, OSError, ValueError) as exc:
            self._send_error(cmd, "failed", f"the range could not be cut: {exc}")
            return
        uploader = self._uploader(cmd)
        try:
            answer = uploader.post_range(cut.path, cut.start, cut.end)
            if not answer.ok:
                log.warning(
                    "range %s of camera %s (%d bytes) not taken by the console: %s %s",
                    cmd.request_id, cmd.camera_id, cut.size_bytes, answer.status, answer.reason,
                )  # fmt: skip
        finally:
            uploader.close()
            out.unlink(missing_ok=True)

    def _hold(self, cmd: m.VideoCommand) -> None:
        """Put the legal hold and answer with a ``held`` part (JSON: the hold), or an ``error``
        part; a hold already there under this id is put again (a repeated command)."""
        assert cmd.start is not None and cmd.end is not None and cmd.reason is not None
        start, end, rid = cmd.start.timestamp(), cmd.end.timestamp(), str(cmd.request_id)
        reason = f"{cmd.reason} (asked by {cmd.issued_by} at the console)"
        if self.clock() > cmd.expires_at.timestamp():
            log.warning("hold %s dropped: not begun by its expires_at (the console gave up)", rid)
            return
        if self.hold is None:
            self._send_error(cmd, "failed", "this edge keeps no legal holds (no recordings)")
            return
        try:
            self.hold(cmd.camera_id, rid, start, end, reason)
        except KeyError as exc:
            self._send_error(cmd, "camera_offline", str(exc).strip("'\""))
            return
        except (OSError, RuntimeError, ValueError) as exc:  # HoldsFileError is a RuntimeError
            self._send_error(cmd, "failed", f"the hold could not be written: {exc}")
            return
        body = json.dumps({"id": rid, "start": start, "end": end, "reason": reason}).encode()
        uploader = self._uploader(cmd)
        try:
            answer = uploader.post("held", 0, self.clock(), body)
        finally:
            uploader.close()
        if not answer.ok:
            log.warning(
                "hold %s of camera %s is kept, but the console did not take its answer: %s %s",
                rid, cmd.camera_id, answer.status, answer.reason,
            )  # fmt: skip

    def _error(self, cmd: m.VideoCommand, code: ErrorCode, detail: str) -> None:
        log.warning("video command %s refused (%s): %s", cmd.request_id, code, detail)
        self._job(cmd, lambda: self._send_error(cmd, code, detail))

    def _send_error(self, cmd: m.VideoCommand, code: ErrorCode, detail: str) -> None:
        uploader = self._uploader(cmd)
        try:
            answer = uploader.post_error(code, detail)
        finally:
            uploader.close()
        if not answer.ok:
            log.warning(
                "error part of %s not taken: %s %s", cmd.request_id, answer.status, answer.reason
            )

    def _job(self, cmd: m.VideoCommand, job: Callable[[], None]) -> None:
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self._refuse(f"video command {cmd.request_id} dropped: {JOBS_QUEUED} jobs wait")

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # one bad job must not end the desk
                log.exception("a video job failed")

    # -- helpers ---------------------------------------------------------------------------
    def _uploader(self, cmd: m.VideoCommand) -> Uploader:
        return Uploader(
            cmd.upload_url,
            self.config.site.id,
            str(cmd.request_id),
            self.key,
            timeout_s=self.config.video.upload_timeout_s,
        )

    def _refuse(self, line: str) -> None:
        """Count a refusal; log it unless :data:`ANSWERED_PER_MINUTE` were logged this minute."""
        with self._lock:
            self.refused += 1
            now = self.clock()
            while self._logged and now - self._logged[0] >= 60.0:
                self._logged.popleft()
            if len(self._logged) >= ANSWERED_PER_MINUTE:
                return
            self._logged.append(now)
        log.warning("%s", line)


def _console_key(config: SiteConfig) -> Ed25519PublicKey | None:
    text = config.trust.console_public_key
    return parse_public_key(text) if text else None
