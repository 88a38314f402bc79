"""Incidents as the API shows them: the filtered list's WHERE clauses (scoped to the user's sites
and cameras exactly like alerts), loading one a user may see, and the response bodies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from sitewatch.console.domain.errors import NotFound
from sitewatch.console.domain.incident_actions import incident_actions
from sitewatch.console.domain.incidents import incident_alerts, new_alert_counts
from sitewatch.console.domain.queries import (
    alert_outs,
    aware_param,
    evidence_url,
    site_filter,
    snapshot_names,
)
from sitewatch.console.permissions import allowed, can_see_camera, can_see_site
from sitewatch.console.schemas import IncidentOut, IncidentView
from sitewatch.console.store.models import Alert, Incident, User


def incident_filters(
    user: User,
    *,
    site: str | None = None,
    camera: str | None = None,
    rule: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for incidents of the user's sites and cameras matching the filters; times
    on ``last_at`` (an incident is in the range if its latest alert is: ``since <= t <
    until``); :class:`NotFound` for a site or camera outside the user's scope."""
    where: list[ColumnElement[bool]] = []
    scope = site_filter(Incident.site_id, user, Incident.camera_id)
    if scope is not None:
        where.append(scope)
    if site is not None:
        if not can_see_site(user, site):
            raise NotFound(f"no site {site!r}", code="scope.no_site", params={"site": site})
        where.append(Incident.site_id == site)
        if camera is not None and not can_see_camera(user, site, camera):
            raise NotFound(
                f"no camera {camera!r} at {site!r}",
                code="scope.no_camera",
                params={"site": site, "camera": camera},
            )
    if camera is not None:
        where.append(Incident.camera_id == camera)
    if rule is not None:
        where.append(Incident.rule == rule)
    if since is not None:
        where.append(Incident.last_at >= aware_param(since, "since"))
    if until is not None:
        where.append(Incident.last_at < aware_param(until, "until"))
    return where


def get_incident(s: Session, user: User, incident_id: str) -> Incident:
    """The incident, if it exists and is of one of the user's cameras; else :class:`NotFound`
    (the same answer either way)."""
    incident = s.get(Incident, incident_id)
    if incident is None or not can_see_camera(user, incident.site_id, incident.camera_id):
        raise NotFound(
            f"no incident {incident_id!r}",
            code="incident.not_found",
            params={"incident": incident_id},
        )
    return incident


def incident_outs(s: Session, incidents: Sequence[Incident]) -> list[IncidentOut]:
    """The incidents with their count of ``new`` alerts and the best alert's snapshot (else
    the first snapshot of any of their alerts)."""
    ids = [i.id for i in incidents]
    fresh = new_alert_counts(s, ids)
    shots = _snapshots(s, incidents)
    outs = []
    for incident in incidents:
        out = IncidentOut.model_validate(incident)
        out.new_alerts = fresh.get(incident.id, 0)
        if shot := shots.get(incident.id):
            out.snapshot_url, out.box, out.label = shot
        outs.append(out)
    return outs


def _snapshots(
    s: Session, incidents: Sequence[Incident]
) -> dict[str, tuple[str, list[float], str]]:
    """incident id → the snapshot's URL, its alert's box and label."""
    rows = s.execute(
        select(Alert.id, Alert.incident_id, Alert.box, Alert.label)
        .where(Alert.incident_id.in_([i.id for i in incidents]))
        .order_by(Alert.started_at, Alert.id)
    ).all()
    names = snapshot_names(s, [alert_id for alert_id, *_ in rows])
    best = {i.id: i.best_alert_id for i in incidents}
    shots: dict[str, tuple[str, list[float], str]] = {}
    for alert_id, incident_id, box, label in rows:
        name = names.get(alert_id)
        if name is None:
            continue
        if alert_id == best.get(str(incident_id)) or incident_id not in shots:
            shots[str(incident_id)] = (evidence_url(alert_id, name), list(box), label)
    return shots


def incident_view(s: Session, incident: Incident, user: User) -> IncidentView:
    """One incident with its alerts (oldest first) and the actions ``user`` may take on it."""
    [out] = incident_outs(s, [incident])
    may = allowed(user.role, "alerts.workflow")
    return IncidentView(
        **dict(out),
        alerts=alert_outs(s, incident_alerts(s, incident)),
        allowed_actions=incident_actions(s, incident) if may else [],
    )
