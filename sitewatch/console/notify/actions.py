"""An admin's actions on notifications: send a route a test message now (the receiver's answer
comes back), and put a failed notification back in the outbox. Audited when they act.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime

import httpx
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import Conflict, NotFound, Unavailable
from sitewatch.console.notify.channels import Message, SendError, send
from sitewatch.console.notify.texts import text
from sitewatch.console.notify.webpush import Pusher
from sitewatch.console.notify.worker import smtp_of
from sitewatch.console.permissions import can_see_camera, grant_problem
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Notification, NotifyRoute, User


def test_route(s: Session, admin: User, route_id: int, settings: Settings, now: datetime) -> str:
    """Send ``route`` a test message at once; returns its delivery id, or raises
    :class:`Unavailable` with the receiver's answer."""
    route = s.get(NotifyRoute, route_id)
    if route is None or grant_problem(admin, route.sites, route.cameras):
        raise NotFound(f"no notification route {route_id}")
    msg = Message(
        str(uuid.uuid4()),
        text(route.language, "test_title"),
        text(route.language, "test_text", name=route.name, user=admin.username),
    )
    try:
        with httpx.Client(timeout=10.0) as client:
            send(
                route.channel,
                route.target,
                msg,
                client=client,
                smtp=smtp_of(settings),
                now=now.timestamp(),
                push=Pusher(lambda: nullcontext(s), settings),
            )
    except SendError as exc:  # nothing changed: nothing to audit
        raise Unavailable(
            f"the {route.channel} receiver did not take the test message: {exc}; check the "
            "route's URL and secret (and for e-mail the SMTP settings)"
        ) from exc
    audit.record(s, admin, "notify_route_tested", "notify_route", str(route_id), detail="sent")
    return msg.key


def retry(s: Session, admin: User, notification_id: int, now: datetime) -> Notification:
    """Put a failed notification back in the outbox, due now (its attempts are kept)."""
    row = s.get(Notification, notification_id)
    if row is None or (
        row.site_id is not None and not can_see_camera(admin, row.site_id, row.camera_id or "")
    ):
        raise NotFound(f"no notification {notification_id}")
    if row.state != "failed":
        raise Conflict(
            f"notification {notification_id} is {row.state}: only a failed one is retried"
        )
    row.state, row.next_try_at, row.lease_until = "pending", now, None
    audit.record(
        s,
        admin,
        "notify_retry",
        "notification",
        str(row.id),
        site_id=row.site_id,
        camera_id=row.camera_id,
        detail=row.last_error or "",
    )
    return row
