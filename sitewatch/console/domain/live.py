"""The live events ingest publishes: rows as the API shows them (AlertOut, IncidentOut, CameraOut,
SiteOut, ConfigRequestOut).

Cameras of an offline edge are reported ``offline`` whatever their last status said.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.domain.incident_views import incident_outs
from sitewatch.console.domain.queries import OPEN_STATES, alert_out, camera_out_of, evidence_states
from sitewatch.console.events import LiveEvent
from sitewatch.console.schemas import CameraOut, ConfigRequestOut, EvidenceState, SiteOut
from sitewatch.console.store.models import Alert, Camera, ConfigRequest, Evidence, Incident, Site


def _open_alerts(s: Session, site_id: str, camera_id: str | None = None) -> int:
    query = select(func.count()).where(Alert.site_id == site_id, Alert.state.in_(OPEN_STATES))
    if camera_id is not None:
        query = query.where(Alert.camera_id == camera_id)
    return int(s.scalar(query) or 0)


def camera_out(s: Session, camera: Camera, site: Site | None = None) -> CameraOut:
    """The camera as the API shows it, with its latest alert's start and its open alerts
    (one statement of two subqueries, each using its own index)."""
    site = site or s.get(Site, camera.site_id)
    ours = (Alert.site_id == camera.site_id, Alert.camera_id == camera.camera_id)
    last = select(func.max(Alert.started_at)).where(*ours).scalar_subquery()
    open_ = select(func.count()).where(*ours, Alert.state.in_(OPEN_STATES)).scalar_subquery()
    last_alert, open_alerts = s.execute(select(last, open_)).one()
    return camera_out_of(
        camera, site is not None and site.edge_state == "offline", last_alert, int(open_alerts)
    )


def site_out(s: Session, site: Site) -> SiteOut:
    out = SiteOut.model_validate(site)
    out.open_alerts = _open_alerts(s, site.id)
    return out


def live_alert(s: Session, alert: Alert, rows: Iterable[Evidence] | None = None) -> LiveEvent:
    """An alert stored or changed, or a file of it arrived (kind ``alert``): its AlertOut,
    whose ``evidence_files`` say which files have arrived, so each event of an alert differs
    from the one before (an identical body again is a repeat). ``rows``: all of the alert's
    evidence rows, flushed, when the caller holds them (else they are read)."""
    if rows is None:
        files = evidence_states(s, [alert.id]).get(alert.id, [])
    else:  # as evidence_states: in listing order
        ordered = sorted(rows, key=lambda row: row.id)
        files = [EvidenceState(name=r.name, kind=r.kind, status=r.status) for r in ordered]
    out = alert_out(alert, files)
    return LiveEvent("alert", alert.site_id, out.model_dump(mode="json"))


def live_incident(s: Session, incident: Incident) -> LiveEvent:
    """An incident created or changed (kind ``incident``): its IncidentOut."""
    [out] = incident_outs(s, [incident])
    return LiveEvent("incident", incident.site_id, out.model_dump(mode="json"))


def live_camera(s: Session, camera: Camera, site: Site | None = None) -> LiveEvent:
    return LiveEvent("camera", camera.site_id, camera_out(s, camera, site).model_dump(mode="json"))


def live_site(s: Session, site: Site) -> LiveEvent:
    return LiveEvent("site", site.id, site_out(s, site).model_dump(mode="json"))


def live_config(request: ConfigRequest) -> LiveEvent:
    out = ConfigRequestOut.model_validate(request)
    return LiveEvent("config", request.site_id, out.model_dump(mode="json"))
