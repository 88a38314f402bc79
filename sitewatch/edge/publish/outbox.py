"""A durable SQLite outbox: every alert is on disk before it is published, until the broker has it.

:meth:`Outbox.put` commits the message (WAL, ``synchronous=FULL``) before returning; a
:class:`Publisher` thread publishes pending rows in id order through a :class:`Transport` and
deletes a row only once the broker acknowledged it (PUBACK, QoS 1), retrying forever with a
capped backoff; rows left at exit are published by the next process on the same file.
Delivery is at-least-once (readers de-duplicate on ``(id, seq)``).

Evidence rows hold a file's path, size and SHA-256; the bytes are read when the row's turn
comes, and a file gone or changed by then is dropped and counted (:attr:`Outbox.dropped`).
Waiting evidence is capped (``max_evidence_bytes``): the oldest evidence goes first, alert
messages never. On a full disk ``put`` does not raise: rows wait in memory (at most
``spill_rows``) and are stored once the database takes rows again. Retained status topics are
not sent through here. Why, and the full-disk details: docs/design/outbox.md.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from sitewatch.edge.publish.transport import Delivery, Transport

log = logging.getLogger(__name__)

ACK_POLL_S = 0.02
"""How often a publisher waiting for acknowledgements looks at them (a new row wakes it at
once)."""

SPILL_ROWS = 1000
"""Rows kept in memory while the database cannot take them (an alert message is ~1 kB)."""

MAX_EVIDENCE_BYTES = 2_000_000_000
"""Default cap on the bytes of evidence files waiting in the outbox (``outbox.max_evidence_mb``)."""

UNSPILL_EVERY_S = 1.0
"""How often rows kept in memory are tried into the database again."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (1, 2)),
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL,
    file_path TEXT,
    size_bytes INTEGER,
    sha256 TEXT
)
"""
_FILE_COLUMNS = {"file_path": "TEXT", "size_bytes": "INTEGER", "sha256": "TEXT"}
"""Added in 2026-12 (evidence by reference); a file made before gets them on open."""


class EvidenceGone(Exception):
    """An evidence row whose file cannot be sent as listed; ``reason`` is its counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Row:
    """One pending message. ``id`` < 0: kept in memory (the disk was full). An evidence row
    has ``file`` (with its ``size_bytes`` and ``sha256``) and an empty ``payload``."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    file: Path | None = None
    size_bytes: int = 0
    sha256: str = ""

    def load(self) -> bytes:
        """The bytes to publish: the payload, or the evidence file read now.

        Raises :class:`EvidenceGone` when the file is missing, unreadable, or not the one listed
        (another size or SHA-256).
        """
        if self.file is None:
            return self.payload
        data = b"".join(self._blocks())
        self._same(len(data), hashlib.sha256(data).hexdigest())
        return data

    def check_file(self) -> None:
        """:class:`EvidenceGone` unless the evidence file is there as listed (read in blocks,
        for a sender that streams it)."""
        digest, size = hashlib.sha256(), 0
        for block in self._blocks():
            size += len(block)
            digest.update(block)
        self._same(size, digest.hexdigest())

    def _blocks(self) -> Iterator[bytes]:
        assert self.file is not None, "an evidence row's file is read"
        try:
            with self.file.open("rb") as f:
                while block := f.read(1 << 20):
                    yield block
        except FileNotFoundError:
            raise EvidenceGone(
                "evidence gone", f"{self.file} was deleted before it was sent"
            ) from None
        except OSError as exc:
            raise EvidenceGone("evidence unreadable", f"{self.file} is unreadable: {exc}") from None

    def _same(self, size: int, sha: str) -> None:
        if size != self.size_bytes or sha != self.sha256:
            raise EvidenceGone(
                "evidence changed",
                f"{self.file} changed since it was listed: {size} bytes with SHA-256 "
                f"{sha[:12]}..., expected {self.size_bytes} bytes with {self.sha256[:12]}...",
            )


class Outbox:
    """Pending messages in one SQLite file (and, while the disk is full, in memory); safe to
    use from several threads. ``dropped`` counts rows given up, by reason."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_evidence_bytes: int = MAX_EVIDENCE_BYTES,
        spill_rows: int = SPILL_ROWS,
    ) -> None:
        if max_evidence_bytes <= 0 or spill_rows <= 0:
            raise ValueError(
                f"the outbox needs a positive evidence cap and spill size, got "
                f"max_evidence_bytes={max_evidence_bytes}, spill_rows={spill_rows}"
            )
        self.path = Path(path)
        self.max_evidence_bytes, self.spill_rows = max_evidence_bytes, spill_rows
        self.dropped: Counter[str] = Counter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._added = threading.Event()
        self._spill: deque[Row] = deque()
        self._next_spill_id = -1
        self._unspill_at = 0.0  # monotonic: no retry before
        self._deleting: set[int] = set()  # acknowledged, but the delete failed: hidden
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
        for column, kind in _FILE_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store a message durably and return its row id; the Publisher publishes it later.

        On a full disk the row is kept in memory instead (a negative id; see the module doc).
        Raises ``sqlite3.Error`` for other database failures (e.g. a corrupt file).
        """
        _check(topic, qos)
        return self._store(Row(0, topic, payload, qos, retain))

    def put_file(self, topic: str, path: Path, size_bytes: int, sha256: str, qos: int = 1) -> int:
        """Queue the evidence file at ``path`` by reference: the publisher reads it when it
        sends, and drops the row if it is gone or no longer ``size_bytes`` with ``sha256``.
        Then drops the oldest evidence rows beyond ``max_evidence_bytes``."""
        _check(topic, qos)
        row_id = self._store(Row(0, topic, b"", qos, False, Path(path), size_bytes, sha256))
        self._cap()
        return row_id

    def pending(self, limit: int = 100, files: bool | None = None) -> list[Row]:
        """The oldest ``limit`` rows not yet acknowledged: stored ones in id order, then those
        kept in memory; only evidence rows (``files`` True) or only messages (False)."""
        where = {None: "", True: "WHERE file_path IS NOT NULL ", False: "WHERE file_path IS NULL "}
        with self._lock:
            got = self._db.execute(
                "SELECT id, topic, payload, qos, retain, file_path, size_bytes, sha256 "
                f"FROM outbox {where[files]}ORDER BY id LIMIT ?",
                (limit + len(self._deleting),),
            ).fetchall()
            rows = [
                Row(i, t, bytes(p), q, bool(r), Path(f) if f else None, n or 0, s or "")
                for i, t, p, q, r, f, n, s in got
                if i not in self._deleting
            ][:limit]
            spilled = [r for r in self._spill if files is None or (r.file is not None) == files]
            rows += spilled[: limit - len(rows)]
        return rows

    def remove(self, ids: list[int]) -> None:
        """Forget acknowledged rows (a delete the disk refuses is retried later)."""
        with self._lock:
            gone = {i for i in ids if i < 0}
            if gone:
                self._spill = deque(r for r in self._spill if r.id not in gone)
            self._delete([i for i in ids if i > 0])

    def drop(self, row: Row, reason: str, why: str) -> None:
        """Give up ``row`` (counted under ``reason``; ``why`` goes to the log)."""
        log.warning("outbox: dropped %s: %s", row.topic, why)
        self.dropped[reason] += 1
        self.remove([row.id])

    def depth(self) -> int:
        """Rows not yet acknowledged, stored or in memory."""
        with self._lock:
            if self._deleting:
                ids = {i for (i,) in self._db.execute("SELECT id FROM outbox")}
                count = len(ids - self._deleting)
            else:
                (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            return int(count) + len(self._spill)

    def settle(self) -> None:
        """Retry what a full disk held back: deletes of acknowledged rows, rows in memory."""
        with self._lock:
            if self._deleting:
                self._delete([])
            if self._spill:
                self._unspill()

    def forget_added(self) -> None:
        """Start watching for new rows afresh (before reading :meth:`pending`)."""
        self._added.clear()

    def wait_added(self, timeout_s: float) -> bool:
        """True as soon as a row is put after the last :meth:`forget_added`; False after
        ``timeout_s`` without one."""
        return self._added.wait(timeout_s)

    def close(self) -> None:
        """Store the rows kept in memory if the disk allows, then close the database; stop the
        :class:`Publisher` first."""
        with self._lock:
            self._unspill_at = 0.0
            if self._spill and not self._unspill():
                log.error(
                    "outbox %s: %d message(s) kept in memory are lost: the disk is still full",
                    self.path, len(self._spill),
                )  # fmt: skip
            self._db.close()

    # -- under the lock ------------------------------------------------------------------
    def _store(self, row: Row) -> int:
        with self._lock:
            row_id = None
            if self._unspill():
                try:
                    row_id = self._insert(row)
                except sqlite3.OperationalError as exc:
                    log.warning(
                        "outbox %s cannot store rows (%s): keeping up to %d in memory, published "
                        "from there and stored once the disk has room; free disk space",
                        self.path, exc, self.spill_rows,
                    )  # fmt: skip
                    self._unspill_at = time.monotonic() + UNSPILL_EVERY_S
            if row_id is None:
                row_id = self._to_spill(row)
        self._added.set()
        return row_id

    def _insert(self, row: Row) -> int:
        f = row.file
        cursor = self._db.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, created_at, file_path, size_bytes, "
            "sha256) VALUES (?,?,?,?,?,?,?,?)",
            (row.topic, row.payload, row.qos, int(row.retain), time.time(),
             str(f) if f else None, row.size_bytes if f else None, row.sha256 if f else None),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _unspill(self) -> bool:
        """Store the rows kept in memory, all or none, in order; True when none are left."""
        if not self._spill:
            return True
        if time.monotonic() < self._unspill_at:
            return False
        try:
            self._db.execute("BEGIN")
            for row in self._spill:
                self._insert(row)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.OperationalError):
                raise
            self._unspill_at = time.monotonic() + UNSPILL_EVERY_S
            return False
        log.warning(
            "outbox %s takes rows again: stored %d kept in memory", self.path, len(self._spill)
        )
        self._spill.clear()
        return True

    def _to_spill(self, row: Row) -> int:
        if len(self._spill) >= self.spill_rows:
            victim = next((r for r in self._spill if r.file is not None), self._spill[0])
            self._spill.remove(victim)
            what = "evidence" if victim.file is not None else "message"
            self.dropped[f"memory full: {what}"] += 1
            log.warning(
                "outbox: dropped %s %s, the oldest %s kept in memory: the disk is full and "
                "%d rows wait there",
                what, victim.topic, what, self.spill_rows,
            )  # fmt: skip
        row = replace(row, id=self._next_spill_id)
        self._next_spill_id -= 1
        self._spill.append(row)
        return row.id

    def _delete(self, ids: list[int]) -> None:
        todo = sorted(self._deleting.union(ids))
        if not todo:
            return
        try:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in todo])
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.OperationalError):
                raise
            if not self._deleting:
                log.warning("outbox %s cannot delete sent rows (%s); retrying", self.path, exc)
            self._deleting.update(todo)
            return
        self._deleting.clear()

    def _cap(self) -> None:
        """Drop the oldest stored evidence rows while their files total over the cap."""
        with self._lock:
            files = self._db.execute(
                "SELECT id, topic, size_bytes FROM outbox WHERE file_path IS NOT NULL ORDER BY id"
            ).fetchall()
            files = [f for f in files if f[0] not in self._deleting]
            over = sum(size for _, _, size in files) - self.max_evidence_bytes
            victims = []
            for row_id, topic, size in files:
                if over <= 0:
                    break
                victims.append(row_id)
                over -= size
                log.warning(
                    "outbox: dropped evidence %s (%d bytes), the oldest waiting: the evidence "
                    "waiting to be sent passed the cap of %.0f MB (outbox.max_evidence_mb); alert "
                    "messages are kept",
                    topic, size, self.max_evidence_bytes / 1e6,
                )  # fmt: skip
            if victims:
                self.dropped["evidence over the cap"] += len(victims)
                self._delete(victims)


def _check(topic: str, qos: int) -> None:
    if qos not in (1, 2):
        raise ValueError(
            f"outbox messages need QoS 1 or 2 (acknowledged), got {qos}; "
            "publish QoS 0 messages directly"
        )
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"outbox topic must be a concrete topic name, got {topic!r}")


class EvidenceLane(Protocol):
    """A sender that takes the outbox's evidence rows off the broker (sitewatch.edge.publish.
    evidence_upload): while it is ``ready`` the :class:`Publisher` sends messages only."""

    def ready(self) -> bool: ...
    def start(self) -> object: ...
    def wake(self) -> None: ...
    def stop(self, timeout_s: float = 5.0) -> None: ...


class Publisher:
    """A thread that drains an :class:`Outbox` through a :class:`Transport`, in id order.

    Up to ``window`` rows are in flight at once. A row is deleted when its delivery is
    acknowledged. A delivery still open is waited for, not re-sent (the transport may hold it
    over a reconnect), until ``resend_after_s`` passes. An abandoned delivery (not connected)
    ends the round; the next one starts after a backoff from ``retry_min_s`` doubling up to
    ``retry_max_s``, or at once after :meth:`wake`. An evidence row's file is read when it is
    published (:meth:`Row.load`); one gone or changed is dropped, not sent. Each loop first
    retries what a full disk held back (:meth:`Outbox.settle`). With an ``evidence`` lane that
    is ready, evidence rows are its (over HTTP) and this thread publishes the messages only;
    it is started, woken and stopped with this one.
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
        evidence: EvidenceLane | None = None,
    ) -> None:
        self.outbox = outbox
        self.evidence = evidence
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
        if self.evidence is not None:
            self.evidence.start()
        return self

    def wake(self) -> None:
        """Retry now (e.g. from the transport's on_connect hook) instead of after the backoff."""
        self._wake.set()
        if self.evidence is not None:
            self.evidence.wake()

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
        if self.evidence is not None:
            self.evidence.stop(timeout_s)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self.retry_min_s
        while not self._stop.is_set():
            try:
                self.outbox.settle()
                self.outbox.forget_added()
                lane = self.evidence is not None and self.evidence.ready()
                rows = self.outbox.pending(self.window, files=False if lane else None)
                if not rows:
                    self.outbox.wait_added(0.5)
                    continue
                if self._round(rows):
                    delay = self.retry_min_s
                    continue
                log.debug(
                    "outbox: %d row(s) wait for the broker; retry in %.1f s", len(rows), delay
                )
            except sqlite3.Error:  # e.g. a corrupt file: keep the thread alive, retry
                log.exception("outbox database error in %s; retrying", self.outbox.path)
            self._wake.wait(delay)
            self._wake.clear()
            delay = min(delay * 2, self.retry_max_s)

    def _round(self, rows: list[Row]) -> bool:
        """Publish what is not in flight, then collect acks for up to 1 s, deleting the
        acknowledged rows; a row put meanwhile ends the wait, so that it goes out at once
        instead of queueing behind the acks (bench/RESULTS.md, "Edge throughput", "Outbox
        rounds").

        Returns False when the transport abandoned a publish (broker away).
        """
        online = True
        now = time.monotonic()
        for row in rows:
            held = self._in_flight.get(row.id)
            if held is not None and not held[0].abandoned and now - held[1] < self.resend_after_s:
                continue
            if row.file is not None and self.evidence is not None and self.evidence.ready():
                continue  # the evidence lane became ready since the rows were read: its row
            try:
                payload = row.load()
            except EvidenceGone as gone:
                self._in_flight.pop(row.id, None)
                self.outbox.drop(row, gone.reason, str(gone))
                continue
            delivery = self.transport.publish(row.topic, payload, row.qos, row.retain)
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
