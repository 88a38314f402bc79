"""The console replicas on one PostgreSQL database (docs/design/replicas.md, "Uploads to the
replica that asked").

Each replica that knows its own address (``replica_url``) writes a ``console_replicas`` row at
start: an id made afresh at each start (so a restarted replica is a new one, and what the old
one kept in memory is known to be gone), the address, and ``seen_at``, renewed every
:data:`HEARTBEAT_S` by a thread. A replica is alive while its ``seen_at`` is less than
:data:`ALIVE_S` old (the replicas' clocks agree within a few seconds: NTP); it deletes its row
when it stops, and rows of replicas gone :data:`FORGET_S` are deleted by whoever beats next.
Times: the replicas' wall clocks (UTC); durations in seconds.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import delete, func, select

from sitewatch.console.store.db import Database
from sitewatch.console.store.models import ConsoleReplica

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
ALIVE_S = 20.0
"""A replica not seen for this long is gone (4 missed heartbeats)."""
FORGET_S = 3600.0
LOOKUP_CACHE_S = 2.0
"""How long an answer of :meth:`Registry.url_of` is reused (a live session asks per fragment)."""


class Registry:
    """This replica's row, kept alive; and where the other live replicas are."""

    def __init__(self, db: Database, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected this replica's address as http(s)://host:port, got {url!r}")
        self.db, self.url = db, url.rstrip("/")
        self.id = uuid4().hex[:16]
        self.started_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None]] = {}

    def start(self) -> None:
        """Write this replica's row (raises if the database refuses), then beat in a thread."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name="replica-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and delete this replica's row (what it kept in memory is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HEARTBEAT_S + 5.0)
        try:
            with self.db.session() as s:
                s.execute(delete(ConsoleReplica).where(ConsoleReplica.id == self.id))
        except Exception as exc:  # the database is gone: the row dies of age
            log.warning("replica %s: its row not deleted: %s", self.id, exc)

    def beat(self) -> None:
        """This replica is alive now; rows of replicas gone :data:`FORGET_S` go."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(ConsoleReplica, self.id)
            if row is None:
                s.add(ConsoleReplica(id=self.id, url=self.url, started_at=self.started_at,
                                     seen_at=now))  # fmt: skip
            else:
                row.seen_at = now
            s.execute(
                delete(ConsoleReplica).where(
                    ConsoleReplica.seen_at < now - timedelta(seconds=FORGET_S)
                )
            )

    def url_of(self, replica_id: str) -> str | None:
        """The address of live replica ``replica_id`` (this one's too), None if it is gone or
        unknown; answers are reused for :data:`LOOKUP_CACHE_S`."""
        now = clock.monotonic()
        with self._lock:
            hit = self._cache.get(replica_id)
        if hit is not None and now - hit[0] < LOOKUP_CACHE_S:
            return hit[1]
        alive = datetime.now(UTC) - timedelta(seconds=ALIVE_S)
        with self.db.session() as s:
            url = s.scalar(
                select(ConsoleReplica.url).where(
                    ConsoleReplica.id == replica_id, ConsoleReplica.seen_at >= alive
                )
            )
        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[replica_id] = (now, url)
        return url

    def oldest_start(self) -> datetime:
        """When the longest-running live replica started (this one at the latest): work
        asked for before it ran on a replica that is gone."""
        alive = datetime.now(UTC) - timedelta(seconds=ALIVE_S)
        with self.db.session() as s:
            oldest = s.scalar(
                select(func.min(ConsoleReplica.started_at)).where(ConsoleReplica.seen_at >= alive)
            )
        return min(oldest, self.started_at) if oldest is not None else self.started_at

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except Exception as exc:  # the database is away: try again at the next beat
                log.warning("replica %s: heartbeat not written: %s", self.id, exc)


SERVICE = "replicas.registry"
"""``AppState.services`` key of the running app's :class:`Registry` (absent: none runs)."""
PARAM = "replica"
"""The query parameter of a video command's ``upload_url`` that names the replica that asked."""
