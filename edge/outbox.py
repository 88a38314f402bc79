"""A durable SQLite outbox: every alert is on disk before it is published, until the broker has it.

:meth:`Outbox.put` commits the message (WAL, ``synchronous=FULL``) before returning; a
:class:`Publisher` thread publishes pending rows in id order through a :class:`Transport` and
deletes a row only once the broker acknowledged it (PUBACK for QoS 1). While the broker is away
it retries forever with a capped backoff; rows left when the process stops are published by the
next process that opens the same file.

Delivery is at-least-once: a message whose PUBACK was lost (broker or process gone at the wrong
moment) is published again, so readers de-duplicate; the console keeps the highest ``seq`` of an
alert and treats a repeated ``(id, seq)`` as a no-op. Order is kept in normal running; a row
re-sent after a lost acknowledgement may arrive after younger rows.

Retained status topics do not belong here: they are state (the latest wins), published
directly; the outbox is for events that must not be lost (alerts, config results).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge.transport import Delivery, Transport

log = logging.getLogger(__name__)

ACK_POLL_S = 0.02
"""How often a publisher waiting for acknowledgements looks at them (a new row wakes it at
once)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (1, 2)),
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """Pending messages in one SQLite file; safe to use from several threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._added = threading.Event()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store a message durably and return its row id; the Publisher publishes it later.

        Raises ``sqlite3.Error`` (e.g. disk full) when the message could not be stored.
        """
        if qos not in (1, 2):
            raise ValueError(
                f"outbox messages need QoS 1 or 2 (acknowledged), got {qos}; "
                "publish QoS 0 messages directly"
            )
        if not topic or "+" in topic or "#" in topic:
            raise ValueError(f"outbox topic must be a concrete topic name, got {topic!r}")
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?,?,?,?,?)",
                (topic, payload, qos, int(retain), time.time()),
            )
        self._added.set()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending(self, limit: int = 100) -> list[Row]:
        """The oldest ``limit`` rows not yet acknowledged, in id order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [Row(i, t, bytes(p), q, bool(r)) for i, t, p, q, r in rows]

    def remove(self, ids: list[int]) -> None:
        """Forget acknowledged rows."""
        if ids:
            with self._lock:
                self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def depth(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def forget_added(self) -> None:
        """Start watching for new rows afresh (before reading :meth:`pending`)."""
        self._added.clear()

    def wait_added(self, timeout_s: float) -> bool:
        """True as soon as a row is put after the last :meth:`forget_added`; False after
        ``timeout_s`` without one."""
        return self._added.wait(timeout_s)

    def close(self) -> None:
        """Close the database; stop the :class:`Publisher` first."""
        with self._lock:
            self._db.close()


class Publisher:
    """A thread that drains an :class:`Outbox` through a :class:`Transport`, in id order.

    Up to ``window`` rows are in flight at once. A row is deleted when its delivery is
    acknowledged. A delivery still open is waited for, not re-sent (the transport may hold it
    over a reconnect), until ``resend_after_s`` passes. An abandoned delivery (not connected)
    ends the round; the next one starts after a backoff from ``retry_min_s`` doubling up to
    ``retry_max_s``, or at once after :meth:`wake`.
    """

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        *,
        window: int = 16,
        retry_min_s: float = 0.5,
        retry_max_s: float = 5.0,
        resend_after_s: float = 60.0,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.window = window
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.resend_after_s = resend_after_s
        self._in_flight: dict[int, tuple[Delivery, float]] = {}  # row id -> (delivery, sent at)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Retry now (e.g. from the transport's on_connect hook) instead of after the backoff."""
        self._wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty; False if rows are still pending after ``timeout_s``.

        Pending rows stay on disk either way; call on shutdown before :meth:`stop`.
        """
        deadline = time.monotonic() + timeout_s
        self.wake()
        while self.outbox.depth() > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self.retry_min_s
        while not self._stop.is_set():
            try:
                self.outbox.forget_added()
                rows = self.outbox.pending(self.window)
                if not rows:
                    self.outbox.wait_added(0.5)
                    continue
                if self._round(rows):
                    delay = self.retry_min_s
                    continue
                log.debug(
                    "outbox: %d row(s) wait for the broker; retry in %.1f s", len(rows), delay
                )
            except sqlite3.Error:  # e.g. disk full while deleting: keep the thread alive, retry
                log.exception("outbox database error in %s; retrying", self.outbox.path)
            self._wake.wait(delay)
            self._wake.clear()
            delay = min(delay * 2, self.retry_max_s)

    def _round(self, rows: list[Row]) -> bool:
        """Publish what is not in flight, then collect acks for up to 1 s, deleting the
        acknowledged rows; a row put meanwhile ends the wait, so that it goes out at once
        instead of queueing behind the acks (up to 0.4 s at 36 cameras; bench/RESULTS.md,
        "Outbox rounds").

        Returns False when the transport abandoned a publish (broker away).
        """
        online = True
        now = time.monotonic()
        for row in rows:
            held = self._in_flight.get(row.id)
            if held is not None and not held[0].abandoned and now - held[1] < self.resend_after_s:
                continue
            delivery = self.transport.publish(row.topic, row.payload, row.qos, row.retain)
            if delivery.abandoned:
                self._in_flight.pop(row.id, None)
                online = False
                break
            self._in_flight[row.id] = (delivery, now)
        deadline = now + 1.0
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or not any(self._open(row.id) for row in rows):
                break
            if self.outbox.wait_added(min(ACK_POLL_S, left)):
                break  # a new row: publish it now, collect these acks in the next round
        done = [row.id for row in rows if self._acknowledged(row.id)]
        for row_id in done:
            del self._in_flight[row_id]
        self.outbox.remove(done)
        return online

    def _open(self, row_id: int) -> bool:
        held = self._in_flight.get(row_id)
        return held is not None and not held[0].acknowledged and not held[0].abandoned

    def _acknowledged(self, row_id: int) -> bool:
        held = self._in_flight.get(row_id)
        return held is not None and held[0].acknowledged
