"""A camera's zones and rules, and changes to them sent to its edge; cameras added, edited
(name, streams, fps, input size) and removed the same way.

The edge decides: the change goes out through
:func:`sitewatch.console.domain.config_changes.send_change` (signed, against the version the
operator edited) and the edge applies it (a new version) or refuses it (with the reason). The
request's row follows that answer; the page polls ``/api/config-requests/{id}`` or listens for the
live ``config`` event. A camera that lost an applied change (its edge went back to an older
version) gets it back through ``.../config/resend``.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.orm import Session

from sitewatch.console.api.deps import (
    DB,
    app_state,
    check_camera,
    check_site,
    client_address,
    require,
)
from sitewatch.console.api.errors import refuse
from sitewatch.console.domain.camera_changes import SPEC_FIELDS, camera_spec, send_camera_command
from sitewatch.console.domain.config_changes import SENDING, Sender, pending_request, send_change
from sitewatch.console.domain.config_regress import resend_change
from sitewatch.console.permissions import Scope, can_see_camera
from sitewatch.console.schemas import (
    CameraAddIn,
    CameraConfigOut,
    CameraEditIn,
    ConfigChangeIn,
    ConfigRequestOut,
)
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Camera, ConfigRequest, Site, User
from sitewatch.contract import messages as m

router = APIRouter(tags=["config"])
State = Annotated[AppState, Depends(app_state)]
Reader = Annotated[User, Depends(require("cameras.read"))]
Writer = Annotated[User, Depends(require("config.write"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such camera or request among the user's sites"}
}


def _camera(s: Session, user: User, site_id: str, camera_id: str) -> Camera:
    check_camera(user, site_id, camera_id)
    camera = s.get(Camera, (site_id, camera_id))
    if camera is None:
        raise refuse(
            status.HTTP_404_NOT_FOUND,
            "config.no_camera",
            f"no camera {camera_id!r} at site {site_id!r}: it appears once its edge reports it",
            site=site_id,
            camera=camera_id,
        )
    return camera


@router.get("/api/cameras/{site_id}/{camera_id}/config", responses=NOT_FOUND)
def get_config(site_id: str, camera_id: str, user: Reader, s: DB) -> CameraConfigOut:
    """The zones and rules the edge last reported for the camera, and any unanswered change."""
    camera = _camera(s, user, site_id, camera_id)
    pending = pending_request(s, site_id, camera_id)
    return CameraConfigOut(
        site_id=site_id,
        camera_id=camera_id,
        version=camera.config_version,
        zones=[m.ZoneSpec.model_validate(zone) for zone in camera.zones or []],
        rules=camera.rules or {},
        pending=ConfigRequestOut.model_validate(pending) if pending else None,
    )


@router.post(
    "/api/cameras/{site_id}/{camera_id}/config",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, **SENDING},
)
def change_config(
    site_id: str,
    camera_id: str,
    body: ConfigChangeIn,
    request: Request,
    user: Writer,
    s: DB,
    state: State,
) -> ConfigRequestOut:
    """Send the camera's complete new zone list (and rule overrides) to its edge; the answer
    (applied with the new version, or refused with the reason) arrives later."""
    camera = _camera(s, user, site_id, camera_id)
    row = send_change(s, state, Sender(user, client_address(request)), camera, body)
    return ConfigRequestOut.model_validate(row)


@router.post(
    "/api/cameras/{site_id}/{camera_id}/config/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **NOT_FOUND,
        **SENDING,
        409: {"description": "the camera lost no applied change: nothing to re-send"},
    },
)
def resend_config(
    site_id: str, camera_id: str, request: Request, user: Writer, s: DB, state: State
) -> ConfigRequestOut:
    """Re-send the change a camera lost when its edge went back to an older config version
    (``config_regressed``): the last applied zones and rule overrides, against the version the
    edge runs now."""
    camera = _camera(s, user, site_id, camera_id)
    change, why = resend_change(s, camera)
    sender = Sender(user, client_address(request), action="config_resend", why=why)
    row = send_change(s, state, sender, camera, change)
    return ConfigRequestOut.model_validate(row)


def _site(s: Session, user: User, site_id: str) -> Site:
    """A site the user sees whole (a camera is added to the site, not to their cameras)."""
    check_site(user, site_id)
    site = s.get(Site, site_id)
    if site is None:
        raise refuse(
            status.HTTP_404_NOT_FOUND,
            "config.no_site",
            f"no site {site_id!r}: it appears once its edge reports",
            site=site_id,
        )
    if Scope.of(user).cameras is not None:
        raise refuse(
            status.HTTP_403_FORBIDDEN,
            "scope.whole_site_needed",
            f"expected a user of the whole site {site_id!r}, got one limited to some of its "
            "cameras: ask an admin of the site to add the camera",
            site=site_id,
        )
    return site


@router.post(
    "/api/sites/{site_id}/cameras",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, **SENDING, 409: {"description": "the site has that camera id"}},
)
def add_camera(
    site_id: str, body: CameraAddIn, request: Request, user: Writer, s: DB, state: State
) -> ConfigRequestOut:
    """Add a camera to the site's edge (no zones yet: draw them once it reports)."""
    site = _site(s, user, site_id)
    spec = camera_spec(None, body.model_dump(include=set(SPEC_FIELDS)))
    sender = Sender(user, client_address(request), action="camera_add")
    row = send_camera_command(
        s, state, sender, site, body.camera_id, "add", spec, body.base_version
    )
    return ConfigRequestOut.model_validate(row)


@router.patch(
    "/api/sites/{site_id}/cameras/{camera_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, **SENDING},
)
def edit_camera(
    site_id: str,
    camera_id: str,
    body: CameraEditIn,
    request: Request,
    user: Writer,
    s: DB,
    state: State,
) -> ConfigRequestOut:
    """Change a camera's name, streams, fps, input size or looks (the fields given; a URL whose
    password shows as *** keeps the edge's)."""
    camera = _camera(s, user, site_id, camera_id)
    given = body.model_dump(include=body.model_fields_set & set(SPEC_FIELDS))
    spec = camera_spec(camera.settings or {"name": camera.name}, given)
    site = s.get(Site, site_id)
    assert site is not None  # a camera's site row exists (ingest makes it first)
    sender = Sender(user, client_address(request), action="camera_edit")
    row = send_camera_command(s, state, sender, site, camera_id, "edit", spec, body.base_version)
    return ConfigRequestOut.model_validate(row)


@router.delete(
    "/api/sites/{site_id}/cameras/{camera_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, **SENDING},
)
def remove_camera(
    site_id: str,
    camera_id: str,
    base_version: Annotated[str, Query(min_length=1, max_length=64)],
    request: Request,
    user: Writer,
    s: DB,
    state: State,
) -> ConfigRequestOut:
    """Remove a camera from its edge (its zones and rules too; its alerts stay here)."""
    _camera(s, user, site_id, camera_id)
    site = s.get(Site, site_id)
    assert site is not None
    sender = Sender(user, client_address(request), action="camera_remove")
    row = send_camera_command(s, state, sender, site, camera_id, "remove", None, base_version)
    return ConfigRequestOut.model_validate(row)


@router.get("/api/config-requests/{request_id}", responses=NOT_FOUND)
def get_request(request_id: UUID, user: Reader, s: DB) -> ConfigRequestOut:
    """A config change and the edge's answer (pending, applied with its version, refused)."""
    row = s.get(ConfigRequest, str(request_id))
    if row is None or not can_see_camera(user, row.site_id, row.camera_id):
        raise refuse(
            status.HTTP_404_NOT_FOUND,
            "config.request_not_found",
            f"no config request {request_id}",
            request=request_id,
        )
    return ConfigRequestOut.model_validate(row)
