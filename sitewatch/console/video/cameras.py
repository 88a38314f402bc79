"""The cameras a user may watch, as the live page lists them, and the checks before a live
view (docs/design/live-video.md, "Console API"). Times are Unix seconds."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.errors import NotFound, Unavailable
from sitewatch.console.domain.queries import scoped
from sitewatch.console.store.models import Camera, RecordingIndexRow, Site, User
from sitewatch.console.video import faults
from sitewatch.console.video.recordings import edge_state, recorded_until


def streams_of(camera: Camera) -> list[str]:
    """``detect``, and ``record`` when the camera has a separate main stream."""
    settings = camera.settings or {}
    return ["detect", "record"] if settings.get("record") else ["detect"]


def video_cameras(s: Session, user: User) -> list[dict[str, Any]]:
    """Every camera in the user's scope with its state, its edge's state and since when, its
    streams and, per recorded stream, the first and last recorded moment (the last one grown
    as :func:`~sitewatch.console.video.recordings.recorded_until` says)."""
    cameras = s.scalars(
        scoped(select(Camera), Camera.site_id, user, Camera.camera_id).order_by(
            Camera.site_id, Camera.camera_id
        )
    ).all()
    sites = {site.id: site for site in s.scalars(select(Site))}
    by_key = {(cam.site_id, cam.camera_id): cam for cam in cameras}
    recorded: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    now = time.time()
    for row in s.scalars(scoped(select(RecordingIndexRow), RecordingIndexRow.site_id, user)):
        key = (row.site_id, row.camera_id)
        last = recorded_until(row, by_key.get(key), sites.get(row.site_id), now)
        if last is not None:
            recorded.setdefault(key, {})[row.stream] = {"first": row.spans[0][0], "last": last}
    out = []
    for cam in cameras:
        site = sites.get(cam.site_id)
        edge = edge_state(s, cam.site_id)
        out.append(
            {
                "site_id": cam.site_id,
                "site_name": (site.name if site else "") or cam.site_id,
                "camera_id": cam.camera_id,
                "name": cam.name or cam.camera_id,
                "state": "offline" if edge["state"] == "offline" else cam.state,
                "error": cam.error,
                "edge_state": edge["state"],
                "edge_since": edge["since"],
                "streams": streams_of(cam),
                "recorded": recorded.get((cam.site_id, cam.camera_id), {}),
            }
        )
    return out


def check_live(s: Session, site_id: str, camera_id: str, stream: str) -> None:
    """Refuse a live view the console knows cannot work: no such camera or stream (404), the
    edge offline (503 ``video.edge_offline``, since its last message) or the camera offline
    (503 ``video.camera_offline``, with the camera's error)."""
    camera = s.get(Camera, (site_id, camera_id))
    if camera is None:
        raise NotFound(
            f"no camera {camera_id!r} at site {site_id!r}",
            code="scope.no_camera",
            params={"site": site_id, "camera": camera_id},
        )
    if stream not in streams_of(camera):
        raise NotFound(
            f"camera {camera_id!r} has no separate {stream!r} stream: watch 'detect'",
            code="scope.no_camera",
            params={"site": site_id, "camera": camera_id},
        )
    site = s.get(Site, site_id)
    if site is not None and site.edge_state == "offline":
        raise faults.edge_offline(site_id, site.last_seen_at, "the console has not heard from it")
    if camera.state == "offline":
        error = camera.error or "the edge reports it offline"
        raise Unavailable(
            f"camera {camera_id!r} at site {site_id!r} is offline: {error}",
            code="video.camera_offline",
            params={"site": site_id, "camera": camera_id, "error": error},
        )
