"""Incidents: alerts of one (site, camera, rule, zone) close together in time, as one unit of work.

Grouping (:func:`group_alert`, called by ingest for every stored alert message): a new alert
joins the open incident of its key whose alerts reach within the rule's window of its start
(:class:`Windows`), else the most recent such incident even if closed (it re-opens: state back
to ``new``, audited as user ``ingest``), else starts an incident. The counts, first and last
time and best alert are recomputed from the alerts each time (:func:`refresh`), so a message
delivered again never counts twice.

Actions on incidents: :mod:`sitewatch.console.domain.incident_actions`. Why the window's
default and the incident's own state: docs/design/incidents.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, Incident
from sitewatch.console.workflow import CLOSED_STATES

DEFAULT_WINDOW_S: Final[float] = Settings.model_fields["incident_window_s"].default
INGEST_USER: Final = "ingest"
Outcome = Literal["created", "joined", "reopened", "updated"]


@dataclass(frozen=True)
class Windows:
    """Seconds within which a new alert joins an incident: per rule name, else ``default_s``."""

    default_s: float = DEFAULT_WINDOW_S
    per_rule_s: Mapping[str, float] = field(default_factory=dict)

    def of(self, rule: str) -> timedelta:
        return timedelta(seconds=self.per_rule_s.get(rule, self.default_s))


@dataclass(frozen=True)
class Grouped:
    incident: Incident
    outcome: Outcome


def key_of(alert: Alert) -> tuple[str, str, str, str | None]:
    """(site, camera, rule, zone) of an alert; an empty zone id is no zone (None)."""
    return alert.site_id, alert.camera_id, alert.rule, alert.zone_id or None


def _key_of_incident(incident: Incident) -> tuple[str, str, str, str | None]:
    return incident.site_id, incident.camera_id, incident.rule, incident.zone_id


def incident_for(s: Session, alert: Alert) -> Incident | None:
    """The incident ``alert`` belongs to (None before ingest grouped it)."""
    return None if alert.incident_id is None else s.get(Incident, alert.incident_id)


def group_alert(s: Session, alert: Alert, windows: Windows, *, now: datetime) -> Grouped:
    """Put ``alert`` (flushed) in its incident, creating or re-opening one as needed, and
    bring the incident's counts up to date. Idempotent: an alert already grouped under its
    key only refreshes its incident."""
    current = incident_for(s, alert)
    if current is not None and _key_of_incident(current) == key_of(alert):
        refresh(s, current, now)
        return Grouped(current, "updated")
    if current is not None:  # a newer message changed the alert's rule or zone: regroup it
        alert.incident_id = None
        s.flush()
        if refresh(s, current, now) == 0:
            s.delete(current)
    site, camera, rule, zone = key_of(alert)
    window = windows.of(rule)
    candidates = s.scalars(
        select(Incident)
        .where(
            Incident.site_id == site,
            Incident.camera_id == camera,
            Incident.rule == rule,
            Incident.zone_id.is_(None) if zone is None else Incident.zone_id == zone,
            Incident.last_at >= alert.started_at - window,
            Incident.first_at <= alert.last_seen_at + window,
        )
        .order_by(Incident.last_at.desc(), Incident.id)
    ).all()
    open_ = [i for i in candidates if i.state not in CLOSED_STATES]
    outcome: Outcome = "joined"
    if open_:
        incident = open_[0]
    elif candidates:
        incident = candidates[0]
        _reopen(s, incident, alert, window, now)
        outcome = "reopened"
    else:
        incident = Incident(
            id=str(uuid.uuid4()), site_id=site, camera_id=camera, rule=rule, zone_id=zone,
            state="new", first_at=alert.started_at, last_at=alert.last_seen_at, alert_count=0,
            best_alert_id=alert.id, best_score=alert.score, reopen_count=0,
            created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(incident)
        s.flush()  # the row first: the alert's foreign key names it
        outcome = "created"
    alert.incident_id = incident.id
    s.flush()
    refresh(s, incident, now)
    return Grouped(incident, outcome)


def _reopen(s: Session, incident: Incident, alert: Alert, window: timedelta, now: datetime) -> None:
    """The violation came back within the window: the closed incident is open work again."""
    detail = (
        f"{incident.state} -> new: alert {alert.id} started within {window.total_seconds():g} s "
        f"of the incident's last alert"
    )
    params = {"from_state": incident.state, "to_state": "new", "alert": alert.id}
    params["seconds"] = f"{window.total_seconds():g}"
    incident.state, incident.assignee = "new", None
    incident.acknowledged_at, incident.closed_at = None, None
    incident.reopen_count += 1
    audit.record(
        s, INGEST_USER, "reopen", "incident", incident.id,
        site_id=incident.site_id, camera_id=incident.camera_id, detail=detail, at=now,
        key="incident_reopened", params=params,
    )  # fmt: skip


def refresh(s: Session, incident: Incident, now: datetime) -> int:
    """Recompute count, first and last time and best alert from the incident's alerts; the
    count. One statement: the best alert's row (highest score, then earliest, then id) with
    the counts and times over all of the incident's alerts as window aggregates."""
    best = s.execute(
        select(
            Alert.id,
            Alert.score,
            func.count().over().label("n"),
            func.min(Alert.started_at).over().label("first"),
            func.max(Alert.last_seen_at).over().label("last"),
        )
        .where(Alert.incident_id == incident.id)
        .order_by(Alert.score.desc(), Alert.started_at, Alert.id)
        .limit(1)
    ).first()
    count = 0 if best is None else int(best.n)
    if best is not None:
        incident.first_at, incident.last_at = best.first, best.last
        incident.best_alert_id, incident.best_score = best.id, best.score
    incident.alert_count = count
    incident.updated_at = now
    s.flush()
    return count


def incident_alerts(s: Session, incident: Incident) -> Sequence[Alert]:
    """The incident's alerts, oldest first."""
    return s.scalars(
        select(Alert).where(Alert.incident_id == incident.id).order_by(Alert.started_at, Alert.id)
    ).all()


def new_alert_counts(s: Session, incident_ids: Sequence[str]) -> dict[str, int]:
    """incident id → how many of its alerts are still ``new``."""
    if not incident_ids:
        return {}
    rows = s.execute(
        select(Alert.incident_id, func.count())
        .where(Alert.incident_id.in_(list(incident_ids)), Alert.state == "new")
        .group_by(Alert.incident_id)
    )
    return {str(i): int(n) for i, n in rows}
