"""Live view (docs/design/live-video.md): the cameras one may watch, a camera's live stream
(fMP4 relayed by :mod:`sitewatch.console.video.hub`) and its counters, and the endpoint the
edges POST video to (checked and handed on by :mod:`sitewatch.console.video.upload`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from sitewatch.console.api.deps import DB, app_state, check_camera, client_address, require
from sitewatch.console.domain import audit
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User
from sitewatch.console.video import forward, services
from sitewatch.console.video.cameras import check_live, video_cameras
from sitewatch.console.video.hub import LiveHub, Viewer
from sitewatch.console.video.ranges import upload_url
from sitewatch.console.video.upload import receive_upload

UPLOAD_PREFIX = "/api/edge/video/"
"""Where the edges POST video; its body limit is ``video_upload_max_bytes`` (app.py)."""
router = APIRouter(tags=["video"])
State = Annotated[AppState, Depends(app_state)]
Watcher = Annotated[User, Depends(require("video.view"))]
Stream = Literal["detect", "record"]
LIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such camera (or stream) among the user's cameras"},
    502: {"description": "video.failed: the edge could not stream the camera"},
    503: {"description": "video.edge_offline, video.camera_offline, video.busy, video.broker_down"},
    504: {"description": "video.timeout: no video from the edge in 15 s"},
}


@router.post(
    UPLOAD_PREFIX + "{request_id}",
    status_code=204,
    responses={
        400: {"description": "a header missing or malformed"},
        401: {"description": "unsigned, wrongly signed, or sent too long ago: stop"},
        403: {"description": "the session is another site's: stop"},
        410: {"description": "the session is over (no viewer, stopped, unknown): stop"},
        413: {"description": "larger than video_upload_max_bytes"},
    },
)
async def edge_upload(request_id: UUID, request: Request, state: State) -> Response:
    """A part of a video session from an edge (no login: the edge key's signature over
    ``video_upload_text`` authenticates it). 204: go on. One for a session of another replica
    (``?replica=``) is passed on to it and answered as it answered (video/forward.py)."""
    url = await forward.owner(state, request.query_params, request.headers)
    if url is not None:
        target = f"{request.url.path}?{request.url.query}"
        got = await forward.relay(state, url, target, request.headers, request.stream())
        return Response(got.body, status_code=got.status, media_type=got.content_type)
    await receive_upload(state, request_id, request.headers, request.stream())
    return Response(status_code=204)


@router.get("/api/video/cameras")
def list_video_cameras(user: Watcher, s: DB) -> list[dict[str, Any]]:
    """The cameras the user may watch: state, edge state and since when (Unix s), streams,
    recorded ``{stream: {first, last}}``."""
    return video_cameras(s, user)


class LiveStream(StreamingResponse):
    """The viewer's parts as one ``video/mp4`` body; the viewer leaves however it ends."""

    def __init__(self, hub: LiveHub, viewer: Viewer, mime: str | None) -> None:
        headers = {"X-SiteWatch-Mime": mime or "video/mp4", "Cache-Control": "no-store"}
        super().__init__(viewer.parts(), media_type="video/mp4", headers=headers)
        self.hub, self.viewer = hub, viewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.leave(self.viewer)


@router.get(
    "/api/video/live/{site}/{camera}",
    response_class=StreamingResponse,
    responses={200: {"content": {"video/mp4": {}}}, **LIVE_ERRORS},
)
async def live(
    site: str, camera: str, request: Request, user: Watcher, state: State, stream: Stream = "detect"
) -> Response:
    """The camera's live video: the init part, the newest fragment, then every new one
    (``X-SiteWatch-Mime``: the type for MediaSource). Audited ``video.live``."""
    check_camera(user, site, camera)
    username = user.username
    await asyncio.to_thread(_check_live, state, site, camera, stream)
    hub = _hub(state)
    server = request.scope.get("server") or ("127.0.0.1", 8000)
    fallback = f"http://127.0.0.1:{server[1]}"
    viewer = await hub.watch(
        (site, camera, stream),
        user=username,
        upload_url=lambda rid: upload_url(state, rid, fallback),
    )
    session = viewer.session
    try:
        await asyncio.to_thread(
            _audit, state, username, site, camera, stream, str(session.request_id),
            client_address(request),
        )  # fmt: skip
    except BaseException:
        hub.leave(viewer)
        raise
    return LiveStream(hub, viewer, session.mime)


@router.get("/api/video/live/{site}/{camera}/info", responses={404: LIVE_ERRORS[404]})
async def live_info(
    site: str, camera: str, user: Watcher, state: State, stream: Stream = "detect"
) -> dict[str, Any]:
    """The live session's counters: ``{session, viewers, upstream_bytes, parts,
    last_part_time (edge clock), last_part_at (console clock), mime}``, Unix seconds."""
    check_camera(user, site, camera)
    return _hub(state).info((site, camera, stream))


def _hub(state: AppState) -> LiveHub:
    return services.hub(state)


def _check_live(state: AppState, site: str, camera: str, stream: str) -> None:
    with state.db.session() as s:
        check_live(s, site, camera, stream)


def _audit(
    state: AppState, username: str, site: str, camera: str, stream: str, session: str,
    client: str | None,
) -> None:  # fmt: skip
    with state.db.session() as s:
        audit.record(
            s, username, "video.live", "camera", f"{site}/{camera}", site_id=site,
            camera_id=camera, detail=f"live view of the {stream} stream (session {session})",
            client=client,
        )  # fmt: skip
        s.commit()
