"""Who gets what, and escalation, per incident: an incident's first alert becomes outbox rows
for the routes that match it; its later alerts do not notify again.

An alert still ``new``, received within the lookback, not noticed yet: if its incident is
``new`` and has no lead in its current episode (:mod:`.leads`), it leads the incident and
reaches level 1: one notification per enabled level-1 alert route whose sites, cameras, rules
and hours match it. Otherwise it is folded into the incident (a level-0 notice, nothing
sent): ten alerts of one incident make one notification, and each escalation message says how
many alerts the incident holds by then; a route that asks for updates also gets a "N more"
line, at most one a minute (:mod:`.updates`). A re-opened incident notifies again. A lead whose
incident is still ``new`` (its state never left new: nobody acknowledged it) N minutes after
reaching level L (L < 3) reaches L + 1 (1 site safety manager, 2 project manager, 3 the town's
command centre), audited as ``escalate`` on the incident. An alert in no incident is its own
incident. Each level is one ``alert_notices`` row, written with its notifications in one
transaction: a restart neither skips nor repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.notify.leads import current_lead, per_alert
from sitewatch.console.notify.texts import alert_payload
from sitewatch.console.notify.updates import count_update
from sitewatch.console.permissions import Scope
from sitewatch.console.store.models import (
    Alert,
    AlertNotice,
    Camera,
    Incident,
    Notification,
    NotifyRoute,
)
from sitewatch.console.store.models import Site as SiteRow

TOP_LEVEL: Final = 3
LEVELS: Final = {1: "site safety manager", 2: "project manager", 3: "command centre"}
BATCH: Final = 500
SYSTEM: Final = "system"


def parse_hours(hours: str) -> tuple[time, time]:
    """``"07:00-19:00"`` → its start and end (an end before the start runs past midnight);
    ValueError says what is expected."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in hours.split("-"))
    except ValueError as exc:
        raise ValueError(f"hours are 'HH:MM-HH:MM' (e.g. 07:00-19:00), got {hours!r}") from exc
    if start == end:
        raise ValueError(f"hours {hours!r} are empty: leave them out for all day")
    return start, end


def within_hours(hours: str | None, local: time) -> bool:
    if hours is None:
        return True
    start, end = parse_hours(hours)
    return start <= local < end if start < end else local >= start or local < end


def matches(route: NotifyRoute, alert: Alert, timezone: str | None, now: datetime) -> bool:
    """Whether alert route ``route`` wants ``alert`` at ``now`` (its hours in the site's zone);
    a report route wants no alert."""
    if route.reports is not None:
        return False
    scope = Scope.of(route)
    if not scope.camera(alert.site_id, alert.camera_id):
        return False
    if route.rules is not None and alert.rule not in route.rules:
        return False
    local = now.astimezone(ZoneInfo(timezone or "UTC")).time()
    return within_hours(route.hours, local)


def reach_level(
    s: Session,
    alert: Alert,
    level: int,
    routes: Sequence[NotifyRoute],
    now: datetime,
    escalate_after_min: float,
    incident: Incident | None = None,
) -> int:
    """Record that lead ``alert`` reached ``level`` and enqueue a notification to every
    matching route of that level (deduped on incident and its episode, or on the alert in no
    incident, with level and route); returns how many."""
    site = s.get(SiteRow, alert.site_id)
    camera = s.get(Camera, (alert.site_id, alert.camera_id))
    timezone = site.timezone if site else None
    facts = {
        "id": alert.id,
        "site_id": alert.site_id,
        "camera_id": alert.camera_id,
        "rule": alert.rule,
        "score": alert.score,
        "started_at": alert.started_at,
        "incident_id": incident.id if incident else None,
        "alerts": incident.alert_count if incident else 1,
    }
    count = 0
    for route in routes:
        if route.level != level or not route.enabled or not matches(route, alert, timezone, now):
            continue
        key = (
            f"incident:{incident.id}:R{incident.reopen_count}:L{level}:route:{route.id}"
            if incident
            else f"alert:{alert.id}:L{level}:route:{route.id}"
        )
        if s.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
            continue
        payload = alert_payload(
            language=route.language,
            level=level,
            escalate_after_min=escalate_after_min,
            alert=facts,
            site_name=(site.name if site and site.name else alert.site_id),
            camera_name=(camera.name if camera and camera.name else alert.camera_id),
            timezone=timezone,
        )
        s.add(
            Notification(
                dedupe_key=key,
                route_id=route.id,
                channel=route.channel,
                alert_id=alert.id,
                site_id=alert.site_id,
                camera_id=alert.camera_id,
                level=level,
                payload=payload,
                state="pending",
                attempts=0,
                next_try_at=now,
                created_at=now,
            )
        )
        count += 1
    s.add(AlertNotice(alert_id=alert.id, level=level, at=now, routes=count))
    return count


def route_new_alerts(
    s: Session, now: datetime, lookback: timedelta, escalate_after_min: float
) -> int:
    """Level 1 for the first alert of each incident (or episode) received since
    ``now - lookback``; the incident's other new alerts are folded into it. Returns the
    notifications enqueued."""
    noticed = select(AlertNotice.alert_id).where(AlertNotice.alert_id == Alert.id).exists()
    alerts = list(
        s.scalars(
            select(Alert)
            .where(Alert.received_at >= now - lookback, Alert.state == "new", ~noticed)
            .order_by(Alert.received_at, Alert.id)
            .limit(BATCH)
        )
    )
    if not alerts:
        return 0
    routes = list(s.scalars(select(NotifyRoute).where(NotifyRoute.level == 1)))
    count = 0
    led: set[str] = set()  # incidents given a lead in this pass
    for alert in alerts:
        incident = None if alert.incident_id is None else s.get(Incident, alert.incident_id)
        if incident is not None and (
            incident.state != "new" or incident.id in led or current_lead(s, incident)
        ):
            s.add(AlertNotice(alert_id=alert.id, level=0, at=now, routes=0))
            if incident.state == "new" and (wanting := _wanting_updates(s, routes, alert, now)):
                count_update(s, alert, incident, wanting, now)
            continue
        count += reach_level(s, alert, 1, routes, now, escalate_after_min, incident)
        if incident is not None:
            led.add(incident.id)
        s.flush()
    return count


def _wanting_updates(
    s: Session, routes: Sequence[NotifyRoute], alert: Alert, now: datetime
) -> list[NotifyRoute]:
    asking = [r for r in routes if r.incident_updates and r.enabled and r.level == 1]
    if not asking:
        return []
    site = s.get(SiteRow, alert.site_id)
    return [r for r in asking if matches(r, alert, site.timezone if site else None, now)]


def escalate(s: Session, now: datetime, after: timedelta) -> int:
    """Leads whose incident (or the alert itself, in none) is still ``new`` ``after`` reaching
    their level go one level up, audited on the incident; returns how many."""
    top = per_alert()
    rows = s.execute(
        select(Alert, Incident, top.c.level)
        .join(top, top.c.alert_id == Alert.id)
        .outerjoin(Incident, Incident.id == Alert.incident_id)
        .where(
            or_(
                and_(Alert.incident_id.is_(None), Alert.state == "new"),
                Incident.state == "new",
            ),
            top.c.level < TOP_LEVEL,
            top.c.at <= now - after,
        )
        .order_by(top.c.at)
        .limit(BATCH)
    ).all()
    minutes = after.total_seconds() / 60
    routes = list(s.scalars(select(NotifyRoute).where(NotifyRoute.level > 1)))
    done = 0
    for alert, incident, level in rows:
        if incident is not None:
            lead = current_lead(s, incident)
            if lead is None or lead.alert_id != alert.id:
                continue  # the lead of an earlier episode: its incident re-opened since
        count = reach_level(s, alert, level + 1, routes, now, minutes, incident)
        what = f"incident of {incident.alert_count} alert(s), " if incident else ""
        audit.record(
            s,
            SYSTEM,
            "escalate",
            "incident" if incident else "alert",
            incident.id if incident else alert.id,
            site_id=alert.site_id,
            camera_id=alert.camera_id,
            at=now,
            detail=f"level {level} -> {level + 1} ({LEVELS[level + 1]}): {what}not "
            f"acknowledged within {minutes:g} min; {count} notifications",
            key="escalate_incident" if incident else "escalate",
            params={
                "from": level,
                "to": level + 1,
                "alerts": incident.alert_count if incident else 1,
                "minutes": f"{minutes:g}",
                "sent": count,
            },
        )
        done += 1
    return done
