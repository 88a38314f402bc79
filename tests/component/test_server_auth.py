"""Logging in and out, sessions, CSRF and the login rate limit, on a real SQLite file."""

from __future__ import annotations

from tests.support.console_support import PASSWORD, Console, console_fixture  # noqa: F401


def test_login_sets_httponly_session_and_me_answers(console: Console) -> None:
    console.add_user("li.wei", "manager", ["north"], "zh-CN")
    r = console.client.post("/api/auth/login", json={"username": "li.wei", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "manager" and r.json()["language"] == "zh-CN"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("sw_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert not any(c.startswith("sw_csrf=") for c in cookies), "no token script could read"
    me = console.client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "li.wei"
    assert "alerts.workflow" in me.json()["capabilities"]


def test_wrong_password_and_unknown_user_get_the_same_answer(console: Console) -> None:
    console.add_user("li.wei", "manager", ["north"])
    wrong = console.client.post("/api/auth/login", json={"username": "li.wei", "password": "x"})
    unknown = console.client.post("/api/auth/login", json={"username": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert console.client.get("/api/auth/me").status_code == 401


def test_state_change_without_csrf_header_is_refused(console: Console) -> None:
    console.add_user("li.wei", "manager", ["north"])
    c = console.login("li.wei")
    ok = c.put("/api/auth/me/language", json={"language": "zh-CN"})
    assert ok.status_code == 200 and ok.json()["language"] == "zh-CN"
    del c.headers["X-CSRF-Token"]
    r = c.put("/api/auth/me/language", json={"language": "en"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    assert c.get("/api/auth/me").json()["language"] == "zh-CN"


def test_login_rate_limit_then_even_the_right_password_waits(console: Console) -> None:
    console.add_user("li.wei", "manager", ["north"])
    for _ in range(console.settings.login_attempts):
        r = console.client.post("/api/auth/login", json={"username": "li.wei", "password": "no"})
        assert r.status_code == 401
    r = console.client.post("/api/auth/login", json={"username": "li.wei", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "try again" in r.json()["detail"]


def test_logout_ends_the_session(console: Console) -> None:
    console.add_user("li.wei", "manager", ["north"])
    c = console.login("li.wei")
    token = c.cookies["sw_session"]
    assert c.post("/api/auth/logout").status_code == 204
    c.cookies.set("sw_session", token)  # a copy of the old cookie opens nothing any more
    r = c.get("/api/auth/me")
    assert r.status_code == 401 and "log in again" in r.json()["detail"]
