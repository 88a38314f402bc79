"""The live relay: one upstream per (site, camera, stream), however many people watch.

A :class:`LiveSession` is opened by its first viewer: a signed ``live`` VideoCommand goes to the
edge (``request_id`` = the session), renewed every ``renew_s`` while anyone watches
(``expires_at`` = now + ``expires_s``). The edge POSTs the init part, then one media part per
fragment (:meth:`LiveHub.deliver`); the session keeps the init part and the newest media part,
so a viewer who joins gets both at once, then every new part. Each viewer has a bounded queue
(:class:`Viewer`): one that falls behind is dropped, never the upstream. ``grace_s`` after the
last viewer left the session is over: ``stop`` goes out and the next upload is answered 410.
Times: ``*_time`` the edge's wall clock, ``*_at`` the console's (Unix seconds). All methods run
on the app's event loop. No HTTP and no MQTT here (the command goes out through ``send``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as clock
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from sitewatch.console.video import faults
from sitewatch.console.video.codec import CodecError, mse_type
from sitewatch.contract import messages as m

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # site, camera, stream
Delivered = Literal["ok", "over", "wrong_site"]
Send = Callable[[m.VideoCommand], None]
"""Signs and sends a command to its site's edge; raises a :mod:`faults` error when it cannot."""


@dataclass(frozen=True)
class HubTiming:
    """Seconds: renew the live command every ``renew_s`` (it expires ``expires_s`` after it was
    sent); end a session ``grace_s`` after its last viewer left; a viewer waits at most
    ``first_part_s`` for the init part. A viewer's queue holds at most ``viewer_parts`` parts
    and ``viewer_bytes`` bytes (one part bigger than that passes alone)."""

    renew_s: float = 10.0
    expires_s: float = 30.0
    grace_s: float = 30.0
    first_part_s: float = 15.0
    viewer_parts: int = 64
    viewer_bytes: int = 16 * 1024 * 1024


class Viewer:
    """One viewer's queue of parts; ``None`` in it ends the stream (dropped or session over)."""

    def __init__(self, session: LiveSession, user: str, timing: HubTiming) -> None:
        self.session = session
        self.user = user
        self.dropped = False
        self.joined = False  # True once given the init part: then it gets every part
        self.queued_bytes = 0
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(timing.viewer_parts)
        self._max_bytes = timing.viewer_bytes
        self._closed = False

    def offer(self, part: bytes) -> bool:
        """Queue ``part``; False (and the viewer dropped) when the queue is full."""
        if self._closed:
            return False
        if self.queued_bytes and self.queued_bytes + len(part) > self._max_bytes:
            self.dropped = True
            self.close()
            return False
        try:
            self._queue.put_nowait(part)
        except asyncio.QueueFull:
            self.dropped = True
            self.close()
            return False
        self.queued_bytes += len(part)
        return True

    def close(self) -> None:
        """End the stream: what is queued is discarded and the reader sees the end."""
        if self._closed:
            return
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self.queued_bytes = 0
        self._queue.put_nowait(None)

    async def parts(self) -> AsyncIterator[bytes]:
        """The parts as they come, until the viewer is closed."""
        while True:
            part = await self._queue.get()
            if part is None:
                return
            self.queued_bytes -= len(part)
            yield part


@dataclass(eq=False)
class LiveSession:
    """One upstream: what it has received and who watches it."""

    key: Key
    request_id: UUID
    upload_url: str
    issued_by: str
    init: bytes | None = None
    latest: bytes | None = None
    mime: str | None = None
    seq: int = -1
    upstream_bytes: int = 0
    parts: int = 0
    last_part_time: float | None = None
    last_part_at: float | None = None
    viewers: set[Viewer] = field(default_factory=set)
    failure: faults.ConsoleError | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    over: bool = False

    def info(self) -> dict[str, Any]:
        return {
            "session": str(self.request_id),
            "viewers": len(self.viewers),
            "upstream_bytes": self.upstream_bytes,
            "parts": self.parts,
            "last_part_time": self.last_part_time,
            "last_part_at": self.last_part_at,
            "mime": self.mime,
        }


class LiveHub:
    """The live sessions of the console, by (site, camera, stream) and by request id."""

    def __init__(self, send: Send, timing: HubTiming | None = None) -> None:
        self.send = send
        self.timing = timing or HubTiming()
        self.sessions: dict[Key, LiveSession] = {}
        self._by_request: dict[UUID, LiveSession] = {}

    # -- viewers ---------------------------------------------------------------------------
    async def watch(self, key: Key, *, user: str, upload_url: Callable[[UUID], str]) -> Viewer:
        """A viewer of ``key``'s session (opened, and the edge asked, if there is none), once
        the init part is there: queued with the init part and the newest media part. Raises
        a :mod:`faults` error: the edge cannot be asked, it answered with an error part, or
        sent nothing in ``first_part_s`` (:class:`faults.Timeout`)."""
        session = self.sessions.get(key)
        if session is None:
            request_id = uuid4()
            session = LiveSession(key, request_id, upload_url(request_id), user)
            self._command(session, "live")  # raises: nothing registered
            self.sessions[key] = session
            self._by_request[request_id] = session
            session.tasks["renew"] = asyncio.create_task(self._renew(session))
        elif not session.viewers:
            self._command(session, "live")  # renewals paused while nobody watched
        _cancel(session, "linger")
        viewer = Viewer(session, user, self.timing)
        session.viewers.add(viewer)
        try:
            await self._first_part(session)
        except BaseException:
            self.leave(viewer)
            if session.init is None and not session.viewers:
                self._end(session, stop=True)  # the next viewer asks afresh
            raise
        assert session.init is not None
        viewer.offer(session.init)
        if session.latest is not None:
            viewer.offer(session.latest)
        viewer.joined = True  # no await since the wait: no part came in between
        return viewer

    def leave(self, viewer: Viewer) -> None:
        """``viewer`` stopped watching; with nobody left the session ends after ``grace_s``."""
        viewer.close()
        session = viewer.session
        session.viewers.discard(viewer)
        if not session.viewers and not session.over and "linger" not in session.tasks:
            session.tasks["linger"] = asyncio.create_task(self._linger(session))

    def info(self, key: Key) -> dict[str, Any]:
        """The session's counters (``session`` None when no one watches ``key``)."""
        session = self.sessions.get(key)
        if session is not None:
            return session.info()
        none = LiveSession(key, uuid4(), "", "").info()
        return {**none, "session": None}

    # -- uploads ---------------------------------------------------------------------------
    def find(self, request_id: UUID) -> LiveSession | None:
        return self._by_request.get(request_id)

    def deliver(
        self, request_id: UUID, site_id: str, part: Literal["init", "media"], seq: int,
        time: float, data: bytes,
    ) -> Delivered:  # fmt: skip
        """Take an ``init`` or ``media`` part of a session: ``over`` for an unknown or ended
        session (410), ``wrong_site`` for another site's (403). A media part at or below the
        last seq (a repeat) is ignored; an init part starts the count again."""
        session = self._by_request.get(request_id)
        if session is None or session.over:
            return "over"
        if session.key[0] != site_id:
            return "wrong_site"
        if part == "media" and seq <= session.seq:
            return "ok"
        session.seq = seq
        session.upstream_bytes += len(data)
        session.parts += 1
        session.last_part_at = clock.time()
        if part == "init":
            try:
                session.mime = mse_type(data)
            except CodecError as exc:  # the viewers get it; a player without the type may cope
                log.warning("live %s: the init part's codec: %s", session.key, exc)
                session.mime = None
            session.init = data
            session.changed.set()
            self._broadcast(session, data)
            return "ok"
        session.latest = data
        session.last_part_time = time
        if session.init is not None:
            self._broadcast(session, data)
        return "ok"

    def fail(self, request_id: UUID, site_id: str, code: str, detail: str) -> Delivered:
        """The edge's ``error`` part for a live session: its viewers' streams end, those
        waiting get the error; the session is over (the edge stopped already)."""
        session = self._by_request.get(request_id)
        if session is None or session.over:
            return "over"
        if session.key[0] != site_id:
            return "wrong_site"
        session.failure = faults.from_edge(session.key, code, detail)
        session.changed.set()
        self._end(session, stop=False)
        return "ok"

    async def close(self) -> None:
        """Stop every session (the app is shutting down)."""
        for session in list(self.sessions.values()):
            self._end(session, stop=True)

    # -- inside ----------------------------------------------------------------------------
    def _broadcast(self, session: LiveSession, data: bytes) -> None:
        for viewer in list(session.viewers):
            if viewer.joined and not viewer.offer(data):
                log.info("live %s: viewer %s fell behind: dropped", session.key, viewer.user)
                session.viewers.discard(viewer)
        if not session.viewers and "linger" not in session.tasks:
            session.tasks["linger"] = asyncio.create_task(self._linger(session))

    async def _first_part(self, session: LiveSession) -> None:
        deadline = asyncio.get_running_loop().time() + self.timing.first_part_s
        while session.init is None:
            if session.failure is not None:
                raise session.failure
            if session.over:
                raise faults.failed(session.key, "the live session ended before any video came")
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise faults.timeout(session.key, self.timing.first_part_s)
            session.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.changed.wait(), left)

    def _command(self, session: LiveSession, action: Literal["live", "stop"]) -> None:
        site_id, camera_id, stream = session.key
        now = datetime.now(UTC)
        self.send(
            m.VideoCommand(
                request_id=session.request_id, site_id=site_id, camera_id=camera_id,
                action=action, stream=stream,
                upload_url=session.upload_url,
                expires_at=now + timedelta(seconds=self.timing.expires_s),
                issued_by=session.issued_by, issued_at=now,
            )
        )  # fmt: skip

    async def _renew(self, session: LiveSession) -> None:
        while not session.over:
            await asyncio.sleep(self.timing.renew_s)
            if session.viewers and not session.over:
                try:
                    self._command(session, "live")
                except faults.ConsoleError as exc:
                    log.warning("live %s: renewal not sent: %s", session.key, exc)

    async def _linger(self, session: LiveSession) -> None:
        await asyncio.sleep(self.timing.grace_s)
        session.tasks.pop("linger", None)
        if not session.viewers:
            self._end(session, stop=True)

    def _end(self, session: LiveSession, *, stop: bool) -> None:
        if session.over:
            return
        session.over = True
        session.changed.set()
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]
        self._by_request.pop(session.request_id, None)
        for viewer in list(session.viewers):
            viewer.close()
        for name in list(session.tasks):
            _cancel(session, name)
        if stop:
            try:
                self._command(session, "stop")
            except faults.ConsoleError as exc:  # the edge stops at expires_at anyway
                log.info("live %s: stop not sent: %s", session.key, exc)


def _cancel(session: LiveSession, name: str) -> None:
    task = session.tasks.pop(name, None)
    if task is not None and task is not asyncio.current_task():
        task.cancel()
