"""A live stream ends with its session (issue 12, attack 7), through a real uvicorn: after a
logout, the user's disabling or a change of their sites it sends ``event: end`` and closes
within a few seconds; a change that grants nothing new (language) leaves it open; the page in
a real Chromium then shows the login.

Each stream is read with a 10 s timeout: a stream that did not end would only send a ping
after 15 s, so the test fails (ReadTimeout) instead of hanging.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sitewatch.console.api.routes import events as events_route
from sitewatch.console.events import LiveEvent
from sitewatch.console.store.models import User
from tests.component.test_server_events import _login, _messages, served  # noqa: F401
from tests.support.browser_support import browser_fixture, login, open_page  # noqa: F401
from tests.support.console_support import Console, add_users, console_fixture  # noqa: F401

CHECK_S = 0.5


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "SESSION_CHECK_SECONDS", CHECK_S)


def _publish_north(console: Console, n: int) -> None:
    hub = console.client.app.state.sitewatch.hub  # type: ignore[attr-defined]
    hub.publish(LiveEvent("alert", "north", {"id": f"north-{n}", "site_id": "north"}))


def _ends_after(
    console: Console, base: str, change: Callable[[httpx.Client], None]
) -> tuple[str, float]:
    """Open li.wei's stream, see an alert arrive, ``change`` (given li.wei's client), publish
    an alert every message; the end's reason and the seconds from the change to the end."""
    c = _login(base, "li.wei", timeout=10.0)
    with c.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        _publish_north(console, 0)
        assert next(m for m in got if m[0] != "comment")[0] == "alert"
        change(c)
        changed_at = time.monotonic()
        _publish_north(console, 1)
        for n, (kind, data) in enumerate(got, start=2):
            if kind == "end":
                ended_in = time.monotonic() - changed_at
                rest = list(got)  # the server closes the stream after the end
                assert rest == [], rest
                return json.loads(data)["reason"], ended_in
            assert time.monotonic() - changed_at < 10, "the stream went on 10 s after the change"
            time.sleep(0.05)
            _publish_north(console, n)
    raise AssertionError("the stream closed without an end event")


def test_the_stream_ends_after_logout(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
) -> None:
    add_users(console, ("li.wei", "manager", ["north"]))

    def logout(c: httpx.Client) -> None:
        c.post("/api/auth/logout").raise_for_status()

    reason, took = _ends_after(console, served, logout)
    assert reason == "session ended" and took < 5 * CHECK_S + 2, took


def test_the_stream_ends_when_an_admin_disables_the_user(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
    admin = _login(served, "admin")

    def disable(_: httpx.Client) -> None:
        admin.patch("/api/users/li.wei", json={"active": False}).raise_for_status()

    reason, took = _ends_after(console, served, disable)
    assert reason == "session ended" and took < 5 * CHECK_S + 2, took


def test_the_stream_ends_when_an_admin_changes_the_users_sites(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
    admin = _login(served, "admin")

    def move(_: httpx.Client) -> None:
        admin.patch("/api/users/li.wei", json={"sites": ["south"]}).raise_for_status()

    reason, took = _ends_after(console, served, move)
    assert reason == "session ended" and took < 5 * CHECK_S + 2, took


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("active", False, "account disabled"), ("role", "police", "access changed"),
     ("cameras", ["north/gate"], "access changed")],
)  # fmt: skip
def test_the_stream_checks_the_user_itself_not_only_the_session(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
    column: str,
    value: object,
    reason: str,
) -> None:
    """A change written to the database by something other than this console's API (a second
    console process, an operator's SQL) ends no session: the stream notices it by itself."""
    add_users(console, ("li.wei", "manager", ["north"]))
    db = console.client.app.state.sitewatch.db  # type: ignore[attr-defined]

    def change(_: httpx.Client) -> None:
        with db.session() as s:
            user = s.query(User).filter_by(username="li.wei").one()
            setattr(user, column, value)

    got, took = _ends_after(console, served, change)
    assert got == reason and took < 5 * CHECK_S + 2, took


def test_a_change_that_grants_nothing_leaves_the_stream_open(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
    admin = _login(served, "admin")
    c = _login(served, "li.wei", timeout=10.0)
    with c.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        admin.patch("/api/users/li.wei", json={"language": "zh-CN"}).raise_for_status()
        time.sleep(4 * CHECK_S)  # several checks pass
        _publish_north(console, 1)
        assert next(m for m in got if m[0] != "comment") == (
            "alert",
            json.dumps({"id": "north-1", "site_id": "north"}, separators=(",", ":")),
        )


def test_the_page_shows_the_login_when_its_stream_ends(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
    browser: Any,
) -> None:
    """Real Chromium: an admin disables the user while the console is open; the stream's end
    makes the page sign out (not retry a dead session every 3 s)."""
    add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served, "li.wei")
    admin = _login(served, "admin")
    admin.patch("/api/users/li.wei", json={"active": False}).raise_for_status()
    page.wait_for_selector("body[data-ready='1'] #username", timeout=5_000)
    assert page.locator("header.top").count() == 0
    page.wait_for_selector("body[data-live=off]")
    context.close()
    assert errors == [], errors
