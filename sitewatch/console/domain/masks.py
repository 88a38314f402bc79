""" "Ignore this spot": turn a false positive into a mask zone in one step.

The alert's box (normalised 0..1 xyxy), grown by a margin and clamped to the frame, becomes a
4-corner ``mask`` zone appended to the camera's zones as its edge last reported them; the change
goes out against that version through :func:`sitewatch.console.domain.config_changes.send_change`,
the same path as the zone editor's, and the edge applies or refuses it. Detections whose anchor lies
in a mask trigger nothing (sitewatch/edge/analysis/zones.py). The alert's own workflow is left
alone: the change is recorded in the audit log (``config.mask_from_alert``), not as a workflow
action, since operators, who tune cameras, do not work alerts. No fastapi here: refusals are
:mod:`sitewatch.console.domain.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from sitewatch.console.domain.config_changes import Sender, pending_request, send_change
from sitewatch.console.domain.errors import Conflict
from sitewatch.console.schemas import ConfigChangeIn
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, Camera, ConfigRequest, User
from sitewatch.contract import messages as m


def mask_points(box: Sequence[float], margin: float) -> list[tuple[float, float]]:
    """The corners (clockwise from top-left) of ``box`` (xyxy, 0..1) grown by ``margin`` times
    its width and height on every side, clamped to the frame (6 decimals); ValueError
    if the box is not 4 numbers in 0..1 with x1 < x2 and y1 < y2."""
    if len(box) != 4 or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in box):
        raise ValueError(f"expected 4 numbers in 0..1 (x1, y1, x2, y2), got {list(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"expected x1 < x2 and y1 < y2 (a box with an area), got {list(box)}")
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    left, top = max(0.0, round(x1 - dx, 6)), max(0.0, round(y1 - dy, 6))
    right, bottom = min(1.0, round(x2 + dx, 6)), min(1.0, round(y2 + dy, 6))
    return [(left, top), (right, top), (right, bottom), (left, bottom)]


def mask_id(alert_id: str, taken: set[str]) -> str:
    """``mask-<first 8 characters of the alert id>``, with ``-2``, ``-3``... if already taken."""
    base = "mask-" + re.sub(r"[^a-z0-9]", "", alert_id.lower())[:8]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def mask_alert_spot(
    s: Session,
    state: AppState,
    user: User,
    client: str | None,
    alert: Alert,
    *,
    margin: float,
    name: str | None,
) -> ConfigRequest:
    """Append a ``mask`` zone covering ``alert``'s box (plus ``margin``) to its camera's
    reported zones and send the change; the request's row. :class:`Conflict` when the alert
    has no usable box, the edge has not reported the zones, or a change is still in flight;
    what :func:`send_change` refuses otherwise."""
    try:
        points = mask_points(alert.box, margin)
    except (TypeError, ValueError) as exc:
        raise Conflict(
            f"alert {alert.id} has no box to mask: {exc}; draw the mask in the zone editor "
            f"(#/zones/{alert.site_id}/{alert.camera_id}) instead",
            code="mask.no_box",
            params={"alert": alert.id},
        ) from None
    camera = _reported_camera(s, alert)
    zones = [m.ZoneSpec.model_validate(z) for z in camera.zones or []]
    mask = m.ZoneSpec(
        id=mask_id(alert.id, {z.id for z in zones}),
        name=name if name is not None else f"Ignored spot (alert {alert.id[:8]})",
        kind="mask",
        points=points,
    )
    change = ConfigChangeIn(base_version=camera.config_version or "", zones=[*zones, mask])
    sender = Sender(
        user,
        client,
        action="config.mask_from_alert",
        subject=("alert", alert.id),
        why=f"mask {mask.id} {[list(p) for p in points]} from alert {alert.id} (margin {margin}); ",
    )
    return send_change(s, state, sender, camera, change)


def _reported_camera(s: Session, alert: Alert) -> Camera:
    """The alert's camera with the zones its edge last reported and no change in flight."""
    where = f"camera {alert.camera_id!r} at site {alert.site_id!r}"
    camera = s.get(Camera, (alert.site_id, alert.camera_id))
    if camera is None or camera.config_version is None or camera.zones is None:
        raise Conflict(
            f"the edge has not reported the zones of {where} yet, so there is nothing to add "
            "the mask to: nothing was sent; try again once the edge is online and the zone "
            "editor shows the camera's config version",
            code="config.not_reported",
            params={"where": where},
        )
    pending = pending_request(s, alert.site_id, alert.camera_id)
    if pending is not None:
        raise Conflict(
            f"a change to the zones of {where} (request {pending.request_id}, sent by "
            f"{pending.issued_by}) is still waiting for the edge's answer: nothing was sent; "
            f"wait for the answer (GET /api/config-requests/{pending.request_id}) and try again",
            code="config.pending",
            params={"where": where},
        )
    return camera
