"""Sites and cameras the user sees (their sites; only some cameras for a user limited to
them), with open alerts, and each camera's latest snapshot; a site's display name.

A camera of an edge that is offline is reported ``offline`` whatever it said last.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select

from sitewatch.console.api.blob_files import blob_response
from sitewatch.console.api.deps import (
    DB,
    app_state,
    check_camera,
    check_site,
    client_address,
    require,
)
from sitewatch.console.api.errors import CodedHTTPException, refuse
from sitewatch.console.domain.custody import snapshot_path
from sitewatch.console.domain.custody_blobs import snapshot_key
from sitewatch.console.domain.display_names import rename_site
from sitewatch.console.domain.live import live_site, site_out
from sitewatch.console.domain.queries import OPEN_STATES, camera_out_of, scoped, site_for_scope
from sitewatch.console.permissions import Scope
from sitewatch.console.schemas import CameraOut, SiteNameIn, SiteOut
from sitewatch.console.state import AppState
from sitewatch.console.store.blob_backends import evidence_blobs
from sitewatch.console.store.blobs import BlobError, BlobStore
from sitewatch.console.store.models import Alert, Camera, Site, User

router = APIRouter(prefix="/api", tags=["sites"])
State = Annotated[AppState, Depends(app_state)]


@router.get("/sites")
def list_sites(user: Annotated[User, Depends(require("alerts.read"))], s: DB) -> list[SiteOut]:
    """The user's sites, their edge's state and how many alerts are open."""
    sites = s.scalars(scoped(select(Site), Site.id, user).order_by(Site.id)).all()
    counts = dict(
        s.execute(
            scoped(
                select(Alert.site_id, func.count()).where(Alert.state.in_(OPEN_STATES)),
                Alert.site_id,
                user,
                Alert.camera_id,
            ).group_by(Alert.site_id)
        ).all()
    )
    scope = Scope.of(user)
    return [
        SiteOut.model_validate(
            {
                **site_for_scope(SiteOut.model_validate(site).model_dump(), scope),
                "open_alerts": counts.get(site.id, 0),  # counted over the user's cameras
            }
        )
        for site in sites
    ]


@router.patch(
    "/sites/{site_id}",
    responses={
        403: {"description": "the role may not change config, or sees only some cameras"},
        404: {"description": "no such site among the user's sites"},
    },
)
def rename(
    site_id: str,
    body: SiteNameIn,
    request: Request,
    user: Annotated[User, Depends(require("config.write"))],
    s: DB,
    state: State,
) -> SiteOut:
    """Set the site's display name (shown instead of its id; empty: the id again). Audited."""
    check_site(user, site_id)
    if Scope.of(user).cameras is not None:
        raise refuse(
            status.HTTP_403_FORBIDDEN,
            "scope.whole_site_needed",
            f"expected a user of the whole site {site_id!r}, got one limited to some of its "
            "cameras: ask an admin of the site to rename it",
            site=site_id,
        )
    site = rename_site(s, user, site_id, body.name, client_address(request))
    state.hub.publish(live_site(s, site))
    return site_out(s, site)


@router.get("/cameras")
def list_cameras(
    user: Annotated[User, Depends(require("cameras.read"))], s: DB, site: str | None = None
) -> list[CameraOut]:
    """Cameras of the user's sites (or of one site): state, fps, last snapshot, last alert."""
    stmt = scoped(select(Camera), Camera.site_id, user, Camera.camera_id)
    if site is not None:
        check_site(user, site)
        stmt = stmt.where(Camera.site_id == site)
    cameras = s.scalars(stmt.order_by(Camera.site_id, Camera.camera_id)).all()
    offline = set(s.scalars(select(Site.id).where(Site.edge_state == "offline")))
    last: dict[tuple[str, str], datetime] = {}
    open_: dict[tuple[str, str], int] = {}
    per_camera = scoped(
        select(
            Alert.site_id,
            Alert.camera_id,
            func.max(Alert.started_at),
            func.count().filter(Alert.state.in_(OPEN_STATES)),
        ),
        Alert.site_id,
        user,
        Alert.camera_id,
    ).group_by(Alert.site_id, Alert.camera_id)
    for site_id, camera_id, last_at, n_open in s.execute(per_camera):
        last[(site_id, camera_id)] = _aware(last_at)
        open_[(site_id, camera_id)] = n_open
    keys = [(c.site_id, c.camera_id) for c in cameras]
    return [
        camera_out_of(c, c.site_id in offline, last.get(k), open_.get(k, 0))
        for c, k in zip(cameras, keys, strict=True)
    ]


@router.get(
    "/cameras/{site}/{camera}/snapshot",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the latest snapshot"},
        404: {"description": "no such camera among the user's sites, or no snapshot yet"},
    },
)
def camera_snapshot(
    site: str,
    camera: str,
    request: Request,
    user: Annotated[User, Depends(require("cameras.read"))],
    s: DB,
    state: State,
) -> Response:
    """The camera's latest snapshot as the edge last sent it (JPEG)."""
    check_camera(user, site, camera)
    cam = s.get(Camera, (site, camera))
    if cam is None:
        raise refuse(
            status.HTTP_404_NOT_FOUND,
            "scope.no_camera",
            f"no camera {camera!r} at site {site!r}",
            site=site,
            camera=camera,
        )
    blobs = evidence_blobs(state.settings)
    if blobs is not None:  # not on the filesystem: streamed from the store
        return _snapshot_blob(request, blobs, snapshot_key(state.settings, cam), site, camera)
    path = snapshot_path(state.settings, cam)
    if path is None or not path.is_file():
        raise _no_snapshot(site, camera)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


def _snapshot_blob(
    request: Request, blobs: BlobStore, key: str | None, site: str, camera: str
) -> Response:
    try:
        size = blobs.size(key) if key is not None else None
    except BlobError:
        size = None
    if key is None or size is None:
        raise _no_snapshot(site, camera)
    return blob_response(
        request, blobs, key, size, media_type="image/jpeg", headers={"Cache-Control": "no-cache"}
    )


def _no_snapshot(site: str, camera: str) -> CodedHTTPException:
    return refuse(
        status.HTTP_404_NOT_FOUND,
        "snapshot.none",
        f"camera {site}/{camera} has sent no snapshot yet: the edge sends one when the "
        "camera comes online",
        camera=camera,
    )


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t
