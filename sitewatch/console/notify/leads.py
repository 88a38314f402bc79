"""Which alert speaks for an incident: its lead, the alert whose notices carry the incident's
escalation level.

Notices are ``alert_notices`` rows: level 1 to 3 on a lead alert, level 0 on an alert folded
into its incident's lead (noticed, nothing sent). The first alert of an incident routed while
the incident is ``new`` becomes its lead; an incident re-opened (audited ``reopen`` by ingest)
after its lead reached level 1 starts a new episode: the next alert routed leads it. An alert
in no incident (only while ingest groups it, or data older than incidents) leads itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from sitewatch.console.store.models import Alert, AlertNotice, AuditEntry, Incident


@dataclass(frozen=True)
class Lead:
    """``alert_id`` leads its incident since ``since`` (its level 1), now at ``level`` (since
    ``level_at``)."""

    alert_id: str
    since: datetime
    level: int
    level_at: datetime


def per_alert() -> Subquery:
    """Per alert with a notice of level 1 or more: its incident, ``since`` (first notice),
    ``level`` (the highest) and ``at`` (the latest notice)."""
    return (
        select(
            AlertNotice.alert_id.label("alert_id"),
            Alert.incident_id.label("incident_id"),
            func.min(AlertNotice.at).label("since"),
            func.max(AlertNotice.level).label("level"),
            func.max(AlertNotice.at).label("at"),
        )
        .join(Alert, Alert.id == AlertNotice.alert_id)
        .where(AlertNotice.level >= 1)
        .group_by(AlertNotice.alert_id, Alert.incident_id)
        .subquery()
    )


def reopened_at(s: Session, incident_id: str) -> datetime | None:
    """When ingest last re-opened the incident (its ``reopen`` audit row); None if never."""
    return s.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == "reopen",
            AuditEntry.object_type == "incident",
            AuditEntry.object_id == incident_id,
        )
    )


def current_lead(s: Session, incident: Incident) -> Lead | None:
    """The lead of the incident's current episode; None before one was routed, or when the
    incident re-opened after its last lead reached level 1."""
    top = per_alert()
    row = s.execute(
        select(top.c.alert_id, top.c.since, top.c.level, top.c.at)
        .where(top.c.incident_id == incident.id)
        .order_by(top.c.since.desc(), top.c.alert_id)
        .limit(1)
    ).first()
    if row is None:
        return None
    lead = Lead(str(row.alert_id), row.since, int(row.level), row.at)
    reopened = reopened_at(s, incident.id)
    return None if reopened is not None and reopened > lead.since else lead


def alert_lead(s: Session, alert_id: str) -> Lead | None:
    """The notices of an alert in no incident, as a lead; None if it has none."""
    row = s.execute(
        select(
            func.min(AlertNotice.at), func.max(AlertNotice.level), func.max(AlertNotice.at)
        ).where(AlertNotice.alert_id == alert_id, AlertNotice.level >= 1)
    ).one()
    return None if row[0] is None else Lead(alert_id, row[0], int(row[1]), row[2])
