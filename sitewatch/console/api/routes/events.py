"""Live events for the web console as Server-Sent Events.

Each event is named ``alert``, ``incident``, ``camera``, ``site`` or ``config``; its ``data`` is
the ``AlertOut`` / ``IncidentOut`` / ``CameraOut`` / ``SiteOut`` / ``ConfigRequestOut`` as JSON.
Only events of the user's sites and cameras (and kinds their role may read) are sent; a
``: ping`` comment goes out every :data:`PING_SECONDS`.

Invariant: a stream lives only as long as its session. Every :data:`SESSION_CHECK_SECONDS` it
looks the session up again; after a logout, expiry, disabling, a change of role, sites or
cameras, or a failed check (it fails closed) it sends ``event: end`` with ``{"reason": ...}``
and ends. It also ends when uvicorn shuts down. Why: docs/design/live-events.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from sitewatch.console.api.deps import app_state, current_user
from sitewatch.console.domain.queries import site_for_scope
from sitewatch.console.domain.security import SESSION_COOKIE, token_hash
from sitewatch.console.events import LiveEvent
from sitewatch.console.permissions import Capability, Scope, allowed
from sitewatch.console.state import AppState
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import User, WebSession

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["events"])
PING_SECONDS: float = 15.0
POLL_SECONDS: float = 0.5  # how often a quiet stream checks for shutdown and disconnect
SESSION_CHECK_SECONDS: float = 2.0  # how often a stream checks that its session still holds
NEEDS: Final[dict[str, Capability]] = {
    "alert": "alerts.read",
    "incident": "alerts.read",
    "camera": "cameras.read",
    "config": "cameras.read",
    "site": "alerts.read",
}


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def events(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> StreamingResponse:
    """Server-Sent Events of the user's sites: ``alert``, ``camera``, ``site``, ``config``."""
    # log in with a short session: a stream must not hold a database connection for hours
    session_key = token_hash(request.cookies.get(SESSION_COOKIE, ""))
    with state.db.session() as s:
        user = current_user(request, s)
        role, scope = user.role, Scope.of(user)
        access = _access(user)

    def visible(ev: LiveEvent) -> bool:
        need = NEEDS.get(ev.kind)
        if need is None or not allowed(role, need) or not scope.site(ev.site_id):
            return False
        if ev.kind == "site" or scope.cameras is None:
            return True
        camera_id = ev.data.get("camera_id")  # alerts, cameras and config requests name it
        return isinstance(camera_id, str) and scope.camera(ev.site_id, camera_id)

    queue = state.hub.subscribe()
    exiting = _server_exiting()

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        try:
            yield "retry: 3000\n: connected\n\n"
            quiet_since = checked_at = loop.time()
            while not exiting():
                if loop.time() - checked_at >= SESSION_CHECK_SECONDS:
                    checked_at = loop.time()
                    try:
                        ended = await asyncio.to_thread(_why_ended, state.db, session_key, access)
                    except SQLAlchemyError as exc:
                        log.warning("live stream ends: its session could not be checked: %s", exc)
                        ended = "session check failed"
                    if ended is not None:
                        yield f"event: end\ndata: {json.dumps({'reason': ended})}\n\n"
                        break
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=POLL_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    if loop.time() - quiet_since >= PING_SECONDS:
                        quiet_since = loop.time()
                        yield ": ping\n\n"
                    continue
                if visible(ev):
                    quiet_since = loop.time()
                    shown = site_for_scope(ev.data, scope) if ev.kind == "site" else ev.data
                    data = json.dumps(shown, separators=(",", ":"))
                    yield f"event: {ev.kind}\ndata: {data}\n\n"
        finally:
            state.hub.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _access(user: User) -> tuple[str, list[str], list[str] | None]:
    """What a stream was opened with: a change of any of it ends the stream."""
    return user.role, list(user.sites), None if user.cameras is None else list(user.cameras)


def _why_ended(db: Database, session_key: str, access: tuple[Any, ...]) -> str | None:
    """Why the session ``session_key`` (its token's hash) no longer carries a stream opened
    with ``access``; None while it does. One short database session (runs in a thread)."""
    with db.session() as s:
        ws = s.get(WebSession, session_key)
        if ws is None:
            return "session ended"  # logout, or ended by an admin's change
        if ws.expires_at <= datetime.now(UTC):
            return "session expired"
        user = s.get(User, ws.user_id)
        if user is None or not user.active:
            return "account disabled"
        if _access(user) != access:
            return "access changed"
    return None


def _server_exiting() -> Callable[[], bool]:
    """True once the uvicorn server running us was asked to stop.

    uvicorn installs its ``Server.handle_exit`` as the SIGINT/SIGTERM handler while it serves;
    its ``should_exit`` flag is set by the signal. Elsewhere (tests' in-process client, other
    servers) the stream ends when the client goes away.
    """
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    if server is None or not hasattr(server, "should_exit"):
        return lambda: False
    return lambda: bool(server.should_exit)
