"""What the API does with notifications: routes (create, change, remove, list with secrets
masked), the delivery log, and the overdue incidents (督查) a supervisor sees.

An admin limited to some sites manages only routes within them and makes none beyond them
(:func:`sitewatch.console.permissions.grant_problem`). Refusals are domain errors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import Invalid, NotFound
from sitewatch.console.domain.queries import scoped
from sitewatch.console.notify.channels import CHANNELS, ChannelName, check_target
from sitewatch.console.notify.leads import Lead, alert_lead, current_lead
from sitewatch.console.notify.routing import parse_hours
from sitewatch.console.permissions import camera_scope_problem, grant_problem
from sitewatch.console.store.models import (
    Alert,
    Incident,
    Notification,
    NotifyRoute,
    User,
    utcnow,
)

SECRET_KEYS = ("secret",)
SECRET_QUERY = ("key", "access_token")


class RouteIn(BaseModel):
    """A route as an admin writes it; ``target`` None on a change keeps the stored one."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    channel: ChannelName
    target: dict[str, Any] | None = None
    level: int = Field(
        1, ge=1, le=3, description="1 site safety manager, 2 project manager, 3 command centre"
    )
    sites: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, description='site ids, ["*"] = every site'
    )
    cameras: list[str] | None = Field(None, description='"site/camera" entries; None = all')
    rules: list[str] | None = Field(None, description="rule names; None = every rule")
    hours: str | None = Field(None, description="HH:MM-HH:MM in the site's zone; None = always")
    language: Literal["zh-CN", "en"] = "zh-CN"
    rate_per_min: int = Field(20, ge=1, le=600, description="messages a minute (robots: 20)")
    enabled: bool = True
    incident_updates: bool = Field(
        False,
        description='level 1: also a "N more" line (at most one a minute) as an incident it '
        "was told of grows; off: one notification per incident (and its escalations)",
    )
    reports: list[Literal["daily", "weekly"]] | None = Field(
        None,
        description="None: a route of alerts; daily and/or weekly: a route that gets its sites' "
        "scheduled reports instead (level, rules and hours do not apply)",
    )

    @field_validator("reports")
    @classmethod
    def _reports(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("reports: name daily and/or weekly, or leave it out (null)")
        return None if value is None else sorted(set(value))

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @model_validator(mode="after")
    def _scope(self) -> RouteIn:
        if problem := camera_scope_problem(self.sites, self.cameras):
            raise ValueError(problem)
        return self


class RouteOut(BaseModel):
    id: int
    name: str
    channel: str
    target: dict[str, Any]
    level: int
    sites: list[str]
    cameras: list[str] | None
    rules: list[str] | None
    hours: str | None
    language: str
    rate_per_min: int
    enabled: bool
    reports: list[str] | None
    incident_updates: bool
    updated_at: datetime


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    route_id: int | None
    channel: str
    alert_id: str | None
    site_id: str | None
    camera_id: str | None
    level: int
    state: str
    attempts: int
    created_at: datetime
    next_try_at: datetime
    sent_at: datetime | None
    message_id: str | None
    last_error: str | None
    title: str
    line: str


class OverdueOut(BaseModel):
    """An incident (or an alert in none) still new past the escalation time; ``id``: the
    alert to open (the incident's first alert still new)."""

    id: str
    incident_id: str | None
    alerts: int  # the incident's alerts (1 for an alert in none)
    site_id: str
    camera_id: str
    rule: str
    started_at: datetime
    received_at: datetime
    minutes_open: float
    level: int  # the escalation level reached (0: not notified yet)
    level_at: datetime | None


def mask(target: dict[str, Any]) -> dict[str, Any]:
    """``target`` without its secrets: ``secret`` hidden, a URL's key/access_token cut short."""
    out = dict(target)
    for key in SECRET_KEYS:
        if key in out:
            out[key] = "********"
    if isinstance(url := out.get("url"), str) and "?" in url:
        base, _, query = url.partition("?")
        parts = []
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            parts.append(f"{name}={value[:4]}…" if name in SECRET_QUERY and value else pair)
        out["url"] = f"{base}?{'&'.join(parts)}"
    return out


def route_out(route: NotifyRoute) -> RouteOut:
    return RouteOut(
        **{k: getattr(route, k) for k in RouteOut.model_fields if k != "target"},
        target=mask(route.target),
    )


def routes_of(s: Session, admin: User) -> list[NotifyRoute]:
    rows = s.scalars(select(NotifyRoute).order_by(NotifyRoute.level, NotifyRoute.name))
    return [r for r in rows if grant_problem(admin, r.sites, r.cameras) is None]


def _check(admin: User, body: RouteIn, target: dict[str, Any]) -> None:
    if problem := grant_problem(admin, body.sites, body.cameras):
        raise Invalid(problem)
    if problem := check_target(body.channel, target):
        raise Invalid(problem)


def save_route(s: Session, admin: User, body: RouteIn, route_id: int | None = None) -> NotifyRoute:
    """Create (``route_id`` None) or change a route; audited without its secrets."""
    route = None if route_id is None else s.get(NotifyRoute, route_id)
    if route_id is not None and (route is None or grant_problem(admin, route.sites, route.cameras)):
        raise NotFound(f"no notification route {route_id}")
    target = body.target if body.target is not None else (route.target if route else None)
    if target is None:
        raise Invalid(f"a new {body.channel} route needs a target (e.g. its webhook url)")
    _check(admin, body, target)
    fields = body.model_dump(exclude={"target"})
    if route is None:
        route = NotifyRoute(**fields, target=target, created_at=utcnow(), updated_at=utcnow())
        s.add(route)
    else:
        for key, value in fields.items():
            setattr(route, key, value)
        route.target, route.updated_at = target, utcnow()
    s.flush()
    detail = f"{route.channel} level {route.level} sites {route.sites}: {mask(target)}"
    audit.record(s, admin, "notify_route_saved", "notify_route", str(route.id), detail=detail)
    return route


def delete_route(s: Session, admin: User, route_id: int) -> None:
    route = s.get(NotifyRoute, route_id)
    if route is None or grant_problem(admin, route.sites, route.cameras):
        raise NotFound(f"no notification route {route_id}")
    s.delete(route)
    audit.record(s, admin, "notify_route_removed", "notify_route", str(route_id), detail=route.name)


def delivery_log(
    s: Session, user: User, *, state: str | None, alert: str | None, limit: int, offset: int
) -> list[NotificationOut]:
    """The outbox, newest first, limited to the user's sites and cameras."""
    stmt = scoped(select(Notification), Notification.site_id, user, Notification.camera_id)
    if state is not None:
        stmt = stmt.where(Notification.state == state)
    if alert is not None:
        stmt = stmt.where(Notification.alert_id == alert)
    rows = s.scalars(stmt.order_by(Notification.id.desc()).limit(limit).offset(offset))
    return [notification_out(r) for r in rows]


def notification_out(row: Notification) -> NotificationOut:
    fields = {
        k: getattr(row, k) for k in NotificationOut.model_fields if k not in ("title", "line")
    }
    return NotificationOut(
        **fields, title=row.payload.get("title", ""), line=row.payload.get("line", "")
    )


def overdue(
    s: Session, user: User, now: datetime, after: timedelta, limit: int
) -> list[OverdueOut]:
    """Incidents of the user's scope still new ``after`` their first alert still new arrived,
    and alerts in no incident still new as long, oldest first, with the escalation level each
    has reached (their lead's)."""
    first = (
        select(
            Alert.incident_id.label("incident_id"),
            func.min(Alert.received_at).label("since"),
        )
        .where(Alert.state == "new", Alert.incident_id.is_not(None))
        .group_by(Alert.incident_id)
        .subquery()
    )
    incidents = s.execute(
        scoped(
            select(Incident, first.c.since).join(first, first.c.incident_id == Incident.id),
            Incident.site_id,
            user,
            Incident.camera_id,
        )
        .where(Incident.state == "new", first.c.since <= now - after)
        .order_by(first.c.since)
        .limit(limit)
    ).all()
    out: list[OverdueOut] = []
    for incident, _ in incidents:
        alert = s.scalars(
            select(Alert)
            .where(Alert.incident_id == incident.id, Alert.state == "new")
            .order_by(Alert.received_at, Alert.id)
            .limit(1)
        ).one()
        out.append(_overdue(alert, incident, current_lead(s, incident), now))
    loose = s.scalars(
        scoped(select(Alert), Alert.site_id, user, Alert.camera_id)
        .where(Alert.state == "new", Alert.incident_id.is_(None), Alert.received_at <= now - after)
        .order_by(Alert.received_at)
        .limit(limit)
    )
    out += [_overdue(a, None, alert_lead(s, a.id), now) for a in loose]
    return sorted(out, key=lambda o: (o.received_at, o.id))[:limit]


def _overdue(
    alert: Alert, incident: Incident | None, lead: Lead | None, now: datetime
) -> OverdueOut:
    return OverdueOut(
        id=alert.id,
        incident_id=incident.id if incident else None,
        alerts=incident.alert_count if incident else 1,
        site_id=alert.site_id,
        camera_id=alert.camera_id,
        rule=alert.rule,
        started_at=alert.started_at,
        received_at=alert.received_at,
        minutes_open=round((now - alert.received_at).total_seconds() / 60, 1),
        level=lead.level if lead else 0,
        level_at=lead.level_at if lead else None,
    )


__all__ = ["CHANNELS", "RouteIn", "delete_route", "delivery_log", "overdue", "save_route"]
