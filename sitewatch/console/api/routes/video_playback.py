"""Recorded video: the timeline, playback windows and range exports (docs/design/live-video.md,
"Console API"). Times are Unix seconds.

Every route is scoped: a camera outside the user's sites and cameras answers 404 as if it did
not exist. Timeline, playback and the cached windows need ``video.view``; exports need
``evidence.export``, and so do legal holds (audited ``video.hold`` once the edge has put
one). Playback is audited ``video.playback`` once per user, camera and 10
minutes (a player asks for a window a minute); exports ``video.export`` every time, and each
download of an export's file ``download``. The work is in :mod:`sitewatch.console.video`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from sitewatch.console.api.deps import DB, app_state, check_camera, client_address, require
from sitewatch.console.api.errors import CodedHTTPException, refuse
from sitewatch.console.api.headers import CLIP_CSP
from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import EvidenceUnavailable
from sitewatch.console.domain.errors import NotFound
from sitewatch.console.domain.export import verified_video
from sitewatch.console.permissions import Scope, can_see_camera
from sitewatch.console.state import AppState
from sitewatch.console.store.models import AuditEntry, Camera, Site, User, VideoExport
from sitewatch.console.video import exports, faults, holds, recordings, services
from sitewatch.console.video.ranges import RangeRequests, cache_key, window_of
from sitewatch.contract.messages import VideoStream

router = APIRouter(prefix="/api/video", tags=["video"])
Viewer = Annotated[User, Depends(require("video.view"))]
Exporter = Annotated[User, Depends(require("evidence.export"))]
State = Annotated[AppState, Depends(app_state)]
Stream = Annotated[VideoStream, Query(description="Which of the camera's streams.")]
TIMELINE_MAX_S = 8 * 86400.0
PLAYBACK_AUDIT = timedelta(minutes=10)
MP4_HEADERS = {"Cache-Control": "private, no-store", "Content-Security-Policy": CLIP_CSP}


class ExportIn(BaseModel):
    """A range to keep as evidence (at most MAX_VIDEO_RANGE_S long)."""

    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(max_length=40)
    camera_id: str = Field(max_length=40)
    stream: VideoStream = "detect"
    start: float = Field(ge=0, le=1e11, description="Unix seconds")
    end: float = Field(ge=0, le=1e11, description="Unix seconds")
    alert_id: str | None = Field(None, max_length=36, description="Alert it is evidence of.")


class HoldIn(BaseModel):
    """A legal hold on a recorded range of a camera (every stream), at most MAX_HOLD_S long."""

    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(max_length=40)
    camera_id: str = Field(max_length=40)
    start: float = Field(ge=0, le=1e11, description="Unix seconds")
    end: float = Field(ge=0, le=1e11, description="Unix seconds")
    reason: str = Field(min_length=1, max_length=500, description="Who asked, case number.")


def _camera(s: DB, user: User, site: str, camera: str) -> Camera:
    """The camera, if in the user's scope and known; 404 otherwise."""
    check_camera(user, site, camera)
    row = s.get(Camera, (site, camera))
    if row is None:
        raise refuse(404, "scope.no_camera", f"no camera {camera!r} at site {site!r}",
                     site=site, camera=camera)  # fmt: skip
    return row


def _ranges(state: AppState) -> RangeRequests:
    return services.ranges(state)


@router.get(
    "/timeline/{site}/{camera}",
    responses={422: {"description": "invalid: 'to' not after 'from', or more than 8 days"}},
)
def timeline(
    site: str,
    camera: str,
    user: Viewer,
    s: DB,
    lo: Annotated[float | None, Query(alias="from", ge=0, le=1e11)] = None,
    hi: Annotated[float | None, Query(alias="to", ge=0, le=1e11)] = None,
    stream: Stream = "detect",
) -> dict[str, Any]:
    """Recorded spans clipped to [from, to] (default: the last 24 h), the camera's alerts and
    incidents in that time as markers, the stream's retention and the edge's state."""
    _camera(s, user, site, camera)
    hi = time.time() if hi is None else hi
    lo = hi - 86400.0 if lo is None else lo
    if not 0 < hi - lo <= TIMELINE_MAX_S:
        problem = f"expected 'to' after 'from' and at most {TIMELINE_MAX_S:g} s later"
        raise refuse(422, "video.range_invalid", problem, problem=problem)
    return {**recordings.timeline(s, site, camera, stream, lo, hi),
            "holds": holds.listed(s, site, camera, lo, hi)}  # fmt: skip


@router.post(
    "/holds",
    status_code=201,
    responses={
        404: {"description": "no such camera"},
        422: {"description": "invalid: a range not in (0, 8 days], or no reason"},
        503: {"description": "the edge or camera is offline, or the console has no broker"},
        504: {"description": "the edge did not answer in 15 s"},
    },
)
async def create_hold(
    body: HoldIn, request: Request, user: Exporter, s: DB, state: State
) -> dict[str, Any]:
    """Put a legal hold on a recorded range of a camera: its edge keeps every stream of it
    until the hold is released there. 201 once the edge confirmed it (audited ``video.hold``
    on the camera, listed in the camera's timeline)."""
    _camera(s, user, body.site_id, body.camera_id)
    edge = s.get(Site, body.site_id)
    if edge is not None and edge.edge_state == "offline":
        raise faults.edge_offline(body.site_id, edge.last_seen_at, "it cannot hold recordings")
    s.commit()  # no transaction held open while the edge answers
    held = await services.holds(state).put(
        body.site_id, body.camera_id, body.start, body.end, body.reason, user.username,
        fallback_url=str(request.base_url),
    )  # fmt: skip
    holds.record(s, user, body.site_id, body.camera_id, held, client_address(request))
    s.commit()
    return {"id": held.id, "start": held.start, "end": held.end, "reason": held.reason}


@router.get(
    "/playback/{site}/{camera}",
    responses={404: {"description": "not recorded"}, 502: {"description": "the cut failed"},
               503: {"description": "edge or camera offline, edge busy, no broker"},
               504: {"description": "no video in 20 s"}},
)  # fmt: skip
async def playback(
    site: str,
    camera: str,
    request: Request,
    user: Viewer,
    s: DB,
    state: State,
    at: Annotated[float, Query(ge=0, le=1e11, description="Unix seconds")],
    stream: Stream = "detect",
) -> dict[str, Any]:
    """Waits (at most 20 s) until the window holding ``at`` is cached, then its ``url`` (the
    MP4, served with range requests), ``start``/``end`` (its first and last frame) and the
    window's bounds."""
    _camera(s, user, site, camera)
    start, end = window_of(at)
    ranges = _ranges(state)
    if ranges.cached(cache_key(site, camera, stream, start), final=True) is None:
        _may_ask(s, site, camera, stream, start, end)
    _audit_playback(s, user, site, camera, client_address(request), at)
    s.commit()  # the audit row is written before the video is
    got = await ranges.fetch(
        site, camera, stream, start, end, "playback", user.username,
        fallback_url=str(request.base_url),
    )  # fmt: skip
    return {
        "url": f"/api/video/cache/{site}/{camera}/{stream}/{int(start)}.mp4",
        "start": got.start,
        "end": got.end,
        "window_start": start,
        "window_end": end,
    }


@router.get("/cache/{site}/{camera}/{stream}/{window}.mp4", response_class=FileResponse)
def cached_window(
    site: str, camera: str, stream: VideoStream, window: int, user: Viewer, s: DB, state: State
) -> FileResponse:
    """A cached playback window (``Range: bytes=a-b`` gets 206)."""
    _camera(s, user, site, camera)
    got = _ranges(state).cached(cache_key(site, camera, stream, float(window)))
    if got is None:
        raise refuse(404, "video.cache_gone", "that window is no longer cached: ask "
                     "/api/video/playback for it again")  # fmt: skip
    return FileResponse(got.path, media_type="video/mp4", headers=MP4_HEADERS)


@router.post(
    "/exports",
    status_code=202,
    responses={
        404: {"description": "no such camera, or its index holds nothing of the range"},
        422: {"description": "invalid: a range not in (0, 3600] s, or an alert of another camera"},
        503: {"description": "the edge is offline, or the console has no broker connection"},
    },
)
async def create_export(
    body: ExportIn, request: Request, user: Exporter, s: DB, state: State
) -> dict[str, Any]:
    """Keep a recorded range as evidence: 202 with the export's id; it becomes ready (or
    failed, with the reason) when the edge's upload is stored."""
    _camera(s, user, body.site_id, body.camera_id)
    _may_ask(s, body.site_id, body.camera_id, body.stream, body.start, body.end)
    row = exports.create(
        s, user, body.site_id, body.camera_id, body.stream,
        datetime.fromtimestamp(body.start, UTC), datetime.fromtimestamp(body.end, UTC),
        body.alert_id, client_address(request),
    )  # fmt: skip
    exports.start(state, _ranges(state), row.id, str(request.base_url))
    return {"id": row.id, "state": row.state}


@router.get("/exports")
def list_exports(
    user: Exporter,
    s: DB,
    state: State,
    alert_id: Annotated[str | None, Query(max_length=36)] = None,
) -> list[dict[str, Any]]:
    """The exports of an alert (or the latest 200 in scope), newest first."""
    exports.settle_stale(s, services.stale_before(state))
    query = select(VideoExport).order_by(VideoExport.requested_at.desc()).limit(200)
    if alert_id is not None:
        query = query.where(VideoExport.alert_id == alert_id)
    scope = Scope.of(user)
    sites = scope.sites if scope.cameras is None else frozenset(scope.cameras)
    if sites is not None:  # the user's sites in SQL, their cameras below
        query = query.where(VideoExport.site_id.in_(sites))
    rows = s.scalars(query).all()
    return [exports.view(r) for r in rows if can_see_camera(user, r.site_id, r.camera_id)]


@router.get("/exports/{export_id}")
def get_export(export_id: str, user: Exporter, s: DB, state: State) -> dict[str, Any]:
    """One export: pending, ready (SHA-256, size, url) or failed (error)."""
    exports.settle_stale(s, services.stale_before(state))
    return exports.view(_export(s, user, export_id))


@router.get("/exports/{export_id}/file", response_class=FileResponse)
def export_file(export_id: str, request: Request, user: Exporter, s: DB) -> FileResponse:
    """The export's MP4 once its bytes still match the listed SHA-256 (409 if changed)."""
    row = _export(s, user, export_id)
    if row.state != "ready":
        raise refuse(409, "video.export_not_ready", f"video export {export_id} is {row.state}",
                     export=export_id, state=row.state)  # fmt: skip
    try:
        path = verified_video(row)
    except EvidenceUnavailable as exc:
        raise CodedHTTPException(exc.status, exc.code, str(exc), exc.params) from None
    object_type, object_id = exports.subject(row)
    audit.record(
        s, user, "download", object_type, object_id, site_id=row.site_id,
        camera_id=row.camera_id, detail=f"video export {row.id} file, sha256 {row.sha256}",
        client=client_address(request),
    )  # fmt: skip
    s.commit()
    return FileResponse(path, media_type="video/mp4", filename=f"video-{row.id}.mp4",
                        content_disposition_type="attachment", headers=MP4_HEADERS)  # fmt: skip


def _export(s: DB, user: User, export_id: str) -> VideoExport:
    row = s.get(VideoExport, export_id)
    if row is None or not can_see_camera(user, row.site_id, row.camera_id):
        raise refuse(404, "video.export_not_found", f"no video export {export_id!r}",
                     export=export_id)  # fmt: skip
    return row


def _may_ask(s: DB, site: str, camera: str, stream: str, lo: float, hi: float) -> None:
    """Refuse at once what the edge cannot send: its edge offline (503), or a range its index
    says it does not hold (404)."""
    edge = s.get(Site, site)
    if edge is not None and edge.edge_state == "offline":
        raise faults.edge_offline(site, edge.last_seen_at, "it cannot send recorded video")
    if not recordings.may_hold(s, site, camera, stream, lo, hi):
        raise NotFound(
            f"camera {camera!r} at site {site!r} has no recording of that time ({stream} "
            "stream): see its timeline",
            code="video.not_recorded",
            params={"site": site, "camera": camera},
        )


def _audit_playback(
    s: DB, user: User, site: str, camera: str, client: str | None, at: float
) -> None:
    """``video.playback`` on the camera, unless this user has one from the last 10 minutes."""
    object_id = f"{site}/{camera}"
    earlier = s.scalar(
        select(AuditEntry.id).where(
            AuditEntry.username == user.username, AuditEntry.action == "video.playback",
            AuditEntry.object_type == "camera", AuditEntry.object_id == object_id,
            AuditEntry.at >= datetime.now(UTC) - PLAYBACK_AUDIT,
        ).limit(1)
    )  # fmt: skip
    if earlier is None:
        detail = f"played back from {datetime.fromtimestamp(at, UTC).isoformat()}"
        audit.record(s, user, "video.playback", "camera", object_id, site_id=site,
                     camera_id=camera, detail=detail, client=client)  # fmt: skip
