"""Alerts: the filtered list (open ones, oldest first, by default), one alert in detail, and
the workflow actions (acknowledge, assign, resolve, false positive, reopen, note)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy import func, select, update

from sitewatch.console import audit
from sitewatch.console.deps import DB, app_state, client_address, require
from sitewatch.console.events import LiveEvent
from sitewatch.console.models import Alert, AlertAction, User
from sitewatch.console.permissions import allowed, can_see_camera
from sitewatch.console.queries import (
    OPEN_STATES,
    alert_detail,
    alert_filters,
    alert_outs,
    get_alert,
)
from sitewatch.console.schemas import (
    ActionIn,
    AlertDetail,
    AlertPage,
    AlertState,
    AlertView,
    AssigneeOut,
)
from sitewatch.console.state import AppState
from sitewatch.console.workflow import (
    InvalidTransition,
    Workflow,
    WorkflowError,
    allowed_actions,
    step,
)
from sitewatch.contract.messages import RuleName

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Reader = Annotated[User, Depends(require("alerts.read"))]
Actor = Annotated[User, Depends(require("alerts.workflow"))]
State = Annotated[AppState, Depends(app_state)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such alert among the user's sites"}
}


@router.get("")
def list_alerts(
    user: Reader,
    s: DB,
    site: str | None = None,
    camera: str | None = None,
    rule: RuleName | None = None,
    state: Annotated[
        list[AlertState] | None, Query(description="Repeatable; default: the open states.")
    ] = None,
    since: Annotated[datetime | None, Query(description="started_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="started_at < until")] = None,
    order: Literal["oldest", "newest"] = "oldest",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Alerts of the user's sites; by default the open ones (new, acknowledged, assigned),
    oldest first — the order a manager works them in."""
    where = alert_filters(user, site=site, camera=camera, rule=rule, since=since, until=until)
    where.append(Alert.state.in_(list(state or OPEN_STATES)))
    total = s.scalar(select(func.count()).select_from(Alert).where(*where))
    by = Alert.started_at.asc() if order == "oldest" else Alert.started_at.desc()
    rows = s.scalars(
        select(Alert).where(*where).order_by(by, Alert.id).limit(limit).offset(offset)
    ).all()
    return AlertPage(items=alert_outs(s, rows), total=total or 0)


@router.get("/{alert_id}", responses=NOT_FOUND)
def get_one(alert_id: str, user: Reader, s: DB) -> AlertView:
    """The alert with its track's timeline, the workflow actions taken and those the user may
    take, and the evidence files."""
    return _view(alert_detail(s, get_alert(s, user, alert_id)), user)


@router.get("/{alert_id}/assignees", responses=NOT_FOUND)
def assignees(alert_id: str, user: Actor, s: DB) -> list[AssigneeOut]:
    """Who the alert can be assigned to: active users who may work alerts and see its site
    and camera, by user name."""
    alert = get_alert(s, user, alert_id)
    users = s.scalars(select(User).where(User.active).order_by(User.username))
    return [AssigneeOut.model_validate(u) for u in users if _may_take(u, alert)]


@router.post(
    "/{alert_id}/actions",
    responses={
        **NOT_FOUND,
        409: {"description": "not allowed from the alert's state; says which actions are"},
        422: {"description": "missing assignee or note"},
    },
)
def act(
    alert_id: str, body: ActionIn, request: Request, user: Actor, s: DB, state: State
) -> AlertView:
    """One workflow step; records who, when and the note."""
    alert = get_alert(s, user, alert_id)
    now = datetime.now(UTC)
    try:
        change = step(
            Workflow(alert.state, alert.assignee, alert.acknowledged_at, alert.closed_at),
            body.action,
            username=user.username,
            at=now,
            note=body.note,
            assignee=body.assignee,
        )
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if body.action == "assign":
        _check_assignee(s, change.assignee or "", alert)
    # only if nobody changed the state meanwhile (two managers on one alert: one wins)
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
        s.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"alert {alert_id} changed while you acted on it: reload it and try again",
        )
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
        client=client_address(request),
    )
    s.commit()
    s.refresh(alert)
    out = alert_detail(s, alert)
    state.hub.publish(
        LiveEvent("alert", alert.site_id, out.model_dump(mode="json", exclude=_DETAIL_ONLY))
    )
    return _view(out, user)


_DETAIL_ONLY = {"timeline", "actions", "evidence"}


def _view(detail: AlertDetail, user: User) -> AlertView:
    """``detail`` with the actions ``user`` may take: the workflow's from its state, if the
    user's role may work alerts at all."""
    may = allowed(user.role, "alerts.workflow")
    return AlertView(
        **dict(detail), allowed_actions=list(allowed_actions(detail.state)) if may else []
    )


def _may_take(user: User, alert: Alert) -> bool:
    return (
        user.active
        and allowed(user.role, "alerts.workflow")
        and can_see_camera(user, alert.site_id, alert.camera_id)
    )


def _check_assignee(s: DB, username: str, alert: Alert) -> None:
    assignee = s.scalar(select(User).where(User.username == username))
    if (
        assignee is None
        or not assignee.active
        or not allowed(assignee.role, "alerts.workflow")
        or not can_see_camera(assignee, alert.site_id, alert.camera_id)
    ):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"cannot assign to {username!r}: expected the user name of an active console user "
            f"who may work alerts (manager or admin) and sees site {alert.site_id!r} and its "
            f"camera {alert.camera_id!r} "
            f"(GET /api/alerts/{alert.id}/assignees lists them)",
        )
