"""Prometheus metrics at ``/metrics`` for the people who run the console: ingest, open alerts,
camera states and each edge's health. Off unless ``SITEWATCH_METRICS_TOKEN`` is set; the
scraper sends it as ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from sitewatch.console.api.deps import DB, app_state
from sitewatch.console.domain.queries import OPEN_STATES
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, Camera, Site

router = APIRouter(tags=["metrics"])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={401: {"description": "wrong or missing token"}, 404: {"description": "off"}},
)
def metrics(
    request: Request, s: DB, state: Annotated[AppState, Depends(app_state)]
) -> PlainTextResponse:
    """Prometheus text format (version 0.0.4)."""
    token = state.settings.metrics_token
    if token is None:
        raise HTTPException(404, "metrics are off: set SITEWATCH_METRICS_TOKEN to turn them on")
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise HTTPException(401, "send Authorization: Bearer <SITEWATCH_METRICS_TOKEN>")
    ingest = state.ingest
    out = [
        "# HELP sitewatch_ingest_connected Whether MQTT ingest is connected to the broker.",
        "# TYPE sitewatch_ingest_connected gauge",
        f"sitewatch_ingest_connected {int(bool(ingest and ingest.connected))}",
        "# HELP sitewatch_ingest_messages_total Messages taken by ingest, by outcome "
        "(dropped: QoS 0 messages beyond the ingest queue's bound).",
        "# TYPE sitewatch_ingest_messages_total counter",
        f'sitewatch_ingest_messages_total{{outcome="received"}} {ingest.received if ingest else 0}',
        f'sitewatch_ingest_messages_total{{outcome="rejected"}} {ingest.rejected if ingest else 0}',
        f'sitewatch_ingest_messages_total{{outcome="dropped"}} {ingest.dropped if ingest else 0}',
        "# HELP sitewatch_ingest_evidence_evicted_total Evidence files waiting for their alert "
        "that were deleted, oldest first, for their site's quota.",
        "# TYPE sitewatch_ingest_evidence_evicted_total counter",
        f"sitewatch_ingest_evidence_evicted_total {ingest.evidence_evicted if ingest else 0}",
        "# HELP sitewatch_alerts_open Alerts not yet resolved or marked false positive.",
        "# TYPE sitewatch_alerts_open gauge",
    ]
    open_counts = s.execute(
        select(Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(Alert.state.in_(OPEN_STATES))
        .group_by(Alert.site_id, Alert.camera_id, Alert.rule)
        .order_by(Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    for site, camera, rule, n in open_counts:
        out.append(
            f'sitewatch_alerts_open{{site="{_label(site)}",camera="{_label(camera)}",'
            f'rule="{_label(rule)}"}} {n}'
        )
    sites = s.scalars(select(Site).order_by(Site.id)).all()
    offline = {site.id for site in sites if site.edge_state == "offline"}
    out += [
        "# HELP sitewatch_camera_up 1 if the camera's stream is online (its edge too).",
        "# TYPE sitewatch_camera_up gauge",
    ]
    for cam in s.scalars(select(Camera).order_by(Camera.site_id, Camera.camera_id)):
        up = int(cam.state == "online" and cam.site_id not in offline)
        out.append(
            f'sitewatch_camera_up{{site="{_label(cam.site_id)}",'
            f'camera="{_label(cam.camera_id)}"}} {up}'
        )
    out += [
        "# HELP sitewatch_edge_up 1 if the site's edge worker is online.",
        "# TYPE sitewatch_edge_up gauge",
    ]
    out += [
        f'sitewatch_edge_up{{site="{_label(x.id)}"}} {int(x.edge_state == "online")}' for x in sites
    ]
    for name, key, what in (
        ("disk_hours_left", "disk_hours_left", "Hours of recording the edge's free disk holds."),
        ("outbox_depth", "outbox_depth", "Messages waiting in the edge's outbox."),
    ):
        out += [f"# HELP sitewatch_edge_{name} {what}", f"# TYPE sitewatch_edge_{name} gauge"]
        for x in sites:
            value = (x.stats or {}).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(f'sitewatch_edge_{name}{{site="{_label(x.id)}"}} {value}')
    return PlainTextResponse("\n".join(out) + "\n", media_type="text/plain; version=0.0.4")
