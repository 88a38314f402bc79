"""A "N more" line as an incident grows, for the level-1 routes that ask for it
(``NotifyRoute.incident_updates``; off by default: an incident notifies once, and its
escalations say how many alerts it holds).

An alert folded into an incident's lead adds one to the incident's waiting update row for
each such route that matches it (one pending row per incident, episode and route), due
:data:`GATHER` after the first it counts: at most one line a minute per incident and route,
and the outbox puts the lines due together in one digest. A row already sent starts the next.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.notify.texts import rule_names, text
from sitewatch.console.store.models import Alert, Incident, Notification, NotifyRoute
from sitewatch.console.store.models import Site as SiteRow

GATHER: Final = timedelta(seconds=60)


def count_update(
    s: Session, alert: Alert, incident: Incident, wanting: list[NotifyRoute], now: datetime
) -> int:
    """Count folded ``alert`` in its incident's waiting update for every route of
    ``wanting`` (level 1, asking for updates, matching the alert); returns how many."""
    site = s.get(SiteRow, alert.site_id)
    prefix = f"incident:{incident.id}:R{incident.reopen_count}:more:"
    touched = 0
    for route in wanting:
        row = s.scalars(
            select(Notification).where(
                Notification.route_id == route.id,
                Notification.state == "pending",
                Notification.dedupe_key.like(prefix + "%"),
            )
        ).first()
        more = 1 if row is None else int(row.payload["alert"]["more"]) + 1
        rule = rule_names(route.language).get(alert.rule, alert.rule)
        name = site.name if site and site.name else alert.site_id
        line = text(
            route.language, "more_in_incident", rule=rule, site=name, camera=alert.camera_id,
            count=more, total=incident.alert_count,
        )  # fmt: skip
        facts = {
            "id": alert.id, "site_id": alert.site_id, "camera_id": alert.camera_id,
            "rule": alert.rule, "incident_id": incident.id, "more": more,
            "alerts": incident.alert_count, "level": 1,
        }  # fmt: skip
        payload = {"title": line, "line": line, "alert": facts}
        if row is None:
            s.add(
                Notification(
                    dedupe_key=f"{prefix}{alert.id}:route:{route.id}", route_id=route.id,
                    channel=route.channel, alert_id=alert.id, site_id=alert.site_id,
                    camera_id=alert.camera_id, level=1, payload=payload, state="pending",
                    attempts=0, next_try_at=now + GATHER, created_at=now,
                )
            )  # fmt: skip
        else:
            row.payload = payload
        touched += 1
    return touched
