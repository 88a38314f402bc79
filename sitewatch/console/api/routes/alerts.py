"""Alerts: the filtered list (open ones, oldest first, by default), one alert in detail, and
the workflow actions (acknowledge, assign, resolve, false positive, reopen, note)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.domain.alert_actions import may_take, take_action
from sitewatch.console.domain.incidents import incident_for
from sitewatch.console.domain.live import live_incident
from sitewatch.console.domain.queries import (
    OPEN_STATES,
    alert_detail,
    alert_filters,
    alert_outs,
    capped_total,
    get_alert,
)
from sitewatch.console.events import LiveEvent
from sitewatch.console.permissions import allowed
from sitewatch.console.schemas import (
    ActionIn,
    AlertDetail,
    AlertPage,
    AlertState,
    AlertView,
    AssigneeOut,
)
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, User
from sitewatch.console.workflow import allowed_actions
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
    total, capped = capped_total(s, Alert, where)
    by = Alert.started_at.asc() if order == "oldest" else Alert.started_at.desc()
    rows = s.scalars(
        select(Alert).where(*where).order_by(by, Alert.id).limit(limit).offset(offset)
    ).all()
    return AlertPage(items=alert_outs(s, rows), total=total, total_capped=capped)


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
    return [AssigneeOut.model_validate(u) for u in users if may_take(u, alert)]


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
    take_action(
        s, user, alert, body.action, note=body.note, assignee=body.assignee,
        client=client_address(request), now=datetime.now(UTC),
    )  # fmt: skip
    out = alert_detail(s, alert)
    state.hub.publish(
        LiveEvent("alert", alert.site_id, out.model_dump(mode="json", exclude=_DETAIL_ONLY))
    )
    incident = incident_for(s, alert)
    if incident is not None:  # its count of new alerts changed
        state.hub.publish(live_incident(s, incident))
    return _view(out, user)


_DETAIL_ONLY = {"timeline", "actions", "evidence"}


def _view(detail: AlertDetail, user: User) -> AlertView:
    """``detail`` with the actions ``user`` may take: the workflow's from its state, if the
    user's role may work alerts at all."""
    may = allowed(user.role, "alerts.workflow")
    return AlertView(
        **dict(detail), allowed_actions=list(allowed_actions(detail.state)) if may else []
    )
