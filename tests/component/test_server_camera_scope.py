"""Users limited to cameras: they see those cameras only (404 for every other, never 403),
in every route, list, count, statistic, audit row and live event; an operator changes only
their cameras' zones; a scope must name the user's sites; assignees are exactly the users who
may work the alert and see its camera. Real SQLite file and real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitewatch.console.events import LiveEvent
from sitewatch.console.store.models import Camera, ConfigRequest, Site, User
from tests.component.test_server_events import _login, _messages, served  # noqa: F401
from tests.support.console_support import PASSWORD, Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

SNAP = [("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes())]
USERS = [
    ("admin", "admin", ["*"]),
    ("gate.mgr", "manager", ["north"], ["north/gate"]),
    ("crane.mgr", "manager", ["north"], ["north/crane"]),
    ("north.mgr", "manager", ["north"]),
    ("south.mgr", "manager", ["south"]),
    ("star.gate", "manager", ["*"], ["north/gate"]),
    ("gone.mgr", "manager", ["north"]),  # disabled below
    ("gate.op", "operator", ["north"], ["north/gate"]),
    ("north.op", "operator", ["north"]),
    ("gate.police", "police", ["north"], ["north/gate"]),
]


def _world(console: Console) -> dict[str, str]:
    """The users above; an alert at north/gate, north/crane and south/crane, each with a
    snapshot; a snapshot per camera; a config request for north/crane."""
    add_users(console, *USERS)
    alerts = {
        "gate": seed_alert(console, "north", "gate", files=SNAP),
        "crane": seed_alert(console, "north", "crane", files=SNAP),
        "south": seed_alert(console, "south", "crane", files=SNAP),
    }
    db = console.client.app.state.sitewatch.db  # type: ignore[attr-defined]
    request_id = str(uuid.uuid4())
    with db.session() as s:
        for site, camera in (("north", "gate"), ("north", "crane"), ("south", "crane")):
            path = console.settings.evidence_dir / "_cameras" / site / f"{camera}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg_bytes(camera))
            s.get(Camera, (site, camera)).snapshot_path = str(path)
        s.add(
            ConfigRequest(
                request_id=request_id, site_id="north", camera_id="crane", issued_by="admin",
                issued_at=datetime.now(UTC), base_version="v1", payload={}, status="pending",
            )
        )  # fmt: skip
        gone = s.query(User).filter_by(username="gone.mgr").one()
        gone.active = False
    alerts["crane_request"] = request_id
    return alerts


def test_a_manager_of_one_camera_sees_that_camera_only(console: Console) -> None:
    a = _world(console)
    c = console.login("gate.mgr")
    assert c.get(f"/api/alerts/{a['gate']}").status_code == 200
    assert c.get(f"/api/alerts/{a['gate']}/evidence/snapshot.jpg").status_code == 200
    assert c.get("/api/cameras/north/gate/snapshot").status_code == 200
    assert c.get("/api/cameras/north/gate/config").status_code == 200
    hidden = [
        ("GET", f"/api/alerts/{a['crane']}", None),
        ("GET", f"/api/alerts/{a['crane']}/evidence/snapshot.jpg", None),
        ("GET", f"/api/alerts/{a['crane']}/export", None),
        ("GET", f"/api/alerts/{a['crane']}/assignees", None),
        ("POST", f"/api/alerts/{a['crane']}/actions", {"action": "note", "note": "x"}),
        ("GET", "/api/cameras/north/crane/snapshot", None),
        ("GET", "/api/cameras/north/crane/config", None),
        ("GET", f"/api/config-requests/{a['crane_request']}", None),
        ("GET", f"/api/alerts/{a['south']}", None),
        ("GET", "/api/cameras/south/crane/snapshot", None),
        ("GET", "/api/cameras?site=south", None),
        ("GET", "/api/alerts?site=south", None),
        ("GET", "/api/stats?site=south", None),
        ("GET", "/api/alerts?site=north&camera=crane", None),
        ("GET", "/api/stats?site=north&camera=crane", None),
    ]
    for method, path, body in hidden:
        r = c.request(method, path, json=body)
        assert r.status_code == 404, f"{method} {path}: {r.status_code}, expected 404"
    # the crane alert was not touched by the refused note
    admin = console.login("admin")
    assert admin.get(f"/api/alerts/{a['crane']}").json()["actions"] == []
    # lists, counts and statistics never show crane
    listed = c.get("/api/alerts", params={"state": ["new", "resolved"]}).json()
    assert [x["id"] for x in listed["items"]] == [a["gate"]] and listed["total"] == 1
    assert c.get("/api/alerts", params={"camera": "crane"}).json()["total"] == 0
    assert [(s["id"], s["open_alerts"]) for s in c.get("/api/sites").json()] == [("north", 1)]
    cams = [(x["site_id"], x["camera_id"]) for x in c.get("/api/cameras").json()]
    assert cams == [("north", "gate")]
    assert [x["camera_id"] for x in c.get("/api/cameras?site=north").json()] == ["gate"]
    st = c.get("/api/stats").json()
    assert {(d["site_id"], d["camera_id"]) for d in st["per_day"]} == {("north", "gate")}
    assert sum(st["by_state"].values()) == 1
    assert sum(c.get("/api/stats?camera=crane").json()["by_state"].values()) == 0
    # the same manager without the camera limit sees both cameras of north
    north = console.login("north.mgr")
    assert north.get("/api/alerts").json()["total"] == 2
    assert north.get(f"/api/alerts/{a['crane']}/export").status_code == 200


def test_the_audit_log_shows_only_the_cameras_rows(console: Console) -> None:
    a = _world(console)
    admin = console.login("admin")
    for key in ("gate", "crane", "south"):
        assert admin.get(f"/api/alerts/{a[key]}/evidence/snapshot.jpg").status_code == 200
        assert admin.get(f"/api/alerts/{a[key]}/export").status_code == 200
        note = {"action": "note", "note": "seen"}
        assert admin.post(f"/api/alerts/{a[key]}/actions", json=note).status_code == 200
    police = console.login("gate.police")
    rows = police.get("/api/audit").json()
    assert rows, "the gate camera's rows are missing"
    assert {(r["site_id"], r["object_id"].split("/")[0]) for r in rows} == {("north", a["gate"])}
    assert {r["action"] for r in rows} == {"view", "export", "note"}
    assert police.get("/api/audit", params={"object_id": a["crane"]}).json() == []
    assert police.get("/api/audit?site=south").status_code == 404
    # the rows carry their camera: all of north's for a police officer of the whole site
    add_users(console, ("north.police", "police", ["north"]))
    whole = console.login("north.police").get("/api/audit").json()
    assert {r["object_id"].split("/")[0] for r in whole} == {a["gate"], a["crane"]}


def test_an_operator_of_one_camera_changes_only_its_zones(console: Console) -> None:
    _world(console)
    change = {"base_version": "v1", "zones": []}
    op = console.login("gate.op")
    r = op.post("/api/cameras/north/crane/config", json=change)
    assert r.status_code == 404 and "crane" in r.json()["detail"], r.text
    # its own camera passes the scope check and reaches the send (no broker here: 503)
    assert op.post("/api/cameras/north/gate/config", json=change).status_code == 503
    assert (
        console.login("north.op").post("/api/cameras/north/crane/config", json=change).status_code
        == 503
    )
    admin = console.login("admin")
    assert admin.get("/api/cameras/north/crane/config").json()["version"] is None


def test_assignees_are_the_users_who_may_work_the_alert_and_see_its_camera(
    console: Console,
) -> None:
    a = _world(console)
    c = console.login("north.mgr")

    def names(alert_id: str) -> list[tuple[str, str]]:
        r = c.get(f"/api/alerts/{alert_id}/assignees")
        assert r.status_code == 200, r.text
        return [(u["username"], u["role"]) for u in r.json()]

    assert names(a["gate"]) == [
        ("admin", "admin"),
        ("gate.mgr", "manager"),
        ("north.mgr", "manager"),
        ("star.gate", "manager"),
    ]
    assert names(a["crane"]) == [
        ("admin", "admin"),
        ("crane.mgr", "manager"),
        ("north.mgr", "manager"),
    ]
    assert set(c.get(f"/api/alerts/{a['gate']}/assignees").json()[0]) == {"username", "role"}
    assert console.login("south.mgr").get(f"/api/alerts/{a['gate']}/assignees").status_code == 404
    assert console.login("gate.op").get(f"/api/alerts/{a['gate']}/assignees").status_code == 403
    # assigning follows the same rule: not to a manager of another camera
    r = c.post(
        f"/api/alerts/{a['gate']}/actions", json={"action": "assign", "assignee": "crane.mgr"}
    )
    assert r.status_code == 422 and "camera 'gate'" in r.json()["detail"], r.text
    r = c.post(
        f"/api/alerts/{a['gate']}/actions", json={"action": "assign", "assignee": "gate.mgr"}
    )
    assert r.status_code == 200 and r.json()["assignee"] == "gate.mgr", r.text


def test_a_camera_scope_must_name_the_users_sites(console: Console) -> None:
    _world(console)
    admin = console.login("admin")
    new = {"username": "x.mgr", "password": PASSWORD, "role": "manager"}
    refused = [
        (["north"], ["south/crane"], "not among the user's sites"),
        (["north"], ["gate"], "site_id/camera_id"),
        (["north"], ["north/*"], "site_id/camera_id"),
        (["north"], [], "at least one"),
        (["north"], ["north/gate", "north/gate"], "twice"),
    ]
    for sites, cameras, words in refused:
        r = admin.post("/api/users", json={**new, "sites": sites, "cameras": cameras})
        assert r.status_code == 422 and words in r.json()["detail"], (cameras, r.text)
    assert "x.mgr" not in {u["username"] for u in admin.get("/api/users").json()}
    r = admin.post("/api/users", json={**new, "sites": ["north"], "cameras": ["north/crane"]})
    assert r.status_code == 201 and r.json()["cameras"] == ["north/crane"], r.text
    # without cameras: the old body still works, and means every camera
    r = admin.post("/api/users", json={**new, "username": "y.mgr", "sites": ["north"]})
    assert r.status_code == 201 and r.json()["cameras"] is None, r.text
    # a change of sites that would leave a camera outside them is refused, nothing changes
    r = admin.patch("/api/users/x.mgr", json={"sites": ["south"]})
    assert r.status_code == 422 and "'north/crane' is at site 'north'" in r.json()["detail"]
    r = admin.patch("/api/users/x.mgr", json={"cameras": ["south/crane"]})
    assert r.status_code == 422 and "not among the user's sites" in r.json()["detail"]
    x = console.login("x.mgr")
    me = x.get("/api/auth/me").json()
    assert me["sites"] == ["north"] and me["cameras"] == ["north/crane"]
    assert [a["camera_id"] for a in x.get("/api/alerts").json()["items"]] == ["crane"]
    # changing the scope ends the user's sessions; null lifts the limit
    r = admin.patch("/api/users/x.mgr", json={"cameras": ["north/gate"]})
    assert r.status_code == 200 and r.json()["cameras"] == ["north/gate"]
    assert x.get("/api/alerts").status_code == 401
    x = console.login("x.mgr")
    assert [a["camera_id"] for a in x.get("/api/alerts").json()["items"]] == ["gate"]
    r = admin.patch("/api/users/x.mgr", json={"cameras": None})
    assert r.status_code == 200 and r.json()["cameras"] is None
    x = console.login("x.mgr")
    assert {a["camera_id"] for a in x.get("/api/alerts").json()["items"]} == {"gate", "crane"}
    # the same scope sent again is no change: the user stays logged in
    assert admin.patch("/api/users/x.mgr", json={"cameras": None}).status_code == 200
    assert x.get("/api/alerts").status_code == 200
    # a change of something else keeps the scope
    admin.patch("/api/users/gate.mgr", json={"language": "zh-CN"})
    gate = next(u for u in admin.get("/api/users").json() if u["username"] == "gate.mgr")
    assert gate["cameras"] == ["north/gate"] and gate["language"] == "zh-CN"


def test_live_events_of_other_cameras_are_not_sent(
    console: Console,
    served: str,  # noqa: F811 (the fixture imported above)
) -> None:
    add_users(console, ("gate.mgr", "manager", ["north"], ["north/gate"]))
    hub = console.client.app.state.sitewatch.hub  # type: ignore[attr-defined]
    c = _login(served, "gate.mgr")
    with c.stream("GET", "/api/events") as r:
        assert r.status_code == 200, r.read()
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        for kind, site, camera, key in (
            ("alert", "north", "crane", "crane-1"),
            ("camera", "north", "crane", "crane-cam"),
            ("config", "north", "crane", "crane-req"),
            ("alert", "south", "gate", "south-1"),
            ("alert", "north", None, "no-camera"),
            ("site", "north", None, "north"),  # with per-camera stats below
            ("camera", "north", "gate", "gate-cam"),
            ("config", "north", "gate", "gate-req"),
            ("alert", "north", "gate", "gate-1"),
        ):
            data = {"id": key, "site_id": site} | ({"camera_id": camera} if camera else {})
            if kind == "site":
                data |= {"open_alerts": 7, "stats": {"cameras": _stats_cameras()}}
            hub.publish(LiveEvent(kind, site, data))
        seen = []
        for kind, data in got:
            seen.append(kind)
            if '"gate-1"' in data:
                break
            assert "crane" not in data and "south" not in data and "no-camera" not in data
    c.close()
    assert seen == ["site", "camera", "config", "alert"]


def _stats_cameras() -> list[dict[str, object]]:
    return [{"camera_id": "gate", "fps_analysed": 2.0}, {"camera_id": "crane", "fps_analysed": 2.0}]


def test_site_stats_show_only_the_users_cameras(console: Console) -> None:
    """The edge's stats list every camera of the site: a camera-limited user gets theirs."""
    _world(console)
    db = console.client.app.state.sitewatch.db  # type: ignore[attr-defined]
    with db.session() as s:
        s.get(Site, "north").stats = {"batches": 10, "cameras": _stats_cameras()}
    gate = console.login("gate.mgr").get("/api/sites").json()
    assert [x["id"] for x in gate] == ["north"]
    assert [c["camera_id"] for c in gate[0]["stats"]["cameras"]] == ["gate"]
    assert gate[0]["stats"]["batches"] == 10 and gate[0]["open_alerts"] == 1
    north = console.login("north.mgr").get("/api/sites").json()
    assert [c["camera_id"] for c in north[0]["stats"]["cameras"]] == ["gate", "crane"]
    assert north[0]["open_alerts"] == 2


def test_create_user_on_the_command_line_takes_cameras(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "sitewatch"
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SITEWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "PW": "long-enough-password",
    }
    base = [str(script), "server", "create-user", "--role", "manager", "--password-env", "PW"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    bad = run("--username", "a", "--sites", "north", "--cameras", "south/crane")
    assert bad.returncode == 2 and "not among the user's sites" in bad.stderr, bad.stderr
    ok = run("--username", "b", "--sites", "north,south", "--cameras", "north/gate, south/crane")
    assert ok.returncode == 0, ok.stderr
    assert "cameras north/gate, south/crane" in ok.stdout
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    engine = create_engine(env["SITEWATCH_DATABASE_URL"])
    with Session(engine) as s:
        users = {u.username: u.cameras for u in s.scalars(select(User))}
    engine.dispose()
    assert users == {"b": ["north/gate", "south/crane"]}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migration_gives_old_audit_rows_their_camera(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rows written before revision 0002 get their camera from the alert, the evidence
    file's alert or the camera's id; users keep seeing every camera (NULL)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from sitewatch.console.store.db import alembic_config

    url = (
        request.getfixturevalue("postgres_url")
        if kind == "postgresql"
        else f"sqlite:///{tmp_path / 'old.db'}"
    )
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    now = datetime.now(UTC)
    alert = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alerts (id, site_id, camera_id, rule, track_id, zone_id, label, "
                "score, box, started_at, last_seen_at, event, seq, config_version, state, "
                "received_at, updated_at) VALUES (:id, 'north', 'crane', 'no_helmet', 1, "
                "'whole', 'head', 0.9, '[0, 0, 1, 1]', :t, :t, 'start', 0, 'v1', 'new', :t, :t)"
            ),
            {"id": alert, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, language, sites, active, "
                "created_at) VALUES ('old', 'x', 'manager', 'en', '[\"north\"]', true, :t)"
            ),
            {"t": now},
        )
        for action, object_type, object_id, site in (
            ("view", "evidence", f"{alert}/clip.mp4", "north"),
            ("export", "alert", alert, "north"),
            ("config_change", "camera", "north/gate", "north"),
            ("login", "user", "old", None),
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, username, action, object_type, object_id, "
                    "site_id, detail) VALUES (:t, 'old', :a, :ot, :oid, :site, '')"
                ),
                {"t": now, "a": action, "ot": object_type, "oid": object_id, "site": site},
            )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, camera_id FROM audit_log ORDER BY id")).all()
        cameras = conn.execute(text("SELECT cameras FROM users")).scalar_one()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("view", "crane"),
        ("export", "crane"),
        ("config_change", "gate"),
        ("login", None),
    ]
    assert cameras is None
