"""Live events between console replicas on one PostgreSQL database (LISTEN/NOTIFY).

Each replica's :class:`PgEventRelay` NOTIFYs on :data:`CHANNEL` what its
:class:`~sitewatch.console.events.EventHub` publishes, and LISTENs there on a dedicated
connection: other replicas' events go to this replica's streams (:meth:`EventHub.deliver`); its
own (the payload names its origin) are skipped. Each stream sees each event once.

Payload: ``{"o": origin, "n": seq, "e": {"kind", "site_id", "data"}}``; over
:data:`NOTIFY_MAX_BYTES` (PostgreSQL refuses 8000 bytes) the event is stored in ``live_events``
in the NOTIFY's transaction and ``"ref": id`` replaces ``"e"``. Lossy like the hub, never
slowing ingest: :meth:`PgEventRelay.send` only queues; both connections reconnect forever.
Why and the payload sizes: docs/design/replicas.md.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.events import EventHub, LiveEvent
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import LiveEventRow

log = logging.getLogger(__name__)
CHANNEL: Final = "sitewatch_live"
NOTIFY_MAX_BYTES: Final = 7900
"""The largest payload sent inline (PostgreSQL's limit is 8000 bytes, less a margin)."""
QUEUE_MAX: Final = 10_000
"""Events waiting to be sent; beyond it new ones are dropped (and counted)."""
BATCH_MAX: Final = 200
"""Events sent in one transaction (their notifications arrive together)."""
KEEP_ROWS_S: Final = 300.0
"""How long a large event's row is kept (seconds): long after every replica has read it."""
RETRY_S: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits (seconds) before reconnecting after a lost connection; the last one repeats."""
TABLE: Final = LiveEventRow.__tablename__
KEEPALIVE: Final = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq options of both connections: a server that went away is noticed within about a
minute even by the listener, which only waits (seconds)."""


def conninfo(db: Database) -> str:
    """A libpq URI for ``db``'s PostgreSQL database (the engine's URL without the driver)."""
    url = db.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def payload_of(origin: str, seq: int, event: LiveEvent) -> str:
    """The NOTIFY payload carrying ``event`` inline (sent as is up to
    :data:`NOTIFY_MAX_BYTES`)."""
    body = {"kind": event.kind, "site_id": event.site_id, "data": event.data}
    return json.dumps({"o": origin, "n": seq, "e": body}, separators=(",", ":"))


class PgEventRelay:
    """Relays ``hub``'s events to and from the other replicas on ``db``; ``start``/``stop``
    run the sender and the listener threads. ``sent``, ``received``, ``dropped``: counts."""

    def __init__(self, db: Database, hub: EventHub) -> None:
        self.hub, self.conninfo = hub, make_conninfo(conninfo(db), **KEEPALIVE)
        self.origin = uuid.uuid4().hex[:16]
        self.listening = threading.Event()  # set while LISTEN is in force
        self.sent = self.received = self.dropped = 0
        self._out: queue.Queue[LiveEvent] = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._seq = 0
        self._seq_lock = threading.Lock()  # the sender thread and ingest's both number events
        self._pruned_at = 0.0
        self._threads: list[threading.Thread] = []

    def send(self, event: LiveEvent) -> None:
        """Queue ``event`` for the other replicas; never blocks (full: dropped, counted)."""
        try:
            self._out.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def start(self, wait_s: float = 5.0) -> None:
        """Start both threads and wait up to ``wait_s`` for LISTEN (events sent by other
        replicas before it are not seen); the hub relays from now on."""
        for target, name in ((self._send_loop, "send"), (self._listen_loop, "listen")):
            thread = threading.Thread(target=target, name=f"live-relay-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.hub.origins.add(self.origin)
        self.hub.relay_to(self.send, self.notify_in)
        if not self.listening.wait(wait_s):
            log.warning("live relay: not listening after %.0f s; going on, still trying", wait_s)

    def stop(self) -> None:
        self.hub.relay_to(None)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _forever(self, name: str, run: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``run`` until stopped, reconnecting after each failure with :data:`RETRY_S`.
        The connection's ``application_name`` is ``sitewatch-live-<name>`` (seen in
        ``pg_stat_activity``)."""
        failures = 0
        dsn = make_conninfo(self.conninfo, application_name=f"sitewatch-live-{name}")
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    failures = 0
                    run(conn)
            except psycopg.Error as exc:
                log.warning("live relay %s: %s; reconnecting", name, exc)
            except Exception:  # a bug: log it and go on (the feed must outlive it)
                log.exception("live relay %s failed; reconnecting", name)
            self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)])
            failures += 1

    def _send_loop(self) -> None:
        self._forever("send", self._send_on)

    def _send_on(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._out.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._out.get_nowait())
                except queue.Empty:
                    break
            try:
                self._notify(conn, batch)
            except Exception:
                self.dropped += len(batch)
                raise
            self.sent += len(batch)
            self._prune(conn)

    def _notify(self, conn: psycopg.Connection[Any], batch: list[LiveEvent]) -> None:
        """NOTIFY each event of ``batch`` in one transaction (delivered at its commit)."""
        with conn.transaction():
            for event in batch:
                payload = self._payload(event, lambda body: _insert_row(conn, body))
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def notify_in(self, session: Session, events: list[LiveEvent]) -> None:
        """NOTIFY ``events`` within ``session``'s transaction: the other replicas get them at
        its commit, or never (ingest's events: sitewatch.console.events.EventHub.publish_in)."""
        for event in events:
            payload = self._payload(event, lambda body: _insert_row_in(session, body))
            session.execute(select(func.pg_notify(CHANNEL, payload)))
        self.sent += len(events)

    def _payload(self, event: LiveEvent, store: Callable[[str], int]) -> str:
        """The NOTIFY payload: the event inline, or a reference to the row ``store`` wrote."""
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        payload = payload_of(self.origin, seq, event)
        if len(payload.encode()) <= NOTIFY_MAX_BYTES:
            return payload
        body = {"kind": event.kind, "site_id": event.site_id, "data": event.data}
        ref = store(json.dumps(body, separators=(",", ":")))
        return json.dumps({"o": self.origin, "n": seq, "ref": ref})

    def _prune(self, conn: psycopg.Connection[Any]) -> None:
        if time.monotonic() - self._pruned_at < KEEP_ROWS_S / 5:
            return
        self._pruned_at = time.monotonic()
        conn.execute(
            f"DELETE FROM {TABLE} WHERE created_at < now() - make_interval(secs => %s)",
            (KEEP_ROWS_S,),
        )

    def _listen_loop(self) -> None:
        self._forever("listen", self._listen_on)

    def _listen_on(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        self.listening.set()
        try:
            while not self._stop.is_set():
                # the generator holds the connection: collect, then read large events' rows
                got = list(conn.notifies(timeout=0.5, stop_after=1))
                for note in got:
                    event = self._event_of(conn, note.payload)
                    if event is not None:
                        self.received += 1
                        self.hub.deliver(event)
        finally:
            self.listening.clear()

    def _event_of(self, conn: psycopg.Connection[Any], payload: str) -> LiveEvent | None:
        """The event in ``payload``; None if it is this replica's own or cannot be read."""
        try:
            note = json.loads(payload)
            if note["o"] in self.hub.origins:  # this hub's own, whichever relay sent it
                return None
            body = note.get("e")
            if body is None:
                row = conn.execute(f"SELECT body FROM {TABLE} WHERE id = %s", (note["ref"],))
                found = row.fetchone()
                if found is None:
                    log.warning("live relay: event row %s is gone (pruned?)", note["ref"])
                    return None
                body = json.loads(found[0])
            return LiveEvent(str(body["kind"]), str(body["site_id"]), dict(body["data"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning(
                "live relay: a notification that is not an event (%s): %.200s", exc, payload
            )
            return None


def _insert_row(conn: psycopg.Connection[Any], body: str) -> int:
    row = conn.execute(
        f"INSERT INTO {TABLE} (created_at, body) VALUES (%s, %s) RETURNING id",
        (datetime.now(UTC), body),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _insert_row_in(session: Session, body: str) -> int:
    row = LiveEventRow(created_at=datetime.now(UTC), body=body)
    session.add(row)
    session.flush()
    return int(row.id)
