"""The durable outbox: due notifications claimed with a lease, sent per route within its rate
limit (several due at once go as one digest; a report always alone, composed when sent by
``compose_report``), marked sent, or retried with backoff.

Delivery is at least once to the receiver: a row is claimed (``sending``, ``lease_until``) and
committed before the send, and marked ``sent`` after the receiver confirmed it. A console that
dies in between resends that message once its lease has expired; every other row is sent
exactly once (a restart resends only rows not confirmed). A resent webhook carries the same
notification ids (receivers dedupe on them); robots and mail have no such key.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.notify.channels import MAX_TEXT_BYTES, Message, SendError
from sitewatch.console.notify.texts import digest_title, text
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import Notification, NotifyRoute

log = logging.getLogger(__name__)
BACKOFF_S: Final = (10, 30, 60, 300, 900, 1800)
MAX_ATTEMPTS: Final = 8
DIGEST_MAX: Final = 100
WINDOW: Final = timedelta(seconds=60)
SendFn = Callable[[NotifyRoute, Message], None]
ReportFn = Callable[[Session, NotifyRoute, Notification, str], Message]


def due(now: datetime) -> ColumnElement[bool]:
    """Rows to send now: pending and due, or claimed by a console whose lease ran out."""
    return or_(
        and_(Notification.state == "pending", Notification.next_try_at <= now),
        and_(Notification.state == "sending", Notification.lease_until < now),
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1])


def compose(
    route: NotifyRoute, rows: Sequence[Notification], key: str, due_count: int
) -> tuple[Message, int]:
    """The message for the first rows of ``rows`` that fit the channel's size: one
    notification as itself, several as a digest (saying how many of ``due_count`` follow);
    returns it and how many rows it carries."""
    if due_count == 1:
        p = rows[0].payload
        return Message(key, p["title"], p["line"], [{"id": rows[0].id, **p["alert"]}]), 1
    limit = MAX_TEXT_BYTES.get(route.channel, 4000) - 200  # room for the title and a tail
    lines: list[str] = []
    size = 0
    for row in rows[:DIGEST_MAX]:
        line = f"- {row.payload['line']}"
        if lines and size + len(line.encode()) + 1 > limit:
            break
        lines.append(line)
        size += len(line.encode()) + 1
    taken = rows[: len(lines)]
    if len(taken) < due_count:
        lines.append(text(route.language, "more", count=due_count - len(taken)))
    items = [{"id": r.id, **r.payload["alert"]} for r in taken]
    return Message(key, digest_title(route.language, len(taken)), "\n".join(lines), items), len(
        taken
    )


def deliver_due(
    db: Database,
    now: datetime,
    send: SendFn,
    lease: timedelta,
    compose_report: ReportFn | None = None,
) -> int:
    """Send what is due, route by route within each route's rate (``rate_per_min`` messages in
    any 60 s, at least 60/rate s apart), each claimed for ``lease``; returns the messages sent."""
    with db.session() as s:
        pairs = s.execute(
            select(Notification.id, Notification.route_id)
            .where(due(now))
            .order_by(Notification.created_at, Notification.id)
            .limit(5000)
        ).all()
    by_route: dict[int | None, list[int]] = {}
    for row_id, route_id in pairs:
        by_route.setdefault(route_id, []).append(row_id)
    sent = 0
    for route_id, ids in by_route.items():
        sent += _deliver_route(db, now, route_id, ids, send, lease, compose_report)
    return sent


def _deliver_route(
    db: Database,
    now: datetime,
    route_id: int | None,
    ids: list[int],
    send: SendFn,
    lease: timedelta,
    compose_report: ReportFn | None,
) -> int:
    with db.session() as s:
        route = s.get(NotifyRoute, route_id) if route_id is not None else None
        if route is None or not route.enabled:
            why = "its route was removed" if route is None else "its route is disabled"
            s.execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(state="failed", last_error=f"not sent: {why}", lease_until=None)
            )
            return 0
        recent = s.execute(
            select(
                func.count(func.distinct(Notification.message_id)), func.max(Notification.sent_at)
            ).where(Notification.route_id == route.id, Notification.sent_at > now - WINDOW)
        ).one()
        s.expunge(route)
    budget = route.rate_per_min - int(recent[0])
    spacing = timedelta(seconds=60 / route.rate_per_min)
    if budget <= 0 or (recent[1] is not None and now - recent[1] < spacing):
        return 0
    key = str(uuid.uuid4())
    with db.session() as s:
        rows = list(
            s.scalars(
                select(Notification)
                .where(Notification.id.in_(ids[:DIGEST_MAX]))
                .order_by(Notification.id)
            )
        )
        if not rows:
            return 0
        reports = [r for r in rows if "report" in r.payload]
        if reports:  # a report goes alone, composed from the database now
            if compose_report is None:
                return 0
            rows = reports[:1]
            try:
                msg, count = compose_report(s, route, rows[0], key), 1
            except ConsoleError as exc:  # e.g. its site was removed: it can never be made
                rows[0].state, rows[0].last_error = "failed", f"report not made: {exc}"
                return 0
        else:
            msg, count = compose(route, rows, key, len(ids))
        claimed = s.execute(
            update(Notification)
            .where(Notification.id.in_([r.id for r in rows[:count]]), due(now))
            .values(state="sending", lease_until=now + lease, message_id=key)
        ).rowcount  # type: ignore[attr-defined]
    if claimed != count:  # another console took some meanwhile: compose again next tick
        _release(db, key, now)
        return 0
    try:
        send(route, msg)
    except SendError as exc:
        _failed(db, key, now, str(exc))
        log.warning("notification %s via route %s not sent: %s", key, route.name, exc)
        return 0
    with db.session() as s:
        s.execute(
            update(Notification)
            .where(Notification.message_id == key, Notification.state == "sending")
            .values(
                state="sent",
                sent_at=now,
                lease_until=None,
                last_error=None,
                attempts=Notification.attempts + 1,
            )
        )
    return 1


def _release(db: Database, key: str, now: datetime) -> None:
    with db.session() as s:
        s.execute(
            update(Notification)
            .where(Notification.message_id == key, Notification.state == "sending")
            .values(state="pending", lease_until=None, next_try_at=now)
        )


def _failed(db: Database, key: str, now: datetime, error: str) -> None:
    with db.session() as s:
        for row in s.scalars(select(Notification).where(Notification.message_id == key)):
            row.attempts += 1
            row.last_error = error[:2000]
            row.lease_until = None
            row.state = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
            row.next_try_at = now + backoff(row.attempts)
