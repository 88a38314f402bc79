"""Taking one workflow step on an alert: the step (:mod:`sitewatch.console.workflow`), stored
only if nobody changed the alert meanwhile, with its action row and audit row.

No fastapi here: the workflow's own errors (:class:`~sitewatch.console.workflow.InvalidTransition`,
:class:`~sitewatch.console.workflow.WorkflowError`) and :mod:`sitewatch.console.domain.errors` are
mapped to HTTP in one place, ``create_app``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit, stats_rollup
from sitewatch.console.domain.errors import Conflict, Invalid
from sitewatch.console.permissions import allowed, can_see_camera
from sitewatch.console.store.models import Alert, AlertAction, User
from sitewatch.console.workflow import ActionName, Change, Workflow, step


def take_action(
    s: Session,
    user: User,
    alert: Alert,
    action: ActionName,
    *,
    note: str,
    assignee: str | None,
    client: str | None,
    now: datetime,
) -> Change:
    """Apply ``action`` to ``alert`` as ``user`` at ``now`` and commit it (the alert is
    refreshed); the step taken. Raises the workflow's errors for a step it does not allow,
    :class:`Invalid` for an assignee who may not take the alert, :class:`Conflict` when the
    alert changed while the user acted (two managers on one alert: one wins)."""
    try:
        change = record_step(
            s, user, alert, action, note=note, assignee=assignee, client=client, now=now
        )
    except Conflict:
        s.rollback()
        raise
    s.commit()
    s.refresh(alert)
    return change


def record_step(
    s: Session,
    user: User,
    alert: Alert,
    action: ActionName,
    *,
    note: str,
    assignee: str | None,
    client: str | None,
    now: datetime,
) -> Change:
    """:func:`take_action`'s step, its action row and audit row added to ``s`` but not
    committed (an incident's steps commit together: domain/incidents.py)."""
    change = step(
        Workflow(alert.state, alert.assignee, alert.acknowledged_at, alert.closed_at),
        action,
        username=user.username,
        at=now,
        note=note,
        assignee=assignee,
    )
    if action == "assign":
        _check_assignee(s, change.assignee or "", alert)
    done = s.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.state == change.from_state)
        .values(
            state=change.to_state,
            assignee=change.assignee,
            acknowledged_at=change.acknowledged_at,
            closed_at=change.closed_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"alert {alert.id} changed while you acted on it: reload it and try again",
            code="alert.changed",
            params={"alert": alert.id},
        )
    stats_rollup.alert_moved(s, alert, change.to_state, change.acknowledged_at)
    s.add(
        AlertAction(
            alert_id=alert.id,
            at=now,
            username=user.username,
            action=change.action,
            from_state=change.from_state,
            to_state=change.to_state,
            assignee=change.assignee if change.action == "assign" else None,
            note=change.note,
        )
    )
    detail = f"{change.from_state} -> {change.to_state}"
    if change.action == "assign":
        detail += f", assignee {change.assignee}"
    audit.record(
        s,
        user,
        change.action,
        "alert",
        alert.id,
        site_id=alert.site_id,
        camera_id=alert.camera_id,
        detail=detail,
        client=client,
        key="step_assign" if change.action == "assign" else "step",
        params={"from_state": change.from_state, "to_state": change.to_state}
        | ({"assignee": change.assignee} if change.action == "assign" else {}),
    )
    return change


def may_take(user: User, alert: Alert) -> bool:
    """Whether ``user`` may be assigned ``alert``: active, may work alerts, sees its camera."""
    return (
        user.active
        and allowed(user.role, "alerts.workflow")
        and can_see_camera(user, alert.site_id, alert.camera_id)
    )


def _check_assignee(s: Session, username: str, alert: Alert) -> None:
    assignee = s.scalar(select(User).where(User.username == username))
    if assignee is None or not may_take(assignee, alert):
        raise Invalid(
            f"cannot assign to {username!r}: expected the user name of an active console user "
            f"who may work alerts (manager or admin) and sees site {alert.site_id!r} and its "
            f"camera {alert.camera_id!r} "
            f"(GET /api/alerts/{alert.id}/assignees lists them)",
            code="alert.bad_assignee",
            params={"user": username},
        )
