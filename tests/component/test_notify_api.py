"""The notification API: routes (admins; secrets masked; scoped), the delivery log (admins
and managers, scoped), and the overdue alerts (督查)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.store.models import AuditEntry, Notification, NotifyRoute
from tests.support.console_support import Console, add_users, make_settings, seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers


@pytest.fixture(name="console")
def console_fixture(tmp_path: Path) -> Iterator[Console]:
    settings = make_settings(tmp_path, notify_poll_s=0)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        add_users(
            console,
            ("root", "admin", ["*"]),
            ("north.admin", "admin", ["north"]),
            ("li.wei", "manager", ["north"]),
            ("op", "operator", ["north"]),
            ("police", "police", ["north"]),
        )
        yield console


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers(dingtalk_secret="SEC-ding"))


def ding(rx: Receivers, **extra: object) -> dict[str, object]:
    return {
        "name": "north safety group",
        "channel": "dingtalk",
        "target": {"url": f"{rx.base}/dingtalk?access_token=tok123456", "secret": "SEC-ding"},
        "sites": ["north"],
        **extra,
    }


def test_an_admin_keeps_routes_and_never_sees_their_secrets_again(
    console: Console, rx: Receivers
) -> None:
    admin = console.login("north.admin")
    r = admin.post("/api/notify/routes", json=ding(rx, hours="07:00-19:00", rules=["no_helmet"]))
    assert r.status_code == 201, r.text
    route = r.json()
    assert route["target"]["secret"] == "********"
    assert route["target"]["url"].endswith("access_token=tok1…")
    assert (route["level"], route["rate_per_min"], route["language"]) == (1, 20, "zh-CN")
    change = ding(rx, level=2, name="project manager")
    del change["target"]
    r = admin.put(f"/api/notify/routes/{route['id']}", json=change)
    assert r.status_code == 200, r.text
    with console.state.db.session() as s:
        stored = s.get(NotifyRoute, route["id"])
        assert stored is not None
        assert (stored.level, stored.target["secret"]) == (2, "SEC-ding"), "target kept"
    assert [x["name"] for x in admin.get("/api/notify/routes").json()] == ["project manager"]
    with console.state.db.session() as s:
        saved = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "notify_route")).all()
    assert len(saved) == 2 and all("SEC-ding" not in e.detail for e in saved)
    assert admin.delete(f"/api/notify/routes/{route['id']}").status_code == 204
    assert admin.get("/api/notify/routes").json() == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"target": {"url": "https://x"}, "channel": "webhook"}, "missing ['secret']"),
        ({"hours": "7-19"}, "HH:MM-HH:MM"),
        ({"sites": ["*"]}, "only an admin of every site"),
        ({"cameras": ["south/gate"]}, "not among the user's sites"),
        ({"level": 4}, "less than or equal to 3"),
    ],
)
def test_a_bad_route_is_refused_saying_why(
    console: Console, rx: Receivers, change: dict[str, object], says: str
) -> None:
    r = console.login("north.admin").post("/api/notify/routes", json=ding(rx, **change))
    assert r.status_code == 422, r.text
    assert says in r.text


def test_only_admins_manage_routes(console: Console, rx: Receivers) -> None:
    for user in ("li.wei", "op", "police"):
        assert console.login(user).post("/api/notify/routes", json=ding(rx)).status_code == 403
        assert console.login(user).get("/api/notify/routes").status_code == 403
    root = console.login("root")
    south = root.post("/api/notify/routes", json=ding(rx, sites=["south"])).json()["id"]
    north = console.login("north.admin")
    assert north.get("/api/notify/routes").json() == [], "another site's route is not shown"
    assert north.delete(f"/api/notify/routes/{south}").status_code == 404


def test_the_delivery_log_and_the_overdue_view_keep_to_the_users_sites(
    console: Console, rx: Receivers
) -> None:
    root = console.login("root")
    assert root.post("/api/notify/routes", json=ding(rx, sites=["*"])).status_code == 201
    now = datetime.now(UTC)
    old_north = seed_alert(console, "north", "gate", received_at=now - timedelta(minutes=40))
    seed_alert(
        console, "north", "gate", received_at=now - timedelta(minutes=50), state="acknowledged"
    )
    seed_alert(console, "north", "crane", received_at=now - timedelta(minutes=2))
    old_south = seed_alert(console, "south", "yard", received_at=now - timedelta(minutes=45))
    worker = NotifyWorker(console.state.db, console.settings)
    worker.tick()
    manager = console.login("li.wei")
    log = manager.get("/api/notifications").json()
    assert {row["site_id"] for row in log} == {"north"} and len(log) == 2, "not the handled one"
    assert {row["state"] for row in log} == {"sent"}
    assert all(row["title"].startswith("[SiteWatch]") for row in log)
    assert len(root.get("/api/notifications").json()) == 3
    assert console.login("op").get("/api/notifications").status_code == 403
    late = manager.get("/api/alerts/overdue").json()
    assert [(a["id"], a["level"]) for a in late] == [(old_north, 1)]
    assert late[0]["minutes_open"] >= 40
    assert [a["id"] for a in root.get("/api/alerts/overdue").json()] == [old_south, old_north]
    assert console.login("police").get("/api/alerts/overdue").status_code == 200


def test_an_admin_sends_a_route_a_test_message(console: Console, rx: Receivers) -> None:
    admin = console.login("north.admin")
    good = admin.post("/api/notify/routes", json=ding(rx)).json()["id"]
    bad = admin.post(
        "/api/notify/routes",
        json=ding(rx, target={"url": f"{rx.base}/dingtalk?access_token=t", "secret": "wrong"}),
    ).json()["id"]
    r = admin.post(f"/api/notify/routes/{good}/test")
    assert r.status_code == 200, r.text
    (body,) = rx.messages("dingtalk")
    assert "测试消息" in body["markdown"]["title"] and "north.admin" in body["markdown"]["text"]
    r = admin.post(f"/api/notify/routes/{bad}/test")
    assert r.status_code == 503 and "sign not match" in r.json()["detail"], r.text
    assert console.login("li.wei").post(f"/api/notify/routes/{good}/test").status_code == 403
    with console.state.db.session() as s:
        tested = s.scalars(select(AuditEntry).where(AuditEntry.action == "notify_route_tested"))
        assert [e.detail for e in tested] == ["sent"], "a refused test changes nothing"


def test_a_failed_notification_is_put_back_in_the_outbox(console: Console, rx: Receivers) -> None:
    root = console.login("root")
    assert root.post("/api/notify/routes", json=ding(rx, sites=["*"])).status_code == 201
    seed_alert(console, "north", "gate", received_at=datetime.now(UTC))
    worker = NotifyWorker(console.state.db, console.settings)
    with console.state.db.session() as s:
        route = s.scalars(select(NotifyRoute)).one()
        route.target = {**route.target, "secret": "rotated-by-someone"}
    worker.tick()
    with console.state.db.session() as s:
        row = s.scalars(select(Notification)).one()
        row.state = "failed"  # as after its last attempt (MAX_ATTEMPTS over hours)
    (log,) = root.get("/api/notifications").json()
    assert log["state"] == "failed" and "sign not match" in log["last_error"]
    assert root.post(f"/api/notifications/{log['id']}/retry").status_code == 200
    assert root.post(f"/api/notifications/{log['id']}/retry").status_code == 409
    with console.state.db.session() as s:
        route = s.scalars(select(NotifyRoute)).one()
        route.target = {**route.target, "secret": "SEC-ding"}  # the admin fixed the secret
    worker.tick()
    assert root.get("/api/notifications").json()[0]["state"] == "sent"
    assert len(rx.messages("dingtalk")) == 1
    assert console.login("li.wei").post(f"/api/notifications/{log['id']}/retry").status_code == 403
