"""Cameras added, edited and removed from the console: a CameraCommand to the site's edge,
sent, recorded and answered like a zone change (:func:`config_changes.dispatch`).

Stream URLs carry credentials: the console keeps and shows them only with the password
masked (:func:`sitewatch.contract.messages.masked_url`), in the camera's ``settings``, the
request's row and the audit log; a masked URL sent back unchanged keeps the edge's password.
The command itself carries what the operator typed, signed, to the edge only. A camera the
edge removed is forgotten (its row goes; its alerts stay) and what its edge still says about
it is ignored until a camera config newer than the removal shows it running again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import uuid4

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.config_changes import Sender, dispatch
from sitewatch.console.domain.errors import Conflict, Invalid
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Camera, ConfigRequest, Site
from sitewatch.contract import messages as m

CAMERA_COMMAND = "sitewatch.camera_command/1"
SPEC_FIELDS = (
    "name",
    "detect",
    "record",
    "detect_fps",
    "input_size",
    "head_look",
    "coarse_look",
    "tile_look",
)


def masked(spec: m.CameraSpec) -> dict[str, Any]:
    """``spec`` as JSON with the passwords of its URLs masked."""
    data = spec.model_dump(mode="json")
    for key in ("detect", "record"):
        if isinstance(data.get(key), str):
            data[key] = m.masked_url(data[key])
    return data


def camera_spec(current: dict[str, Any] | None, given: dict[str, Any]) -> m.CameraSpec:
    """The camera's settings after a change: ``current`` (as its edge reported them) with the
    fields ``given`` replaced; :class:`Invalid` says which field is wrong and why."""
    merged = {k: v for k, v in (current or {}).items() if k in SPEC_FIELDS}
    merged.update(given)
    try:
        return m.CameraSpec.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'camera'}: {e['msg']}" for e in exc.errors()
        )
        raise Invalid(
            f"expected valid camera settings, got: {problems}",
            code="config.invalid",
            params={"problems": problems},
        ) from None


def send_camera_command(
    s: Session,
    state: AppState,
    sender: Sender,
    site: Site,
    camera_id: str,
    action: Literal["add", "edit", "remove"],
    spec: m.CameraSpec | None,
    base_version: str,
) -> ConfigRequest:
    """Send one camera's add, edit or remove to the site's edge, against ``base_version``."""
    known = s.get(Camera, (site.id, camera_id)) is not None
    if action == "add" and known:
        raise Conflict(
            f"expected a new camera id, got {camera_id!r}: site {site.id!r} has that camera; "
            "edit it, or choose another id",
            code="config.camera_exists",
            params={"site": site.id, "camera": camera_id},
        )
    try:
        command = m.CameraCommand(
            request_id=uuid4(),
            site_id=site.id,
            action=action,
            camera_id=camera_id,
            camera=spec,
            base_version=base_version,
            issued_by=sender.user.username,
            issued_at=datetime.now(UTC),
        )
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise Invalid(
            f"expected a valid camera change, got: {problems}",
            code="config.invalid",
            params={"problems": problems},
        ) from None
    shown = masked(spec) if spec is not None else None
    payload = {**command.model_dump(mode="json", by_alias=True), "camera": shown}
    summary = f"{action} camera {camera_id}" + (f": {shown}" if shown else "")
    return dispatch(s, state, sender, command, summary, payload)


def removal(s: Session, site_id: str, camera_id: str) -> datetime | None:
    """When the edge answered that it removed the camera, if that is the camera's latest
    applied camera command; None otherwise."""
    row = s.scalar(
        select(ConfigRequest)
        .where(
            ConfigRequest.site_id == site_id,
            ConfigRequest.camera_id == camera_id,
            ConfigRequest.status == "applied",
        )
        .order_by(ConfigRequest.answered_at.desc())
        .limit(1)
    )
    if row is None or row.payload.get("schema") != CAMERA_COMMAND:
        return None
    return row.answered_at if row.payload.get("action") == "remove" else None


def forget_if_removed(s: Session, request: ConfigRequest) -> bool:
    """After ``request`` was answered: when it removed a camera, drop the camera's row (its
    alerts stay); True when a row went."""
    payload = request.payload
    if request.status != "applied" or payload.get("schema") != CAMERA_COMMAND:
        return False
    if payload.get("action") != "remove":
        return False
    camera = s.get(Camera, (request.site_id, request.camera_id))
    if camera is None:
        return False
    s.delete(camera)
    return True
