"""Where :class:`~sitewatch.console.domain.security.LoginLimiter` counts failed logins: in this
process (:class:`MemoryFailures`, the limiter alone) or in the database's ``login_failures``
table (:class:`TableFailures`, the console's: every replica on one PostgreSQL database counts
the same failures, so a limit holds however a proxy spreads the logins).

Both count a login under each of its keys at once or not at all (:meth:`count_or_refuse` is
atomic: across threads by a lock, across PostgreSQL replicas by an advisory lock per key, taken
in key order so two logins never wait on each other). Times are Unix seconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Final, Protocol

from sqlalchemy import delete, func, select

from sitewatch.console.store.db import Database, lock_key
from sitewatch.console.store.models import LoginFailure

PRUNE_EVERY_S: Final = 30.0
"""How often (seconds, per replica) rows older than the window are deleted from the table.
Counting ignores them anyway; the pruning only bounds the table: at most the failures of one
window (each one an argon2 check that ran, or a login waiting for one)."""

Refusal = tuple[int, float]
"""(index of the first key at its limit, time of that key's oldest failure in the window)."""


class Failures(Protocol):
    """Failed logins by key within a sliding window."""

    def count_or_refuse(
        self, keys: Sequence[str], limits: Sequence[int], attempt: str, now: float, window_s: float
    ) -> Refusal | None:
        """Count ``attempt`` as failed under every key, or, when a key has ``limits[i]``
        failures in the ``window_s`` seconds before ``now`` already, nothing: its refusal."""

    def take_back(self, attempt: str, at: float, keys: Sequence[str]) -> None:
        """Forget ``attempt`` (counted at ``at``) under ``keys``."""

    def forget(self, key: str) -> None:
        """Forget every failure of ``key`` (a success starts its pair afresh)."""

    def counters(self, now: float, window_s: float) -> int:
        """How many keys have failures in the window."""


class MemoryFailures:
    """Failures in this process: at most ``max_keys`` keys (the least recently failed go
    first), each a deque of its last ``limit`` failure times."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def count_or_refuse(
        self, keys: Sequence[str], limits: Sequence[int], attempt: str, now: float, window_s: float
    ) -> Refusal | None:
        with self._lock:
            self._forget_old(now - window_s)
            for i, (key, limit) in enumerate(zip(keys, limits, strict=True)):
                q = self._failures.get(key, deque())
                while q and q[0] <= now - window_s:
                    q.popleft()
                if len(q) >= limit:
                    return i, q[0]
            for key, limit in zip(keys, limits, strict=True):
                self._failures.setdefault(key, deque(maxlen=limit)).append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        return None

    def take_back(self, attempt: str, at: float, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                q = self._failures.get(key)
                if q is not None and at in q:
                    q.remove(at)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def counters(self, now: float, window_s: float) -> int:
        with self._lock:
            return len(self._failures)

    def _forget_old(self, cutoff: float) -> None:
        """Drop keys whose newest failure is at or before ``cutoff`` (oldest first)."""
        while self._failures:
            key, q = next(iter(self._failures.items()))
            if q and q[-1] > cutoff:
                return
            del self._failures[key]


class TableFailures:
    """Failures in the ``login_failures`` table of ``db``, shared by every replica on it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pruned_at = 0.0
        # SQLite (one process): a read then a write in two threads would race; PostgreSQL
        # replicas serialise on advisory locks instead, so this process's logins need not wait
        self._local: AbstractContextManager[object] = (
            nullcontext() if db.shared else threading.Lock()
        )

    def count_or_refuse(
        self, keys: Sequence[str], limits: Sequence[int], attempt: str, now: float, window_s: float
    ) -> Refusal | None:
        self._prune(now - window_s)
        with self._local, self.db.session() as s:
            if self.db.shared:
                for key in sorted(set(keys)):  # held until commit
                    s.execute(select(func.pg_advisory_xact_lock(lock_key(f"login|{key}"))))
            seen = {
                key: (count, oldest)
                for key, count, oldest in s.execute(
                    select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
                    .where(LoginFailure.key.in_(keys), LoginFailure.at > now - window_s)
                    .group_by(LoginFailure.key)
                )
            }
            for i, (key, limit) in enumerate(zip(keys, limits, strict=True)):
                count, oldest = seen.get(key, (0, now))
                if count >= limit:
                    return i, float(oldest)
            s.add_all(LoginFailure(key=key, attempt=attempt, at=now) for key in keys)
        return None

    def take_back(self, attempt: str, at: float, keys: Sequence[str]) -> None:
        with self.db.session() as s:
            s.execute(
                delete(LoginFailure).where(
                    LoginFailure.attempt == attempt, LoginFailure.key.in_(keys)
                )
            )

    def forget(self, key: str) -> None:
        with self.db.session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key == key))

    def counters(self, now: float, window_s: float) -> int:
        with self.db.session() as s:
            counted = s.scalar(
                select(func.count(func.distinct(LoginFailure.key))).where(
                    LoginFailure.at > now - window_s
                )
            )
        return int(counted or 0)

    def _prune(self, cutoff: float) -> None:
        if cutoff - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = cutoff
        with self.db.session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.at <= cutoff))
