"""Incidents: a repeated violation of one camera, rule and zone is one incident (real mosquitto
ingest into SQLite and PostgreSQL), a gap beyond the window starts another, a closed one
re-opens, a redelivered message counts once; actions on incidents and selections are audited
per alert; a user limited to cameras sees only their incidents."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sitewatch.console.api.routes import events as events_route
from sitewatch.console.domain.incidents import Windows, group_alert
from sitewatch.console.store.models import Alert, AlertAction, AuditEntry, Incident
from tests.component.test_server_events import _login, _messages, served  # noqa: F401
from tests.support.console_support import Console, add_users, seed_alert
from tests.support.ingest_support import T0, alert, edge_of, live_console
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

GAP = timedelta(seconds=20)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite file), then a fresh PostgreSQL database."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


def violation(start: datetime, *, seq: int = 0, **fields: Any) -> Any:
    """The first message of a new alert (a new track) of the gate's no-helmet rule at ``start``."""
    return alert(
        fields.pop("aid", uuid.uuid4()), seq, started_at=start, last_seen_at=start,
        sent_at=start, track_id=fields.pop("track_id", 7), **fields,
    )  # fmt: skip


def test_a_repeated_violation_is_one_incident_and_a_gap_starts_another(
    tmp_path: Path, broker: Mosquitto, database_url: str | None
) -> None:
    with (
        live_console(tmp_path, broker, database_url=database_url) as console,
        edge_of(broker) as edge,
    ):
        feed = console.listen()
        first = [violation(T0 + i * GAP, track_id=10 + i, score=0.5 + i / 100) for i in range(5)]
        first[2] = violation(T0 + 2 * GAP, aid=first[2].id, track_id=12, score=0.95)
        for msg in first:
            edge.alert(msg)
        edge.alert(first[0])  # QoS 1 delivers a message again
        later = T0 + 4 * GAP + timedelta(seconds=301)  # beyond the default window (300 s)
        edge.alert(violation(later, track_id=30))
        edge.alert(violation(T0 + GAP, zone_id="ramp", track_id=40))  # another zone
        console.settle(edge.sent)
        incidents = sorted(console.rows(Incident), key=lambda i: (i.first_at, i.zone_id or ""))
        assert [(i.zone_id, i.alert_count) for i in incidents] == [
            ("floor", 5), ("ramp", 1), ("floor", 1)
        ]  # fmt: skip
        grouped = incidents[0]
        assert (grouped.first_at, grouped.last_at) == (T0, T0 + 4 * GAP)
        assert (grouped.best_alert_id, grouped.best_score) == (str(first[2].id), 0.95)
        assert grouped.state == "new" and incidents[2].first_at == later
        members = {a.id for a in console.rows(Alert, Alert.incident_id == grouped.id)}
        assert members == {str(m.id) for m in first}
        seen: list[tuple[str, int]] = []
        while len(seen) < 7:  # one incident event per stored alert message
            ev = console.next_event(feed, skip=("alert",))
            seen.append((ev.data["id"], ev.data["alert_count"]))
        assert [n for i, n in seen if i == grouped.id] == [1, 2, 3, 4, 5]


def test_a_closed_incident_reopens_when_the_violation_returns(
    tmp_path: Path, broker: Mosquitto
) -> None:
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        add_users(console, ("li.wei", "manager", ["north"]))
        edge.alert(violation(T0))
        edge.alert(violation(T0 + GAP, track_id=8))
        console.settle(edge.sent)
        [incident] = console.rows(Incident)
        c = console.login("li.wei")
        r = c.post(f"/api/incidents/{incident.id}/actions", json={"action": "resolve"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "resolved" and r.json()["allowed_actions"] == []
        assert {a["state"] for a in r.json()["alerts"]} == {"resolved"}
        edge.alert(violation(T0 + 3 * GAP, track_id=9))  # within the window of the last
        console.settle(edge.sent)
        [again] = console.rows(Incident)
        assert (again.id, again.state, again.alert_count, again.reopen_count) == (
            incident.id, "new", 3, 1,
        )  # fmt: skip
        assert again.closed_at is None and again.acknowledged_at is None
        [reopen] = console.rows(AuditEntry, AuditEntry.object_type == "incident",
                                AuditEntry.action == "reopen")  # fmt: skip
        assert reopen.username == "ingest" and reopen.object_id == incident.id
        assert reopen.detail.startswith("resolved -> new")
        states = sorted(a.state for a in console.rows(Alert))
        assert states == ["new", "resolved", "resolved"]  # the closed alerts stay closed
        body = c.get(f"/api/incidents/{incident.id}").json()
        assert body["new_alerts"] == 1 and "resolve" in body["allowed_actions"]


def test_a_rule_s_own_window_decides(tmp_path: Path, broker: Mosquitto) -> None:
    windows: dict[str, Any] = {
        "incident_windows_s": {"no_helmet": 30.0},
        "incident_window_s": 3600.0,
    }
    with live_console(tmp_path, broker, **windows) as console, edge_of(broker) as edge:
        for i in range(3):
            edge.alert(violation(T0 + i * timedelta(seconds=60), track_id=i))
        for i in range(3):
            edge.alert(violation(T0 + i * timedelta(seconds=60), rule="smoking", track_id=9 + i))
        console.settle(edge.sent)
        counts = sorted((i.rule, i.alert_count) for i in console.rows(Incident))
        assert counts == [("no_helmet", 1)] * 3 + [("smoking", 3)]


def _grouped(console: Console, camera: str, n: int, start: datetime) -> tuple[str, list[str]]:
    """``n`` alerts of ``camera`` 20 s apart, grouped as ingest groups them: (incident, alerts)."""
    ids = [seed_alert(console, camera=camera, started_at=start + i * GAP) for i in range(n)]
    with console.state.db.session() as s:
        incident_ids = {
            group_alert(s, s.get(Alert, i), Windows(), now=datetime.now(UTC)).incident.id
            for i in ids
        }
    [incident_id] = incident_ids
    return incident_id, ids


def _manager(console: Console) -> TestClient:
    add_users(
        console,
        ("li.wei", "manager", ["north"]),
        ("wang.fang", "manager", ["north"]),
        ("zhou.min", "police", ["north"], ["north/gate"]),
    )
    return console.login("li.wei")


def test_bulk_acknowledge_of_two_incidents_audits_every_alert(console: Console) -> None:
    c = _manager(console)
    start = datetime.now(UTC) - timedelta(hours=1)
    gate, gate_alerts = _grouped(console, "gate", 3, start)
    crane, crane_alerts = _grouped(console, "crane", 2, start)
    single = seed_alert(console, camera="yard")
    r = c.post(
        "/api/alerts/actions",
        json={
            "action": "acknowledge",
            "incident_ids": [gate, crane, "no-such-incident"],
            "alert_ids": [single, gate_alerts[0]],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    got = [(i["kind"], i["id"], i["ok"], i["status"], i["state"]) for i in body["items"]]
    assert got == [
        ("incident", gate, True, 200, "acknowledged"),
        ("incident", crane, True, 200, "acknowledged"),
        ("incident", "no-such-incident", False, 404, None),
        ("alert", single, True, 200, "acknowledged"),
        ("alert", gate_alerts[0], False, 409, "acknowledged"),  # its incident's step took it
    ]
    assert (body["done"], body["refused"]) == (3, 2)
    assert "cannot 'acknowledge'" in body["items"][4]["detail"]
    with console.state.db.session() as s:
        every = gate_alerts + crane_alerts + [single]
        audited = s.query(AuditEntry).filter(AuditEntry.object_type == "alert").all()
        assert sorted(a.object_id for a in audited if a.action == "acknowledge") == sorted(every)
        assert {a.username for a in audited} == {"li.wei"}
        steps = s.query(AlertAction).all()
        assert sorted(a.alert_id for a in steps) == sorted(every)
        assert {(a.from_state, a.to_state) for a in steps} == {("new", "acknowledged")}
        incident_rows = s.query(AuditEntry).filter(AuditEntry.object_type == "incident").all()
        assert sorted(a.object_id for a in incident_rows) == sorted([gate, crane])


def test_incident_actions_assign_resolve_and_refuse(console: Console) -> None:
    c = _manager(console)
    incident, _ = _grouped(console, "gate", 2, datetime.now(UTC) - timedelta(hours=1))
    r = c.post(f"/api/incidents/{incident}/actions", json={"action": "assign"})
    assert r.status_code == 422 and "assignee" in r.json()["detail"]
    r = c.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "assign", "assignee": "zhou.min"},  # police may not work alerts
    )
    assert r.status_code == 422 and "zhou.min" in r.json()["detail"]
    assert {a["state"] for a in c.get(f"/api/incidents/{incident}").json()["alerts"]} == {"new"}
    r = c.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "assign", "assignee": "wang.fang", "note": "gate crew"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["assignee"]) == ("assigned", "wang.fang")
    assert {(a["state"], a["assignee"]) for a in body["alerts"]} == {("assigned", "wang.fang")}
    r = c.post(f"/api/incidents/{incident}/actions", json={"action": "false_positive"})
    assert r.status_code == 200 and r.json()["state"] == "false_positive"
    r = c.post(f"/api/incidents/{incident}/actions", json={"action": "resolve"})
    assert r.status_code == 409 and "allowed actions are reopen" in r.json()["detail"]
    assert c.get("/api/incidents").json()["total"] == 0  # open ones by default
    closed = c.get("/api/incidents", params={"state": "false_positive"}).json()
    assert [i["id"] for i in closed["items"]] == [incident]
    stats = c.get("/api/stats").json()
    assert stats["incidents"] == 1 and stats["incidents_by_state"]["false_positive"] == 1
    assert stats["by_state"]["false_positive"] == 2  # alerts, counted beside


def test_a_user_limited_to_cameras_sees_only_their_incidents(console: Console) -> None:
    _manager(console)
    start = datetime.now(UTC) - timedelta(hours=1)
    gate, _ = _grouped(console, "gate", 2, start)
    crane, crane_alerts = _grouped(console, "crane", 2, start)
    police = console.login("zhou.min")
    listed = police.get("/api/incidents").json()
    assert [i["id"] for i in listed["items"]] == [gate] and listed["total"] == 1
    assert police.get(f"/api/incidents/{gate}").json()["alert_count"] == 2
    assert police.get(f"/api/incidents/{crane}").status_code == 404
    assert (
        police.get("/api/incidents", params={"site": "north", "camera": "crane"}).status_code == 404
    )
    act = police.post(f"/api/incidents/{gate}/actions", json={"action": "acknowledge"})
    assert act.status_code == 403
    bulk = police.post("/api/alerts/actions", json={"action": "resolve", "alert_ids": crane_alerts})
    assert bulk.status_code == 403
    stats = police.get("/api/stats").json()
    assert stats["incidents"] == 1
    manager = console.login("li.wei")
    assert manager.get("/api/incidents").json()["total"] == 2


def test_an_action_on_one_alert_updates_its_incident_live(console: Console) -> None:
    c = _manager(console)
    incident, alerts = _grouped(console, "gate", 2, datetime.now(UTC) - timedelta(hours=1))
    queue = console.client.portal.call(_subscribe, console)  # type: ignore[union-attr]
    r = c.post(f"/api/alerts/{alerts[0]}/actions", json={"action": "acknowledge"})
    assert r.status_code == 200 and r.json()["incident_id"] == incident
    got = [console.client.portal.call(_next, queue) for _ in range(2)]  # type: ignore[union-attr]
    assert [(e.kind, e.data["id"]) for e in got] == [("alert", alerts[0]), ("incident", incident)]
    assert (got[1].data["new_alerts"], got[1].data["state"]) == (1, "new")


async def _subscribe(console: Console) -> Any:
    return console.state.hub.subscribe()


async def _next(queue: Any) -> Any:
    return await asyncio.wait_for(queue.get(), 10.0)


def test_the_live_stream_carries_incidents_of_the_user_s_cameras_only(
    console: Console,
    served: str,  # noqa: F811  (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_route, "PING_SECONDS", 0.2)
    c = _manager(console)
    start = datetime.now(UTC) - timedelta(hours=1)
    gate, _ = _grouped(console, "gate", 2, start)
    crane, _ = _grouped(console, "crane", 2, start)
    police = _login(served, "zhou.min")
    with police.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        for incident in (crane, gate):
            act = c.post(f"/api/incidents/{incident}/actions", json={"action": "acknowledge"})
            assert act.status_code == 200, act.text
        seen: list[tuple[str, str]] = []
        pings = 0
        for kind, data in got:
            if kind == "comment":
                pings += 1
                assert pings < 25, f"no incident event within 5 s of pings; saw {seen}"
                continue
            body = json.loads(data)
            seen.append((kind, body["camera_id"]))
            if kind == "incident":
                assert body["id"] == gate and body["state"] == "acknowledged"
                break
        assert seen == [("alert", "gate"), ("alert", "gate"), ("incident", "gate")]
    police.close()


def test_an_alert_whose_zone_changes_moves_to_that_zone_s_incident(console: Console) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    incident, alerts = _grouped(console, "gate", 2, start)
    with console.state.db.session() as s:
        moved = s.get(Alert, alerts[1])
        assert moved is not None
        moved.zone_id = "ramp"  # a newer message of a not yet reviewed alert may change it
        again = group_alert(s, moved, Windows(), now=datetime.now(UTC))
        assert again.outcome == "created" and again.incident.zone_id == "ramp"
        old = s.get(Incident, incident)
        assert old is not None and (old.alert_count, old.best_alert_id) == (1, alerts[0])
        lone = s.get(Alert, alerts[0])
        assert lone is not None
        lone.zone_id = "ramp"
        joined = group_alert(s, lone, Windows(), now=datetime.now(UTC))
        assert (joined.outcome, joined.incident.id) == ("joined", again.incident.id)
        assert joined.incident.alert_count == 2
        assert s.get(Incident, incident) is None  # emptied: gone
