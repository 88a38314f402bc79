"""Incidents (alerts of one camera, rule and zone close in time): the filtered list, one with its
alerts, an action on one, and one action on a selection of alerts and incidents (bulk).

A bulk request answers per item: each alert or incident is done or refused on its own (and an
incident's alerts all or none), so one that someone else changed meanwhile (409) or that is not
the user's (404) does not undo the others the operator chose; the page reloads the refused ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.domain.alert_actions import take_action
from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.domain.incident_actions import act_on_incident, error_status
from sitewatch.console.domain.incident_views import (
    get_incident,
    incident_filters,
    incident_outs,
    incident_view,
)
from sitewatch.console.domain.incidents import incident_for
from sitewatch.console.domain.live import live_alert, live_incident
from sitewatch.console.domain.queries import OPEN_STATES, capped_total, get_alert
from sitewatch.console.schemas import (
    AlertState,
    BulkActionIn,
    BulkItemOut,
    BulkResultOut,
    IncidentActionIn,
    IncidentPage,
    IncidentView,
)
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, Incident, User
from sitewatch.console.workflow import WorkflowError
from sitewatch.contract.messages import RuleName

router = APIRouter(tags=["incidents"])
Kind = Literal["alert", "incident"]
Reader = Annotated[User, Depends(require("alerts.read"))]
Actor = Annotated[User, Depends(require("alerts.workflow"))]
State = Annotated[AppState, Depends(app_state)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such incident among the user's cameras"}
}


@router.get("/api/incidents")
def list_incidents(
    user: Reader,
    s: DB,
    site: str | None = None,
    camera: str | None = None,
    rule: RuleName | None = None,
    state: Annotated[
        list[AlertState] | None, Query(description="Repeatable; default: the open states.")
    ] = None,
    since: Annotated[datetime | None, Query(description="last_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="last_at < until")] = None,
    order: Literal["oldest", "newest"] = "oldest",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> IncidentPage:
    """Incidents of the user's sites and cameras; by default the open ones, oldest first
    (by first alert), as the alert feed."""
    where = incident_filters(user, site=site, camera=camera, rule=rule, since=since, until=until)
    where.append(Incident.state.in_(list(state or OPEN_STATES)))
    total, capped = capped_total(s, Incident, where)
    by = Incident.first_at.asc() if order == "oldest" else Incident.last_at.desc()
    rows = s.scalars(
        select(Incident).where(*where).order_by(by, Incident.id).limit(limit).offset(offset)
    ).all()
    return IncidentPage(items=incident_outs(s, rows), total=total, total_capped=capped)


@router.get("/api/incidents/{incident_id}", responses=NOT_FOUND)
def get_one(incident_id: str, user: Reader, s: DB) -> IncidentView:
    """The incident with every alert in it (oldest first) and the actions the user may take."""
    return incident_view(s, get_incident(s, user, incident_id), user)


@router.post(
    "/api/incidents/{incident_id}/actions",
    responses={
        **NOT_FOUND,
        409: {"description": "neither the incident nor any of its alerts allows the action"},
        422: {"description": "missing assignee, or one who may not take its alerts"},
    },
)
def act(
    incident_id: str, body: IncidentActionIn, request: Request, user: Actor, s: DB, state: State
) -> IncidentView:
    """The action on every alert of the incident that allows it (each audited) and on the
    incident; all or nothing."""
    incident = get_incident(s, user, incident_id)
    _act_incident(s, state, user, incident, body, client_address(request))
    return incident_view(s, incident, user)


@router.post("/api/alerts/actions")
def bulk(body: BulkActionIn, request: Request, user: Actor, s: DB, state: State) -> BulkResultOut:
    """One action on a selection of alerts and incidents; a result per item (see the module's
    docstring for why per item)."""
    client = client_address(request)
    items: list[BulkItemOut] = []
    kinds: tuple[tuple[Kind, list[str]], ...] = (
        ("incident", body.incident_ids),
        ("alert", body.alert_ids),
    )
    for kind, ids in kinds:
        for item_id in dict.fromkeys(ids):  # each once, in the order given
            try:
                if kind == "incident":
                    incident = get_incident(s, user, item_id)
                    _act_incident(s, state, user, incident, body, client)
                    now = incident.state
                else:
                    now = _act_alert(s, state, user, get_alert(s, user, item_id), body, client)
                items.append(BulkItemOut(kind=kind, id=item_id, ok=True, status=200, state=now))
            except (ConsoleError, WorkflowError) as exc:
                refused = BulkItemOut(
                    kind=kind,
                    id=item_id,
                    ok=False,
                    status=error_status(exc),
                    state=_state_now(s, kind, item_id, user),
                    detail=str(exc),
                )
                items.append(refused)
    done = sum(1 for i in items if i.ok)
    return BulkResultOut(items=items, done=done, refused=len(items) - done)


def _act_incident(
    s: DB,
    state: AppState,
    user: User,
    incident: Incident,
    body: IncidentActionIn,
    client: str | None,
) -> None:
    alerts = act_on_incident(
        s, user, incident, body.action, note=body.note, assignee=body.assignee,
        client=client, now=datetime.now(UTC),
    )  # fmt: skip
    for alert in alerts:
        state.hub.publish(live_alert(s, alert))
    state.hub.publish(live_incident(s, incident))


def _act_alert(
    s: DB, state: AppState, user: User, alert: Alert, body: IncidentActionIn, client: str | None
) -> str:
    take_action(
        s, user, alert, body.action, note=body.note, assignee=body.assignee,
        client=client, now=datetime.now(UTC),
    )  # fmt: skip
    state.hub.publish(live_alert(s, alert))
    incident = incident_for(s, alert)
    if incident is not None:
        state.hub.publish(live_incident(s, incident))
    return alert.state


def _state_now(s: DB, kind: str, item_id: str, user: User) -> Any:
    """The item's state after a refusal (None if the user may not see it)."""
    try:
        row = get_incident(s, user, item_id) if kind == "incident" else get_alert(s, user, item_id)
    except ConsoleError:
        return None
    return row.state
