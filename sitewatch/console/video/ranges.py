"""Recorded ranges from the edges: one signed ``range`` VideoCommand, one upload, one file.

:meth:`RangeRequests.fetch` asks a site's edge for a range and waits for the upload that
:meth:`RangeRequests.deliver` is handed by the upload endpoint (docs/design/live-video.md,
"Playback" and "Export"). Playback ranges are windows of :data:`PLAYBACK_WINDOW_S` aligned to
multiples of it, cached under ``video_dir/cache/`` (pruned oldest first to
``video_cache_gb``) and shared: however many viewers ask for a window, one command is in
flight for it and later viewers get the cached file. Export ranges go to
``video_dir/exports/<request_id>.mp4``. An edge's ``error`` part becomes a
:class:`~sitewatch.console.domain.errors.ConsoleError` with a ``video.*`` code. Times are Unix
seconds. No HTTP and no MQTT here: the command goes out through
:func:`sitewatch.console.video.faults.sender` (signed, then ``state.ingest.send_video``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import threading
import time as clock
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from uuid import UUID, uuid4

from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.state import AppState
from sitewatch.console.store import replicas
from sitewatch.console.video import faults
from sitewatch.contract import messages as m

log = logging.getLogger(__name__)
PLAYBACK_WINDOW_S = 60.0
"""Length of one playback window; windows start at multiples of it (Unix time)."""
PLAYBACK_WAIT_S = 20.0
EXPORT_WAIT_S = 900.0
SETTLE_S = 60.0
"""After its end, how long a window may still grow at the edge (segments not yet closed)."""
LATE_S = 120.0
"""How long after its wait a request still takes its upload (cached for the next viewer)."""
Purpose = Literal["playback", "export"]
Part = Literal["range", "error"]


@dataclass(frozen=True)
class RangeFile:
    """A stored range: ``path``; ``start``/``end`` the wall clock of its first and last frame."""

    path: Path
    start: float
    end: float


@dataclass
class _Pending:
    request_id: UUID
    site_id: str
    camera_id: str
    stream: m.VideoStream
    purpose: Purpose
    key: str  # the cache key (playback) or the request id (export)
    deadline: float  # monotonic: after this an upload is refused (410)
    future: asyncio.Future[RangeFile] = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)

    @property
    def where(self) -> tuple[str, str, str]:
        return self.site_id, self.camera_id, self.stream


def window_of(at: float) -> tuple[float, float]:
    """The playback window holding ``at``: ``(start, start + PLAYBACK_WINDOW_S)``."""
    start = math.floor(at / PLAYBACK_WINDOW_S) * PLAYBACK_WINDOW_S
    return start, start + PLAYBACK_WINDOW_S


def settled(meta: Mapping[str, float]) -> bool:
    """Whether a cached window is final: its video reaches the window's end, or it was cut
    :data:`SETTLE_S` or more after the window ended (what it lacks then was not recorded).
    A window cut while it was still being recorded is asked for again."""
    return bool(
        meta["end"] >= meta["window_end"] - 1.0
        or meta["stored_at"] >= meta["window_end"] + SETTLE_S
    )


def cache_key(site_id: str, camera_id: str, stream: str, start: float) -> str:
    """The cache file's stem (ids follow the contract's pattern, so no dots or slashes)."""
    return f"{site_id}.{camera_id}.{stream}.{int(start)}"


def upload_url(state: AppState, request_id: UUID, fallback: str | None = None) -> str:
    """Where the edge POSTs: ``{edge_url}/api/edge/video/{request_id}``; ``edge_url`` defaults
    to ``console_url``, then ``fallback`` (the address the request came in on). A registered
    replica names itself (``?replica=<id>``): another replica handed the upload passes it on
    (:mod:`sitewatch.console.video.forward`)."""
    settings = state.settings
    base = settings.edge_url or settings.console_url or fallback or "http://127.0.0.1:8000"
    url = f"{base.rstrip('/')}/api/edge/video/{request_id}"
    registry = state.services.get(replicas.SERVICE)
    if isinstance(registry, replicas.Registry):
        url += f"?{replicas.PARAM}={registry.id}"
    return url


class RangeRequests:
    """Range requests in flight, by request id and by what they ask for. Thread-safe:
    :meth:`deliver` may be called from any thread; :meth:`fetch` runs on the app's loop."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.cache_dir = state.settings.video_dir / "cache"
        self.exports_dir = state.settings.video_dir / "exports"
        self.sent = 0  # commands sent (tests count them)
        self.started_at = datetime.now(UTC)  # exports asked for before ran in another process
        self._lock = threading.Lock()
        self._by_id: dict[UUID, _Pending] = {}
        self._by_key: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a background task (an export) until it ends."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cached(self, key: str, *, final: bool = False) -> RangeFile | None:
        """The cached window ``key``, if on disk (its use makes it the newest for pruning);
        with ``final``, only one that cannot grow any more (:func:`settled`)."""
        path, meta = self.cache_dir / f"{key}.mp4", self.cache_dir / f"{key}.json"
        try:
            times = json.loads(meta.read_text())
            if final and not settled(times):
                return None
            os.utime(path)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return RangeFile(path, float(times["start"]), float(times["end"]))

    async def fetch(
        self,
        site_id: str,
        camera_id: str,
        stream: m.VideoStream,
        start: float,
        end: float,
        purpose: Purpose,
        issued_by: str,
        *,
        fallback_url: str | None = None,
    ) -> RangeFile:
        """The range from ``start`` to ``end``: from the cache (playback), by joining the
        request in flight for it, or by sending a signed ``range`` command and waiting (at most
        :data:`PLAYBACK_WAIT_S`, exports :data:`EXPORT_WAIT_S`). Raises a ``video.*`` coded
        error: timeout (504), not_recorded (404), camera_offline, busy, broker_down (503),
        failed (502)."""
        wait = PLAYBACK_WAIT_S if purpose == "playback" else EXPORT_WAIT_S
        key = cache_key(site_id, camera_id, stream, start) if purpose == "playback" else ""
        if key and (hit := self.cached(key, final=True)) is not None:
            return hit
        loop = asyncio.get_running_loop()
        now = clock.monotonic()
        with self._lock:
            self._expire(now)
            pending = self._by_key.get(key) if key else None
            if pending is None and key and (hit := self.cached(key, final=True)) is not None:
                return hit  # stored while we looked
            if pending is None:
                request_id = uuid4()
                pending = _Pending(
                    request_id, site_id, camera_id, stream, purpose, key or str(request_id),
                    now + wait + LATE_S, loop.create_future(), loop,
                )  # fmt: skip
                self._by_id[request_id] = pending
                if key:
                    self._by_key[key] = pending
                send = True
            else:
                send = False
        if send:
            try:
                self._send(pending, stream, start, end, wait, issued_by, fallback_url)
            except ConsoleError:
                self._forget(pending)
                raise
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), wait)
        except TimeoutError:
            raise faults.timeout((site_id, camera_id, stream), wait) from None

    def deliver(
        self,
        request_id: UUID,
        site_id: str,
        part: Part,
        body_path: Path,
        time: float,
        end: float | None,
    ) -> bool:
        """Take the edge's upload for ``request_id``: a ``range`` file is moved into the cache
        or the exports, an ``error`` part (JSON ``{code, detail}``) fails the request. False
        for a request unknown, over, or of another site (the endpoint answers 410)."""
        with self._lock:
            self._expire(clock.monotonic())
            pending = self._by_id.get(request_id)
        if pending is None or pending.site_id != site_id:
            return False
        if part == "error":
            error: ConsoleError = _edge_error(pending, body_path)
        else:
            try:  # stored before the request is dropped: a viewer asking now finds the file
                result = self._store(pending, body_path, time, time if end is None else end)
            except OSError as exc:
                log.exception("could not store the range upload of %s", request_id)
                error = faults.failed(pending.where, f"not stored: {exc}")
            else:
                self._forget(pending)
                self._settle(pending, result=result)
                return True
        self._forget(pending)
        self._settle(pending, error=error)
        return True

    # -- inside ---------------------------------------------------------------------------
    def _send(
        self,
        pending: _Pending,
        stream: m.VideoStream,
        start: float,
        end: float,
        wait: float,
        issued_by: str,
        fallback_url: str | None,
    ) -> None:
        now = datetime.now(UTC)
        command = m.VideoCommand(
            request_id=pending.request_id,
            site_id=pending.site_id,
            camera_id=pending.camera_id,
            action="range",
            stream=stream,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            upload_url=upload_url(self.state, pending.request_id, fallback_url),
            expires_at=now + timedelta(seconds=wait),
            issued_by=issued_by,
            issued_at=now,
        )
        faults.sender(self.state)(command)  # signed; edge_offline / broker_down if it cannot go
        self.sent += 1

    def _store(self, pending: _Pending, body: Path, start: float, end: float) -> RangeFile:
        if pending.purpose == "export":
            self.exports_dir.mkdir(parents=True, exist_ok=True)
            path = self.exports_dir / f"{pending.request_id}.mp4"
            shutil.move(body, path)
            return RangeFile(path, start, end)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / f"{pending.key}.mp4"
        shutil.move(body, path)
        window_end = float(pending.key.rsplit(".", 1)[1]) + PLAYBACK_WINDOW_S
        meta = {"start": start, "end": end, "window_end": window_end, "stored_at": clock.time()}
        (self.cache_dir / f"{pending.key}.json").write_text(json.dumps(meta))
        self._prune(keep=path)
        return RangeFile(path, start, end)

    def _prune(self, keep: Path) -> None:
        """Delete cached windows, oldest used first, until the cache fits ``video_cache_gb``."""
        budget = self.state.settings.video_cache_gb * 1e9
        files = []
        for path in self.cache_dir.glob("*.mp4"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= budget:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            total -= size

    def _settle(
        self, pending: _Pending, *, result: RangeFile | None = None, error: Exception | None = None
    ) -> None:
        def done() -> None:
            if pending.future.done():
                return
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(result)  # type: ignore[arg-type]

        pending.loop.call_soon_threadsafe(done)

    def _forget(self, pending: _Pending) -> None:
        with self._lock:
            self._by_id.pop(pending.request_id, None)
            if self._by_key.get(pending.key) is pending:
                self._by_key.pop(pending.key)

    def _expire(self, now: float) -> None:
        """Drop requests past their deadline (called holding the lock)."""
        for request_id, pending in list(self._by_id.items()):
            if pending.deadline < now:
                self._by_id.pop(request_id)
                if self._by_key.get(pending.key) is pending:
                    self._by_key.pop(pending.key)


def _edge_error(pending: _Pending, body: Path) -> ConsoleError:
    """The coded error of an edge's ``error`` part (one that cannot be read: ``failed``)."""
    try:
        doc = json.loads(body.read_text(encoding="utf-8"))
        code, detail = str(doc["code"]), str(doc.get("detail", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        code, detail = "failed", f"its error part was not JSON with a code ({exc})"
    finally:
        body.unlink(missing_ok=True)
    if code == "not_recorded":
        detail = (
            f"camera {pending.camera_id!r} at site {pending.site_id!r} has no recording of "
            f"that time ({pending.stream} stream): {detail}"
        )
    return faults.from_edge(pending.where, code, detail)
