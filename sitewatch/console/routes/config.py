"""A camera's zones and rules, and changes to them sent to its edge.

The edge decides: a change goes out as a ConfigCommand made against the version the operator
edited, and the edge applies it (a new version) or refuses it (with the reason). The request's
row follows that answer; the page polls ``/api/config-requests/{id}`` or listens for the live
``config`` event. :func:`send_change` is the one way a change goes out (the zone editor's route
here, "ignore this spot" in :mod:`sitewatch.console.routes.alert_mask`), and every command it sends
is signed with the console's key (the edge applies only commands that verify with the console's
public key in its config).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console import audit
from sitewatch.console.deps import DB, app_state, check_camera, client_address, require
from sitewatch.console.ingest_live import live_config
from sitewatch.console.models import Camera, ConfigRequest, User
from sitewatch.console.permissions import can_see_camera
from sitewatch.console.schemas import CameraConfigOut, ConfigChangeIn, ConfigRequestOut
from sitewatch.console.state import AppState
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign

router = APIRouter(tags=["config"])
State = Annotated[AppState, Depends(app_state)]
Reader = Annotated[User, Depends(require("cameras.read"))]
Writer = Annotated[User, Depends(require("config.write"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such camera or request among the user's sites"}
}
SENDING: dict[int | str, dict[str, Any]] = {
    422: {"description": "the change is not a valid config command"},
    503: {"description": "the console is not connected to the MQTT broker"},
}
"""What :func:`send_change` may answer besides 202."""


def _camera(s: Session, user: User, site_id: str, camera_id: str) -> Camera:
    check_camera(user, site_id, camera_id)
    camera = s.get(Camera, (site_id, camera_id))
    if camera is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no camera {camera_id!r} at site {site_id!r}: it appears once its edge reports it",
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


def pending_request(s: Session, site_id: str, camera_id: str) -> ConfigRequest | None:
    """The camera's latest change the edge has not answered yet, if any."""
    return s.scalar(
        select(ConfigRequest)
        .where(
            ConfigRequest.site_id == site_id,
            ConfigRequest.camera_id == camera_id,
            ConfigRequest.status == "pending",
        )
        .order_by(ConfigRequest.issued_at.desc())
        .limit(1)
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
    return send_change(s, state, Sender(user, client_address(request)), camera, body)


@dataclass(frozen=True)
class Sender:
    """Who sends a change, and what the audit log says about it: ``action`` on ``subject``
    (``(object_type, object_id)``; default the camera), ``why`` before the change's summary."""

    user: User
    client: str | None
    action: str = "config_change"
    subject: tuple[str, str] | None = None
    why: str = ""


def send_change(
    s: Session, state: AppState, sender: Sender, camera: Camera, change: ConfigChangeIn
) -> ConfigRequestOut:
    """Send ``change`` to the camera's edge as a ConfigCommand: the request's row (pending)
    and its audit row are committed first, then the command goes out and the live ``config``
    event is published. 503 without a broker connection, 422 for an invalid command."""
    site_id, camera_id, user = camera.site_id, camera.camera_id, sender.user
    ingest = state.ingest
    if ingest is None or not ingest.connected:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the console is not connected to the MQTT broker, so the change cannot reach the "
            "edge: nothing was sent; try again when the broker is back",
        )
    try:
        command = m.ConfigCommand(
            request_id=uuid4(),
            site_id=site_id,
            camera_id=camera_id,
            base_version=change.base_version,
            issued_by=user.username,
            issued_at=datetime.now(UTC),
            zones=change.zones,
            rules=change.rules,
        )
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"expected a valid change, got: {problems}"
        ) from None
    if state.signing_key is None:  # only an app whose start-up did not run
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the console has no signing key loaded, and an edge applies only signed commands: "
            "nothing was sent; restart the console (it loads SITEWATCH_SIGNING_KEY_FILE)",
        )
    command = sign(command, state.signing_key)
    row = ConfigRequest(
        request_id=str(command.request_id),
        site_id=site_id,
        camera_id=camera_id,
        issued_by=user.username,
        issued_at=command.issued_at,
        base_version=command.base_version,
        payload=json.loads(m.encode(command)),
        status="pending",
    )
    s.add(row)
    object_type, object_id = sender.subject or ("camera", f"{site_id}/{camera_id}")
    audit.record(
        s,
        user,
        sender.action,
        object_type,
        object_id,
        site_id=site_id,
        camera_id=camera_id,
        detail=sender.why + f"request {row.request_id} against version {command.base_version}: "
        f"{len(command.zones)} zone(s) {[z.id for z in command.zones]}"
        + (f", rules {sorted(command.rules)}" if command.rules else ""),
        client=sender.client,
    )
    s.commit()  # the row exists before the edge can answer
    try:
        ingest.send_config(command)
    except RuntimeError as exc:
        row.status = "refused"
        row.reason = f"not sent: {exc}"
        s.commit()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    state.hub.publish(live_config(row))
    return ConfigRequestOut.model_validate(row)


@router.get("/api/config-requests/{request_id}", responses=NOT_FOUND)
def get_request(request_id: UUID, user: Reader, s: DB) -> ConfigRequestOut:
    """A config change and the edge's answer (pending, applied with its version, refused)."""
    row = s.get(ConfigRequest, str(request_id))
    if row is None or not can_see_camera(user, row.site_id, row.camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no config request {request_id}")
    return ConfigRequestOut.model_validate(row)
