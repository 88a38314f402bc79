"""Live events for the web console as Server-Sent Events.

    event: alert            (camera | site | config)
    data: {"id": "...", ...} (the AlertOut / CameraOut / SiteOut / ConfigRequestOut)

Only events of the user's sites and cameras (and kinds their role may read) are sent; a comment line
``: ping`` goes out every 15 s so proxies keep the stream open and a closed tab is noticed.

The stream ends by itself when uvicorn shuts down: uvicorn waits for open responses before
it stops, so a stream that never ended would hold Ctrl-C / SIGTERM forever.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from server.deps import app_state, current_user
from server.events import LiveEvent
from server.permissions import Capability, Scope, allowed
from server.queries import site_for_scope
from server.state import AppState

router = APIRouter(prefix="/api", tags=["events"])
PING_SECONDS: float = 15.0
POLL_SECONDS: float = 0.5  # how often a quiet stream checks for shutdown and disconnect
NEEDS: Final[dict[str, Capability]] = {
    "alert": "alerts.read",
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
    with state.db.session() as s:
        user = current_user(request, s)
        role, scope = user.role, Scope.of(user)

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
            quiet_since = loop.time()
            while not exiting():
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
