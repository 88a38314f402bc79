"""Login limiting (issue 12, attack 8) against a real uvicorn on loopback, with clients at
different addresses of 127.0.0.0/8: argon2 checks bounded in parallel, many user names from
one address paused, the real user never locked out from another address by one attacker,
unknown user names checked against a hash like the real ones, every failed login audited.
The failures are counted in the database (shared by replicas, issue 16): the tests marked
``database_url`` run on SQLite and on PostgreSQL.

The argon2 function is wrapped (not replaced) to count the checks: the real argon2 runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import argon2
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from sitewatch.console.app import create_app
from sitewatch.console.domain import security
from sitewatch.console.domain.login_failures import TableFailures
from sitewatch.console.domain.security import LoginLimiter
from sitewatch.console.store.db import Database, migrate
from sitewatch.console.store.models import LoginFailure
from tests.component.test_server_events import _free_port
from tests.support.console_support import PASSWORD, Console, add_users, make_settings
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


class Checks:
    """Counts calls of :func:`sitewatch.console.domain.security.verify_password` and how many ran at
    once."""

    def __init__(self, real: Callable[[str, str], bool]) -> None:
        self.real, self.calls, self.running, self.most = real, 0, 0, 0
        self.hashes: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, stored: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
            self.hashes.append(stored)
        try:
            return self.real(stored, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    counter = Checks(security.verify_password)
    monkeypatch.setattr(security, "verify_password", counter)
    return counter


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the test's folder), then a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextmanager
def serve(
    tmp_path: Path, url: str | None = None, /, **limits: float
) -> Iterator[tuple[Console, str]]:
    """A console on ``url`` (None: SQLite) with ``limits`` (Settings fields) served by
    uvicorn; (console, base URL)."""
    settings = make_settings(tmp_path, url, **limits)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.05)
        try:
            yield console, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(30)


def _client(base: str, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from ``address`` (any 127.x.y.z is this machine)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=60)


def _login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    return c.post("/api/auth/login", json={"username": username, "password": password})


def _parallel(base: str, n: int, username: str = "li.wei") -> list[httpx.Response]:
    """``n`` wrong passwords for ``username`` sent at the same moment from 127.0.0.1."""
    start = threading.Barrier(n)
    out: list[httpx.Response] = []

    def one() -> None:
        with _client(base) as c:
            start.wait()
            out.append(_login(c, username, "not-the-password"))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == n, f"{n - len(out)} requests got no answer"
    return out


def test_parallel_checks_are_bounded_and_the_rest_refused_at_once(
    tmp_path: Path, checks: Checks
) -> None:
    """Limits raised out of the way: only the bound on parallel argon2 checks is left."""
    limits = {"login_attempts": 500, "login_attempts_per_address": 1000}
    with serve(tmp_path, **limits, login_attempts_per_user=1000, login_checks_at_once=2) as (
        _,
        base,
    ):
        got = _parallel(base, 60)
    codes = [r.status_code for r in got]
    assert set(codes) <= {401, 503}, codes
    assert checks.most <= 2, f"{checks.most} argon2 checks ran at once, the bound is 2"
    assert codes.count(401) == checks.calls >= 1
    busy = [r for r in got if r.status_code == 503]
    assert busy, "60 logins at once with 2 checks allowed: some should have been refused"
    assert int(busy[0].headers["Retry-After"]) >= 1 and "try again" in busy[0].json()["detail"]


def test_parallel_wrong_passwords_run_no_more_checks_than_the_limit(
    tmp_path: Path, checks: Checks, database_url: str | None
) -> None:
    with serve(tmp_path, database_url) as (console, base):
        got = _parallel(base, 60)
        codes = [r.status_code for r in got]
        assert checks.calls <= console.settings.login_attempts, checks.calls
        assert codes.count(401) == checks.calls and set(codes) <= {401, 429, 503}, codes


def test_many_user_names_from_one_address_are_paused_the_real_user_logs_in_elsewhere(
    tmp_path: Path, checks: Checks
) -> None:
    with serve(tmp_path) as (console, base):
        per_address = console.settings.login_attempts_per_address
        attacker, user = _client(base, "127.0.0.1"), _client(base, "127.0.0.2")
        codes = [_login(attacker, f"guess{i}", "not-the-password").status_code for i in range(300)]
        assert codes[:per_address] == [401] * per_address
        assert codes[per_address:] == [429] * (300 - per_address)
        assert checks.calls == per_address  # the paused ones cost no argon2 check
        r = _login(attacker, "li.wei", PASSWORD)
        assert r.status_code == 429 and "from your address" in r.json()["detail"]
        assert _login(user, "li.wei", PASSWORD).status_code == 200


def test_an_attacker_at_one_address_cannot_lock_the_user_out_from_another(
    tmp_path: Path, checks: Checks
) -> None:
    with serve(tmp_path) as (console, base):
        attacker = _client(base, "127.0.0.1")
        codes = [_login(attacker, "li.wei", "not-the-password").status_code for _ in range(30)]
        attempts = console.settings.login_attempts
        assert codes == [401] * attempts + [429] * (30 - attempts)
        for address in ("127.0.0.2", "127.0.0.3"):
            assert _login(_client(base, address), "li.wei", PASSWORD).status_code == 200
        r = _login(attacker, "li.wei", PASSWORD)  # its own pair stays paused
        assert r.status_code == 429 and "li.wei" in r.json()["detail"]


def test_one_user_name_from_many_addresses_is_paused_everywhere(
    tmp_path: Path, checks: Checks, database_url: str | None
) -> None:
    with serve(tmp_path, database_url, login_attempts=2, login_attempts_per_user=4) as (_, base):
        for address in ("127.0.0.1", "127.0.0.2"):
            c = _client(base, address)
            assert [_login(c, "li.wei", "nope").status_code for _ in range(3)] == [401, 401, 429]
        r = _login(_client(base, "127.0.0.3"), "li.wei", PASSWORD)
        assert r.status_code == 429 and "several addresses" in r.json()["detail"]
        assert checks.calls == 4


def test_the_per_user_limit_must_be_above_the_per_pair_limit() -> None:
    with pytest.raises(ValueError, match="login_attempts_per_user"):
        LoginLimiter(5, 300.0, per_user=5)


def test_the_counters_stay_bounded_under_a_flood_of_names_and_addresses() -> None:
    limiter = LoginLimiter(5, 300.0, per_address=20, per_user=50, max_keys=300)
    for i in range(1000):  # 1000 addresses, a new name each: 3 counters a login
        limiter.start(f"name{i}", f"10.0.{i // 250}.{i % 250}")
    assert limiter.counters == 300
    limiter = LoginLimiter(5, 300.0, per_address=20, per_user=50)
    for i in range(20):
        limiter.start(f"guess{i}", "10.9.9.9")
    assert limiter.counters == 20 + 1 + 20  # pairs, the address, the names
    for i in range(500):  # paused: refused before anything is counted
        with pytest.raises(security.LoginRefused, match="from your address"):
            limiter.start(f"more{i}", "10.9.9.9")
    assert limiter.counters == 41


def test_unknown_and_disabled_users_cost_the_same_argon2_check(
    tmp_path: Path, checks: Checks
) -> None:
    with serve(tmp_path) as (console, base):
        c = _client(base)
        assert _login(c, "li.wei", "not-the-password").status_code == 401
        assert _login(c, "nobody", "not-the-password").status_code == 401
        admin = console.login("admin")
        assert admin.patch("/api/users/li.wei", json={"active": False}).status_code == 200
        assert _login(c, "li.wei", PASSWORD).status_code == 401
    assert checks.calls == 4  # the third is the admin's login
    real, unknown, disabled = checks.hashes[0], checks.hashes[1], checks.hashes[3]
    assert unknown != real and disabled == real
    # the dummy hash is made with the same argon2 parameters: the same work
    assert argon2.extract_parameters(unknown) == argon2.extract_parameters(real)


def test_every_failed_login_is_in_the_audit_log(
    tmp_path: Path, checks: Checks, database_url: str | None
) -> None:
    """Each failed check has its row; of the refusals of a pause only the first (a flood of
    refused requests writes no more)."""
    with serve(tmp_path, database_url) as (console, base):
        c = _client(base, "127.0.0.5")
        assert _login(c, "nobody", "not-the-password").status_code == 401
        codes = [_login(c, "li.wei", "not-the-password").status_code for _ in range(9)]
        assert codes == [401] * 5 + [429] * 4
        rows = console.login("admin").get("/api/audit", params={"action": "login_failed"}).json()
    got = [(r["username"], r["object_id"], r["detail"], r["client"]) for r in rows]
    assert got.count(("li.wei", "li.wei", "wrong password", "127.0.0.5")) == 5
    assert got.count(("nobody", "nobody", "unknown user", "127.0.0.5")) == 1
    paused = [row for row in got if row[2].startswith("paused:")]
    assert len(paused) == 1 and len(got) == 7, got
    assert paused[0][:2] == ("li.wei", "li.wei") and "from your address" in paused[0][2]


def test_failures_in_the_table_are_shared_taken_back_and_pruned(
    tmp_path: Path, database_url: str | None
) -> None:
    """Two limiters on one database (as two replicas) count the same failures; a success
    takes its login back; rows out of the window are deleted at the next start."""
    db = Database(database_url or f"sqlite:///{tmp_path / 'console.db'}")
    migrate(db.engine)
    try:
        a, b = (LoginLimiter(2, 300.0, per_user=3, failures=TableFailures(db)) for _ in "ab")
        a.start("li.wei", "10.0.0.1")
        ok = b.start("li.wei", "10.0.0.1")
        with pytest.raises(security.LoginRefused, match="from your address") as refused:
            a.start("li.wei", "10.0.0.1")
        assert refused.value.first and 290 <= refused.value.retry_after <= 300
        assert a.counters == b.counters == 3  # the pair, the address, the user name
        b.succeeded(ok)  # the pair starts afresh, the other two lose one failure
        a.start("li.wei", "10.0.0.1")
        b.start("li.wei", "10.0.0.2")  # li.wei's third failure in the window
        with pytest.raises(security.LoginRefused, match="several addresses"):
            a.start("li.wei", "10.0.0.3")
        with db.session() as s:
            s.execute(update(LoginFailure).values(at=LoginFailure.at - 400))  # 400 s ago
        c = LoginLimiter(2, 300.0, per_user=3, failures=TableFailures(db))  # a new replica
        c.start("li.wei", "10.0.0.1")  # prunes first: a new limiter has not pruned yet
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(LoginFailure)) == 3
    finally:
        db.close()
