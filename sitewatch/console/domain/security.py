"""Passwords (argon2id), session tokens and the login rate limit (its counts: in
:mod:`sitewatch.console.domain.login_failures`)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sitewatch.console.domain.login_failures import Failures, MemoryFailures, TableFailures

if TYPE_CHECKING:
    from sitewatch.console.settings import Settings
    from sitewatch.console.store.db import Database

_HASHER = PasswordHasher()
MIN_PASSWORD = 10
SESSION_COOKIE = "sw_session"
CSRF_COOKIE = "sw_csrf"
CSRF_HEADER = "X-CSRF-Token"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(
            f"password must have at least {MIN_PASSWORD} characters, got {len(password)}"
        )
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """A hash of a random password with the same parameters as the users': checking an
    unknown user name against it takes as long as checking a real user's password."""
    return _HASHER.hash(secrets.token_urlsafe(24))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Sessions are stored by the hash of their token: a leaked table opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """A login let through the limits: counted as failed (under its three keys) until
    :meth:`LoginLimiter.succeeded` takes it back."""

    keys: tuple[str, str, str]  # (user name, address) pair, address, user name
    at: float  # Unix seconds (time.time(): replicas share the failures) when it started
    ref: str  # names this login's failures (a random hex string)


class LoginRefused(Exception):
    """A login refused before its password is checked: ``busy`` (503, too many checks at
    once) or rate-limited (429); ``retry_after`` in seconds. ``first``: the first refusal of
    this pause (the one to audit: a row per refusal would let a flood fill the log)."""

    def __init__(
        self, detail: str, retry_after: float, *, busy: bool = False, first: bool = False
    ) -> None:
        super().__init__(detail)
        self.detail, self.retry_after, self.busy, self.first = detail, retry_after, busy, first


class LoginLimiter:
    """Failed logins within ``window_s`` seconds, counted three ways: per (user name, address)
    pair (``attempts``), per address over every user name (``per_address``), and per user name
    over every address (``per_user``). ``per_user`` is higher than ``attempts``, and one
    address adds at most ``attempts`` failures to a user name before its pair is paused, so
    an attacker at one address never locks the real user out from another one.

    A login is counted as failed when it starts (parallel requests cannot slip past the limit
    while their checks run) and taken back when it succeeds. At most ``checks`` argon2
    verifications run at once (each holds argon2's memory cost and a CPU); a login beyond that
    is refused at once (:class:`LoginRefused`, ``busy``) instead of queueing.

    The failures are counted in ``failures``: by default in this process (at most
    ``max_keys`` counters, the least recently failed go first); the console counts them in
    its database (:class:`~sitewatch.console.domain.login_failures.TableFailures`), so every
    replica sees the same counts. The bound on checks at once is per replica. Which refusal
    was the first of a pause (the one audited) is known per replica: with N replicas a pause
    is audited at most N times.
    """

    def __init__(
        self,
        attempts: int = 5,
        window_s: float = 300.0,
        *,
        per_address: int = 20,
        per_user: int = 50,
        checks: int = 4,
        max_keys: int = 50_000,
        failures: Failures | None = None,
    ) -> None:
        if per_user <= attempts:
            raise ValueError(
                f"the limit per user name ({per_user}) must be more than the one per user name "
                f"and address ({attempts}), or one address could lock a user out everywhere: "
                "raise login_attempts_per_user"
            )
        self.attempts, self.window_s = attempts, window_s
        self.per_address, self.per_user, self.checks = per_address, per_user, checks
        self.max_keys = max_keys
        self.failures: Failures = failures or MemoryFailures(max_keys)
        self._noted: OrderedDict[str, float] = OrderedDict()  # key -> the pause refused
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(checks)

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> LoginLimiter:
        """The limiter of ``settings``, counting in ``db``'s table when given."""
        return cls(
            settings.login_attempts,
            settings.login_window_s,
            per_address=settings.login_attempts_per_address,
            per_user=settings.login_attempts_per_user,
            checks=settings.login_checks_at_once,
            failures=None if db is None else TableFailures(db),
        )

    def start(self, username: str, address: str | None) -> Attempt:
        """Count a login of ``username`` from ``address`` as failed, or raise
        :class:`LoginRefused` (429) when one of the three limits is reached."""
        name, addr = username.lower(), (address or "?")[:100]
        keys = (f"pair|{name}|{addr}", f"addr|{addr}", f"user|{name}")
        now, ref = time.time(), secrets.token_hex(16)
        limits = (self.attempts, self.per_address, self.per_user)
        refused = self.failures.count_or_refuse(keys, limits, ref, now, self.window_s)
        if refused is None:
            return Attempt(keys, now, ref)
        i, oldest = refused
        wait = max(1.0, oldest + self.window_s - now)
        with self._lock:
            first = self._noted.get(keys[i]) != oldest
            self._noted[keys[i]] = oldest
            self._noted.move_to_end(keys[i])
            while len(self._noted) > self.max_keys:
                self._noted.popitem(last=False)
        why = self._reasons(username)[i]
        raise LoginRefused(f"{why}: try again in {wait:.0f} s", wait, first=first)

    @property
    def counters(self) -> int:
        """How many counters are kept now (in memory: at most ``max_keys``)."""
        return self.failures.counters(time.time(), self.window_s)

    def verify(self, attempt: Attempt, stored: str | None, password: str) -> bool:
        """``password`` checked against ``stored`` (an unknown user: :func:`dummy_hash`, the
        same work, then False); :class:`LoginRefused` (busy) if ``checks`` run already."""
        if not self._checks.acquire(blocking=False):
            # not checked: not a failure either
            self.failures.take_back(attempt.ref, attempt.at, attempt.keys)
            raise LoginRefused(
                f"{self.checks} logins are being checked right now: try again in a second",
                1.0,
                busy=True,
            )
        try:
            ok = verify_password(stored or dummy_hash(), password)
        finally:
            self._checks.release()
        return ok and stored is not None

    def succeeded(self, attempt: Attempt) -> None:
        """Take ``attempt`` back: its pair starts afresh, the other two counters lose it."""
        self.failures.forget(attempt.keys[0])
        with self._lock:
            self._noted.pop(attempt.keys[0], None)
        self.failures.take_back(attempt.ref, attempt.at, attempt.keys[1:])

    def _reasons(self, username: str) -> tuple[str, str, str]:
        return (
            f"too many failed logins for {username!r} from your address",
            "too many failed logins from your address",
            f"too many failed logins for {username!r} from several addresses (ask an admin "
            "if that was not you)",
        )
