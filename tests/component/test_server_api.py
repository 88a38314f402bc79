"""The console's HTTP API on a real SQLite file and a real PostgreSQL database: alert lists and
filters, alert detail, sites and cameras, statistics with known answers, the audit log,
users, health. Alerts are stored the way ingest stores them (tests/support/console_support.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.console.store.models import Camera, Site
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 23, 30, tzinfo=UTC)


def _db(console: Console):  # type: ignore[no-untyped-def]
    return console.client.app.state.sitewatch.db  # type: ignore[attr-defined]


def test_alert_list_defaults_to_open_alerts_oldest_first(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]))
    t = DAY1
    ids = {
        "old_new": seed_alert(console, started_at=t),
        "acked": seed_alert(console, started_at=t + timedelta(minutes=1), state="acknowledged"),
        "closed": seed_alert(console, started_at=t + timedelta(minutes=2), state="resolved"),
        "fp": seed_alert(console, started_at=t + timedelta(minutes=3), state="false_positive"),
        "assigned": seed_alert(console, started_at=t + timedelta(minutes=4), state="assigned"),
        "smoke": seed_alert(
            console, camera="yard", rule="smoking", started_at=t + timedelta(minutes=5)
        ),
    }
    c = console.login("li.wei")
    page = c.get("/api/alerts").json()
    assert [a["id"] for a in page["items"]] == [
        ids[k] for k in ("old_new", "acked", "assigned", "smoke")
    ]
    assert page["total"] == 4
    newest = c.get("/api/alerts", params={"order": "newest"}).json()["items"]
    assert newest[0]["id"] == ids["smoke"] and newest[-1]["id"] == ids["old_new"]

    def listed(**params: object) -> list[str]:
        r = c.get("/api/alerts", params=params)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert listed(state=["resolved", "false_positive"]) == [ids["closed"], ids["fp"]]
    assert listed(camera="yard") == [ids["smoke"]]
    assert listed(rule="smoking") == [ids["smoke"]]
    assert listed(rule="no_helmet", camera="gate", state="new") == [ids["old_new"]]
    since, until = (t + timedelta(minutes=1)).isoformat(), (t + timedelta(minutes=4)).isoformat()
    assert listed(since=since, until=until) == [ids["acked"]]  # since <= started_at < until
    page2 = c.get("/api/alerts", params={"limit": 2, "offset": 2}).json()
    assert [a["id"] for a in page2["items"]] == [ids["assigned"], ids["smoke"]]
    assert page2["total"] == 4
    r = c.get("/api/alerts", params={"since": "2026-03-02T09:00:00"})
    assert r.status_code == 422 and "has no time zone" in r.json()["detail"]
    assert c.get("/api/alerts", params={"state": "open"}).status_code == 422


def test_alert_detail_has_timeline_actions_evidence_and_snapshot(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]))
    snap = jpeg_bytes("bare head")
    alert_id = seed_alert(
        console,
        events=3,
        files=[
            ("snapshot.jpg", "snapshot", "image/jpeg", snap),
            ("clean.jpg", "snapshot_clean", "image/jpeg", jpeg_bytes("clean")),
        ],
    )
    c = console.login("li.wei")
    c.post(f"/api/alerts/{alert_id}/actions", json={"action": "note", "note": "called foreman"})
    d = c.get(f"/api/alerts/{alert_id}").json()
    assert [(e["seq"], e["event"]) for e in d["timeline"]] == [
        (0, "start"),
        (1, "update"),
        (2, "end"),
    ]
    assert [(a["action"], a["note"]) for a in d["actions"]] == [("note", "called foreman")]
    assert [e["name"] for e in d["evidence"]] == ["snapshot.jpg", "clean.jpg"]
    assert d["snapshot_url"] == f"/api/alerts/{alert_id}/evidence/snapshot.jpg"
    assert c.get(d["snapshot_url"]).content == snap
    listed = c.get("/api/alerts").json()["items"][0]
    assert listed["snapshot_url"] == d["snapshot_url"]
    r = c.get("/api/alerts/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and "no alert" in r.json()["detail"]


def test_sites_and_cameras_with_open_alerts_and_offline_edges(console: Console) -> None:
    add_users(console, ("admin", "admin", ["*"]))
    seed_alert(console, "north", "gate", started_at=DAY1)
    seed_alert(console, "north", "gate", started_at=DAY2)
    seed_alert(console, "north", "gate", started_at=DAY2, state="resolved")
    seed_alert(console, "south", "crane", started_at=DAY1, state="false_positive")
    snapshot = console.settings.evidence_dir / "_cameras" / "north" / "gate.jpg"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(jpeg_bytes("gate now"))
    with _db(console).session() as s:
        s.get(Site, "south").edge_state = "offline"
        s.add(Camera(site_id="north", camera_id="idle", name="Idle", state="stalled"))
        s.get(Camera, ("north", "gate")).snapshot_path = str(snapshot)
    c = console.login("admin")
    sites = {x["id"]: x for x in c.get("/api/sites").json()}
    assert {k: v["open_alerts"] for k, v in sites.items()} == {"north": 2, "south": 0}
    assert sites["south"]["edge_state"] == "offline"
    cams = {(x["site_id"], x["camera_id"]): x for x in c.get("/api/cameras").json()}
    assert cams[("south", "crane")]["state"] == "offline"  # its edge is offline
    assert cams[("north", "idle")]["state"] == "stalled"
    gate = cams[("north", "gate")]
    assert (gate["state"], gate["open_alerts"]) == ("online", 2)
    assert datetime.fromisoformat(gate["last_alert_at"]) == DAY2
    assert cams[("north", "idle")]["last_alert_at"] is None
    assert gate["snapshot_url"] == "/api/cameras/north/gate/snapshot"
    r = c.get(gate["snapshot_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == snapshot.read_bytes()
    r = c.get("/api/cameras/north/idle/snapshot")
    assert r.status_code == 404 and "no snapshot yet" in r.json()["detail"]
    assert c.get("/api/cameras/north/nope/snapshot").status_code == 404
    only_south = c.get("/api/cameras", params={"site": "south"}).json()
    assert [x["camera_id"] for x in only_south] == ["crane"]


def test_stats_per_day_and_time_to_acknowledge(console: Console) -> None:
    """Known answers: 4 alerts on day 1, 2 on day 2, 1 at another site; ack times 10..100 s."""
    add_users(console, ("li.wei", "manager", ["north"]))
    plan = [
        ("gate", "no_helmet", DAY1),
        ("gate", "no_helmet", DAY1 + timedelta(hours=1)),
        ("gate", "smoking", DAY1 + timedelta(hours=2)),
        ("yard", "no_helmet", DAY1 + timedelta(hours=14, minutes=59)),  # 23:59 UTC
        ("gate", "no_helmet", DAY2),
        ("yard", "smoking", DAY2 + timedelta(minutes=29)),  # 23:59 UTC, still day 2
    ]
    acks = [10, 20, 30, 40, 50, 60]
    for (camera, rule, t), ack in zip(plan, acks, strict=True):
        seed_alert(
            console,
            "north",
            camera,
            rule=rule,
            started_at=t,
            received_at=t + timedelta(seconds=2),
            state="acknowledged",
            acknowledged_at=t + timedelta(seconds=2 + ack),
        )
    for extra in (70, 80, 90, 100):  # acknowledged, then resolved, a week later
        t = DAY1 + timedelta(days=7, minutes=extra)
        seed_alert(
            console,
            "north",
            "gate",
            started_at=t,
            received_at=t,
            state="resolved",
            acknowledged_at=t + timedelta(seconds=extra),
            closed_at=t + timedelta(seconds=extra),
        )
    seed_alert(console, "north", "gate", started_at=DAY1 + timedelta(days=8))  # not acked
    seed_alert(console, "south", "crane", started_at=DAY1, acknowledged_at=DAY1, state="assigned")
    c = console.login("li.wei")
    st = c.get("/api/stats").json()
    assert {d["site_id"] for d in st["per_day"]} == {"north"}
    assert [(d["day"], d["camera_id"], d["rule"], d["count"]) for d in st["per_day"]] == [
        ("2026-03-02", "gate", "no_helmet", 2),
        ("2026-03-02", "gate", "smoking", 1),
        ("2026-03-02", "yard", "no_helmet", 1),
        ("2026-03-03", "gate", "no_helmet", 1),
        ("2026-03-03", "yard", "smoking", 1),
        ("2026-03-09", "gate", "no_helmet", 4),
        ("2026-03-10", "gate", "no_helmet", 1),
    ]
    assert st["by_state"] == {
        "new": 1, "acknowledged": 6, "assigned": 0, "resolved": 4, "false_positive": 0
    }  # fmt: skip
    assert st["acknowledged"] == 10
    assert st["ack_seconds_median"] == pytest.approx(55.0)  # 10..100: (50 + 60) / 2
    assert st["ack_seconds_p90"] == pytest.approx(91.0)  # 90 + 0.1 * (100 - 90)
    day1 = c.get(
        "/api/stats",
        params={"since": DAY1.isoformat(), "until": (DAY1 + timedelta(days=1)).isoformat()},
    ).json()
    assert sum(d["count"] for d in day1["per_day"]) == 4  # 09:00 .. 23:59 of day 1
    assert day1["ack_seconds_median"] == pytest.approx(25.0)  # 10, 20, 30, 40
    yard = c.get("/api/stats", params={"camera": "yard"}).json()
    assert [d["count"] for d in yard["per_day"]] == [1, 1] and yard["acknowledged"] == 2
    assert c.get("/api/stats", params={"site": "south"}).status_code == 404
    empty = c.get("/api/stats", params={"since": "2030-01-01T00:00:00Z"}).json()
    assert empty["per_day"] == [] and empty["ack_seconds_median"] is None


def test_audit_log_lists_newest_first_with_filters(console: Console) -> None:
    add_users(console, ("admin", "admin", ["*"]), ("li.wei", "manager", ["north"]))
    a = seed_alert(console, files=[("s.jpg", "snapshot", "image/jpeg", jpeg_bytes())])
    m = console.login("li.wei")
    m.post(f"/api/alerts/{a}/actions", json={"action": "acknowledge"})
    m.get(f"/api/alerts/{a}/evidence/s.jpg")
    c = console.login("admin")
    rows = c.get("/api/audit").json()
    assert [r["action"] for r in rows[:4]] == ["login", "view", "acknowledge", "login"]
    assert rows[1]["object_id"] == f"{a}/s.jpg" and rows[1]["username"] == "li.wei"
    assert rows[1]["client"] == "testclient" and rows[1]["site_id"] == "north"
    views = c.get("/api/audit", params={"action": "view", "username": "li.wei"}).json()
    assert len(views) == 1
    assert c.get("/api/audit", params={"site": "north"}).json()[0]["action"] == "view"
    assert len(c.get("/api/audit", params={"limit": 1}).json()) == 1


def test_users_create_change_disable(console: Console) -> None:
    console.add_user("admin", "admin", ["*"])
    c = console.login("admin")
    body = {"username": "zhou.min", "password": "a-long-password", "role": "police",
            "sites": ["north"]}  # fmt: skip
    r = c.post("/api/users", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["language"] == console.settings.default_language
    assert "evidence.export" in r.json()["capabilities"]
    r = c.post("/api/users", json={**body, "username": "Zhou.Min"})
    assert r.status_code == 409 and "exists already" in r.json()["detail"]
    r = c.post("/api/users", json={**body, "username": "x", "sites": ["*", "north"]})
    assert r.status_code == 422 and "stands alone" in r.json()["detail"]
    assert c.post("/api/users", json={**body, "password": "short"}).status_code == 422
    assert [u["username"] for u in c.get("/api/users").json()] == ["admin", "zhou.min"]

    police = console.login("zhou.min", "a-long-password")
    r = c.patch("/api/users/zhou.min", json={"sites": ["north", "south"], "language": "zh-CN"})
    assert r.status_code == 200 and r.json()["sites"] == ["north", "south"]
    assert police.get("/api/auth/me").status_code == 401  # a change of sites ends sessions
    police = console.login("zhou.min", "a-long-password")
    assert police.get("/api/auth/me").json()["language"] == "zh-CN"
    assert c.patch("/api/users/zhou.min", json={"active": False}).status_code == 200
    assert police.get("/api/auth/me").status_code == 401
    r = console.client.post(
        "/api/auth/login", json={"username": "zhou.min", "password": "a-long-password"}
    )
    assert r.status_code == 401
    r = c.patch("/api/users/admin", json={"role": "manager"})
    assert r.status_code == 409 and "last active admin" in r.json()["detail"]
    assert c.patch("/api/users/admin", json={"active": False}).status_code == 409
    assert c.patch("/api/users/nobody", json={"active": False}).status_code == 404
    actions = [r["action"] for r in c.get("/api/audit", params={"object_type": "user"}).json()]
    assert actions.count("user_update") == 2 and actions.count("user_create") == 1


def test_health_answers_without_login(console: Console) -> None:
    r = console.client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "ingest_connected": False,
        "messages_received": 0,
        "messages_rejected": 0,
    }


def test_text_that_is_not_unicode_becomes_a_replacement_character(console: Console) -> None:
    """JSON can carry a lone UTF-16 surrogate, which no database, hash or reply can encode:
    it is stored as U+FFFD (as a browser shows invalid text) instead of crashing (500)."""
    add_users(console, ("admin", "admin", ["*"]))
    alert_id = seed_alert(console)
    c = console.login("admin")
    lone = "\\udb71"  # as JSON text: the escape itself goes over the wire
    json_ = {"content-type": "application/json"}
    r = c.post(
        f"/api/alerts/{alert_id}/actions",
        content=f'{{"action": "note", "note": "seen {lone}"}}',
        headers=json_,
    )
    assert r.status_code == 200 and r.json()["actions"][0]["note"] == "seen \ufffd"
    r = c.post(
        "/api/users",
        content=f'{{"username": "ab", "password": "{lone}234567890", "role": "police", '
        f'"sites": ["north"]}}',
        headers=json_,
    )
    assert r.status_code == 201 and r.json()["sites"] == ["north"]
    r = c.post(
        "/api/users",
        content=f'{{"username": "cd", "password": "1234567890", "role": "police", '
        f'"sites": ["{lone}"]}}',
        headers=json_,
    )
    assert r.status_code == 422 and "\ufffd" in r.json()["detail"], r.text  # said, not a 500
    r = c.post(
        "/api/auth/login", content=f'{{"username": "{lone}", "password": "x"}}', headers=json_
    )
    assert r.status_code == 401
