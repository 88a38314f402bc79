"""Sending a change of a camera's zones and rules to its edge: the one way a change goes out.

A change goes out as a ConfigCommand made against the version the operator edited, signed with
the console's key (the edge applies only commands that verify with the console's public key in
its config); the edge applies it (a new version) or refuses it (with the reason), and the
request's row follows that answer. The zone editor's route and "ignore this spot"
(:mod:`sitewatch.console.api.routes.alert_mask`) both send through :func:`send_change`. Refusals are
:mod:`sitewatch.console.domain.errors`; no fastapi here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import Invalid, Unavailable
from sitewatch.console.domain.live import live_config
from sitewatch.console.schemas import ConfigChangeIn
from sitewatch.console.state import AppState, IngestHandle
from sitewatch.console.store.models import Camera, ConfigRequest, User
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign

SENDING: dict[int | str, dict[str, Any]] = {
    422: {"description": "the change is not a valid config command"},
    503: {"description": "the console is not connected to the MQTT broker"},
}
"""What :func:`send_change` may answer besides 202 (for the routes' OpenAPI ``responses``)."""


@dataclass(frozen=True)
class Sender:
    """Who sends a change, and what the audit log says about it: ``action`` on ``subject``
    (``(object_type, object_id)``; default the camera), ``why`` before the change's summary."""

    user: User
    client: str | None
    action: str = "config_change"
    subject: tuple[str, str] | None = None
    why: str = ""


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


def send_change(
    s: Session, state: AppState, sender: Sender, camera: Camera, change: ConfigChangeIn
) -> ConfigRequest:
    """Send ``change`` to the camera's edge as a ConfigCommand and return the request's row:
    the row (pending) and its audit row are committed first, then the command goes out and the
    live ``config`` event is published. :class:`Unavailable` without a broker connection or
    signing key (nothing sent; a row whose send failed is marked refused), :class:`Invalid`
    for an invalid command."""
    site_id, camera_id, user = camera.site_id, camera.camera_id, sender.user
    _connected(state)
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
        raise Invalid(
            f"expected a valid change, got: {problems}",
            code="config.invalid",
            params={"problems": problems},
        ) from None
    summary = f"{len(command.zones)} zone(s) {[z.id for z in command.zones]}" + (
        f", rules {sorted(command.rules)}" if command.rules else ""
    )
    return dispatch(s, state, sender, command, summary)


def dispatch(
    s: Session,
    state: AppState,
    sender: Sender,
    command: m.Command,
    summary: str,
    payload: dict[str, Any] | None = None,
) -> ConfigRequest:
    """Sign ``command``, record it (the request's row, pending, and its audit row, both
    committed first), send it and publish the live ``config`` event; the row keeps
    ``payload`` (default: the signed command) and the audit row says ``summary``."""
    site_id, camera_id, user = command.site_id, command.camera_id, sender.user
    ingest = _connected(state)
    if state.signing_key is None:  # only an app whose start-up did not run
        raise Unavailable(
            "the console has no signing key loaded, and an edge applies only signed commands: "
            "nothing was sent; restart the console (it loads SITEWATCH_SIGNING_KEY_FILE)",
            code="config.no_signing_key",
        )
    command = sign(command, state.signing_key)
    row = ConfigRequest(
        request_id=str(command.request_id),
        site_id=site_id,
        camera_id=camera_id,
        issued_by=user.username,
        issued_at=command.issued_at,
        base_version=command.base_version,
        payload=payload if payload is not None else json.loads(m.encode(command)),
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
        f"{summary}",
        client=sender.client,
        key="config_request",
        params={"request": row.request_id, "base_version": command.base_version},
    )
    s.commit()  # the row exists before the edge can answer
    try:
        ingest.send_config(command)
    except RuntimeError as exc:
        row.status = "refused"
        row.reason = f"not sent: {exc}"
        s.commit()
        raise Unavailable(str(exc)) from None
    state.hub.publish(live_config(row))
    return row


def _connected(state: AppState) -> IngestHandle:
    """The console's ingest, connected to the broker; :class:`Unavailable` otherwise."""
    ingest = state.ingest
    if ingest is None or not ingest.connected:
        raise Unavailable(
            "the console is not connected to the MQTT broker, so the change cannot reach the "
            "edge: nothing was sent; try again when the broker is back",
            code="config.broker_down",
        )
    return ingest
