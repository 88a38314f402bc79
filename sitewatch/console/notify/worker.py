"""The notification worker: one thread that, every ``notify_poll_s``, routes new incidents,
escalates unacknowledged ones, enqueues the reports due and sends what is due
(:mod:`.routing`, :mod:`.schedule`, :mod:`.outbox`).

``now`` is a function so tests drive it on a controlled clock (:meth:`NotifyWorker.tick`
without the thread); an error in one pass is logged and the next pass tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.notify import outbox, routing, schedule
from sitewatch.console.notify.channels import Message, Smtp, send
from sitewatch.console.notify.webpush import Pusher
from sitewatch.console.settings import Settings
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import Notification, NotifyRoute

log = logging.getLogger(__name__)


def smtp_of(settings: Settings) -> Smtp | None:
    if not settings.smtp_host:
        return None
    return Smtp(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_security,
        settings.smtp_from,
        settings.smtp_username,
        settings.smtp_password,
    )


class NotifyWorker:
    """Routes, escalates and sends; ``start``/``stop`` run :meth:`tick` on a thread."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db, self.settings, self.now = db, settings, now
        self.client = httpx.Client(timeout=10.0)
        self.smtp = smtp_of(settings)
        self.push = Pusher(db.session, settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def send(self, route: NotifyRoute, msg: Message) -> None:
        send(
            route.channel,
            route.target,
            msg,
            client=self.client,
            smtp=self.smtp,
            now=self.now().timestamp(),
            push=self.push,
        )

    def compose_report(
        self, s: Session, route: NotifyRoute, row: Notification, key: str
    ) -> Message:
        return schedule.report_message(s, route, row, key, self.now(), self.settings)

    def tick(self) -> int:
        """One pass: level 1 for new incidents, escalation, the reports due, then the due
        sends; returns the messages sent. Replicas sharing a database take turns: a pass
        runs only in the one replica holding ``db.exclusive("notify")`` (the others' passes
        return 0), so two replicas never route the same incident twice."""
        with self.db.exclusive("notify") as mine:
            return self._pass() if mine else 0

    def _pass(self) -> int:
        now = self.now()
        with self.db.session() as s:
            if not s.scalar(select(NotifyRoute.id).limit(1)) and not s.scalar(
                select(Notification.id)
                .where(Notification.state.in_(("pending", "sending")))
                .limit(1)
            ):
                return 0  # no routes and an empty outbox: nothing to do
        after = timedelta(minutes=self.settings.notify_escalate_after_min)
        with self.db.session() as s:
            routing.route_new_alerts(
                s,
                now,
                timedelta(minutes=self.settings.notify_lookback_min),
                self.settings.notify_escalate_after_min,
            )
        with self.db.session() as s:
            routing.escalate(s, now, after)
        with self.db.session() as s:
            schedule.enqueue_reports(s, now, self.settings)
        sent = outbox.deliver_due(
            self.db,
            now,
            self.send,
            timedelta(seconds=self.settings.notify_lease_s),
            self.compose_report,
        )
        self.sent += sent
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a database or receiver error: log it, try again next pass
                log.exception("notification pass failed; trying again")
            self._stop.wait(self.settings.notify_poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sitewatch-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass in progress (a send in flight finishes or times out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.close()
