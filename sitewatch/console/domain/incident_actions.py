"""Actions on an incident: the workflow step (workflow.py) on every alert of the incident that
allows it, each with its own action and audit row, and on the incident itself when its state
allows it; all of one incident commit together or not at all. An alert joining an incident
someone already acknowledged stays ``new`` (``new_alerts`` counts them) until an action covers
it: nobody acknowledged it. Why: docs/design/incidents.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.alert_actions import record_step
from sitewatch.console.domain.errors import Conflict, ConsoleError
from sitewatch.console.domain.incidents import incident_alerts
from sitewatch.console.domain.stats_rollup import incident_moved
from sitewatch.console.store.models import Alert, Incident, User
from sitewatch.console.workflow import (
    ActionName,
    InvalidTransition,
    Workflow,
    WorkflowError,
    allowed_actions,
    step,
)

INCIDENT_ACTIONS: Final[tuple[ActionName, ...]] = (
    "acknowledge",
    "assign",
    "resolve",
    "false_positive",
)


def incident_actions(s: Session, incident: Incident) -> list[ActionName]:
    """The incident actions that would change something now: allowed from the incident's
    state or from the state of one of its alerts."""
    states = {incident.state, *(a.state for a in incident_alerts(s, incident))}
    return [a for a in INCIDENT_ACTIONS if any(a in allowed_actions(st) for st in states)]


def act_on_incident(
    s: Session,
    user: User,
    incident: Incident,
    action: ActionName,
    *,
    note: str,
    assignee: str | None,
    client: str | None,
    now: datetime,
) -> list[Alert]:
    """Apply ``action`` to every alert of ``incident`` that allows it (each audited) and to the
    incident when its state allows it; commit all or nothing. The alerts stepped (refreshed).
    Raises the workflow's errors when no part allows it, :class:`Conflict` when an alert or
    the incident changed meanwhile, and what :func:`record_step` raises."""
    if action not in INCIDENT_ACTIONS:
        raise WorkflowError(
            f"expected one of {', '.join(INCIDENT_ACTIONS)} on an incident, got {action!r}: "
            "act on its alerts one by one for other steps"
        )
    try:
        targets = [a for a in incident_alerts(s, incident) if action in allowed_actions(a.state)]
        own = action in allowed_actions(incident.state)
        if not targets and not own:
            raise InvalidTransition(incident.state, action)
        for alert in targets:
            record_step(
                s, user, alert, action, note=note, assignee=assignee, client=client, now=now
            )
        if own:
            _step_incident(s, user, incident, action, note, assignee, client, now, len(targets))
        s.commit()
    except Exception:
        s.rollback()
        raise
    for alert in targets:
        s.refresh(alert)
    s.refresh(incident)
    return targets


def _step_incident(
    s: Session,
    user: User,
    incident: Incident,
    action: ActionName,
    note: str,
    assignee: str | None,
    client: str | None,
    now: datetime,
    stepped: int,
) -> None:
    current = Workflow(
        incident.state, incident.assignee, incident.acknowledged_at, incident.closed_at
    )
    change = step(current, action, username=user.username, at=now, note=note, assignee=assignee)
    done = s.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.state == change.from_state)
        .values(
            state=change.to_state,
            assignee=change.assignee,
            updated_at=now,
            acknowledged_at=change.acknowledged_at,
            closed_at=change.closed_at,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"incident {incident.id} changed while you acted on it: reload it and try again",
            code="incident.changed",
            params={"incident": incident.id},
        )
    incident_moved(s, incident, change.to_state)
    detail = f"{change.from_state} -> {change.to_state}, {stepped} alert(s)"
    if action == "assign":
        detail += f", assignee {change.assignee}"
    audit.record(
        s, user, action, "incident", incident.id, site_id=incident.site_id,
        camera_id=incident.camera_id, detail=detail, client=client, at=now,
        key="incident_step_assign" if action == "assign" else "incident_step",
        params={"from_state": change.from_state, "to_state": change.to_state,
                "alerts": stepped, "assignee": change.assignee or ""},
    )  # fmt: skip


def error_status(exc: Exception) -> int:
    """The HTTP status a single request would get for ``exc`` (as ``create_app`` maps it)."""
    if isinstance(exc, ConsoleError):
        return exc.status
    return 409 if isinstance(exc, InvalidTransition) else 422
