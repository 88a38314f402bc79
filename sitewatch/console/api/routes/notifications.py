"""Notifications: routes (admins), the delivery log (admins, managers), overdue alerts (督查).

Route targets come back with their secrets masked; a change without ``target`` keeps the
stored one. Everything is limited to the user's sites and cameras.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from sitewatch.console.api.deps import DB, app_state, require
from sitewatch.console.notify import actions, manage
from sitewatch.console.notify.manage import NotificationOut, OverdueOut, RouteIn, RouteOut
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User

router = APIRouter(prefix="/api", tags=["notifications"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such route of yours"}}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "the route cannot be used as given (target, hours, scope): says why"}
}
Admin = Annotated[User, Depends(require("users.manage"))]
RouteId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NotificationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/notify/routes")
def list_routes(user: Admin, s: DB) -> list[RouteOut]:
    """Who gets what: every route within the admin's sites, by level."""
    return [manage.route_out(r) for r in manage.routes_of(s, user)]


@router.post("/notify/routes", status_code=status.HTTP_201_CREATED, responses=INVALID)
def create_route(user: Admin, s: DB, body: RouteIn) -> RouteOut:
    """A new route: channel and target, sites/cameras/rules/hours it covers, its level."""
    return manage.route_out(manage.save_route(s, user, body))


@router.put("/notify/routes/{route_id}", responses={**NOT_FOUND, **INVALID})
def change_route(user: Admin, s: DB, route_id: RouteId, body: RouteIn) -> RouteOut:
    """Change a route (without ``target``: the stored target, secrets included, stays)."""
    return manage.route_out(manage.save_route(s, user, body, route_id))


@router.delete(
    "/notify/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
def remove_route(user: Admin, s: DB, route_id: RouteId) -> None:
    """Remove a route; its notifications stay in the log (unsent ones fail, saying why)."""
    manage.delete_route(s, user, route_id)


@router.post(
    "/notify/routes/{route_id}/test",
    responses={**NOT_FOUND, 503: {"description": "the receiver refused: its answer"}},
)
def test_route(
    user: Admin, s: DB, state: Annotated[AppState, Depends(app_state)], route_id: RouteId
) -> dict[str, str]:
    """Send the route a test message now; 503 with the receiver's answer if it refused."""
    return {"delivery": actions.test_route(s, user, route_id, state.settings, datetime.now(UTC))}


@router.post(
    "/notifications/{notification_id}/retry",
    responses={
        404: {"description": "no such notification of yours"},
        409: {"description": "not failed"},
    },
)
def retry_notification(user: Admin, s: DB, notification_id: NotificationId) -> NotificationOut:
    """Put a failed notification back in the outbox (409 unless it failed)."""
    row = actions.retry(s, user, notification_id, datetime.now(UTC))
    return manage.notification_out(row)


@router.get("/notifications")
def delivery_log(
    user: Annotated[User, Depends(require("alerts.workflow"))],
    s: DB,
    state: Annotated[Literal["pending", "sending", "sent", "failed"] | None, Query()] = None,
    alert: Annotated[str | None, Query(max_length=36, description="one alert's")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[NotificationOut]:
    """The delivery log: every notification, its state, attempts and last error, newest first."""
    return manage.delivery_log(s, user, state=state, alert=alert, limit=limit, offset=offset)


@router.get("/alerts/overdue")
def overdue_alerts(
    user: Annotated[User, Depends(require("alerts.read"))],
    s: DB,
    state: Annotated[AppState, Depends(app_state)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[OverdueOut]:
    """Alerts not acknowledged within ``notify_escalate_after_min`` of arriving, oldest first,
    with the escalation level each reached: the supervisors' view (督查)."""
    after = timedelta(minutes=state.settings.notify_escalate_after_min)
    return manage.overdue(s, user, datetime.now(UTC), after, limit)
