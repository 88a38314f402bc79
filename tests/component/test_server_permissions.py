"""Each role can do exactly what it should, over the real API, and no user sees another site.

The capability table is written out here on purpose (not read from
sitewatch/console/permissions.py): a change of a role's rights must change this test too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from sitewatch.console.permissions import ROLE_CAPABILITIES
from sitewatch.console.store.models import Camera
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

ROLES = {
    "admin": {"alerts.read", "alerts.workflow", "evidence.read", "evidence.export",
              "cameras.read", "config.write", "stats.read", "reports.read", "audit.read",
              "users.manage", "video.view"},
    # site safety manager: works alerts, manages no users, changes no zones
    "manager": {"alerts.read", "alerts.workflow", "evidence.read", "evidence.export",
                "cameras.read", "stats.read", "reports.read", "video.view"},
    # police: reads alerts and evidence, exports packages, changes nothing
    "police": {"alerts.read", "evidence.read", "evidence.export", "stats.read", "audit.read",
               "video.view"},
    # operator: cameras, zones and thresholds; reads alerts to tune them, never acts on them
    "operator": {"alerts.read", "evidence.read", "cameras.read", "config.write", "video.view"},
}  # fmt: skip


@dataclass(frozen=True)
class Call:
    capability: str
    method: str
    path: str  # {a}: an alert of site north, {b}: one of site south
    body: dict[str, object] | None = None
    ok: int | None = 200  # None: the route's own answer, only not 401/403/404/500

    def send(self, c: TestClient, a: str, b: str, role: str) -> int:
        path = self.path.format(a=a, b=b, role=role)
        body = None if self.body is None else _fill(self.body, role)
        return c.request(self.method, path, json=body).status_code


def _fill(body: dict[str, object], role: str) -> dict[str, object]:
    return {k: v.format(role=role) if isinstance(v, str) else v for k, v in body.items()}


CALLS = [
    Call("alerts.read", "GET", "/api/alerts"),
    Call("alerts.read", "GET", "/api/alerts/{a}"),
    Call("alerts.read", "GET", "/api/sites"),
    Call("alerts.workflow", "POST", "/api/alerts/{a}/actions", {"action": "note", "note": "x"}),
    Call("evidence.read", "GET", "/api/alerts/{a}/evidence/snapshot.jpg"),
    Call("evidence.export", "GET", "/api/alerts/{a}/export"),
    Call("cameras.read", "GET", "/api/cameras"),
    Call("video.view", "GET", "/api/video/cameras"),
    Call("video.view", "GET", "/api/video/timeline/north/gate"),
    Call("cameras.read", "GET", "/api/cameras/north/gate/snapshot"),
    Call("cameras.read", "GET", "/api/cameras/north/gate/config"),
    Call(
        "config.write",
        "POST",
        "/api/cameras/north/gate/config",
        {"base_version": "v1", "zones": []},
        ok=None,  # 503: no MQTT ingest in this test (the config tests send for real)
    ),
    Call("stats.read", "GET", "/api/stats"),
    Call("reports.read", "GET", "/api/reports?format=xlsx"),
    Call("audit.read", "GET", "/api/audit"),
    Call("users.manage", "GET", "/api/users"),
    Call(
        "users.manage",
        "POST",
        "/api/users",
        {"username": "new.{role}", "password": "long-enough-pw", "role": "police", "sites": ["n"]},
        ok=201,
    ),
    Call("users.manage", "PATCH", "/api/users/{role}.north", {"language": "zh-CN"}),
]
# what a user of site north must not reach at site south: always 404, never 403 or 200
SOUTH = [
    ("alerts.read", "GET", "/api/alerts/{b}", None),
    ("alerts.read", "GET", "/api/alerts?site=south", None),
    ("alerts.workflow", "POST", "/api/alerts/{b}/actions", {"action": "note", "note": "x"}),
    ("evidence.read", "GET", "/api/alerts/{b}/evidence/snapshot.jpg", None),
    ("evidence.export", "GET", "/api/alerts/{b}/export", None),
    ("cameras.read", "GET", "/api/cameras?site=south", None),
    ("cameras.read", "GET", "/api/cameras/south/crane/snapshot", None),
    ("stats.read", "GET", "/api/stats?site=south", None),
    ("reports.read", "GET", "/api/reports?site=south", None),
    ("evidence.export", "GET", "/api/alerts/{b}/report.pdf", None),
    ("audit.read", "GET", "/api/audit?site=south", None),
]


def test_the_capability_table_is_what_the_issue_asks() -> None:
    assert {r: set(c) for r, c in ROLE_CAPABILITIES.items()} == ROLES


def _world(console: Console) -> tuple[str, str]:
    """Users of every role at site north (admin: every site), an alert at north and south."""
    add_users(console, *[(f"{r}.north", r, ["*"] if r == "admin" else ["north"]) for r in ROLES])
    files = [("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes())]
    a = seed_alert(console, "north", "gate", files=files)
    b = seed_alert(console, "south", "crane", files=files)
    for site, camera in (("north", "gate"), ("south", "crane")):
        path = console.settings.evidence_dir / "_cameras" / site / f"{camera}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(camera))
        with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
            s.get(Camera, (site, camera)).snapshot_path = str(path)
    return a, b


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_can_do_exactly_its_capabilities(console: Console, role: str) -> None:
    a, b = _world(console)
    c = console.login(f"{role}.north")
    got: dict[str, int] = {}
    for call in CALLS:
        code = call.send(c, a, b, role)
        got[f"{call.method} {call.path}"] = code
        if call.capability not in ROLES[role]:
            assert code == 403, f"{role} {call.method} {call.path}: {code}, expected 403"
        elif call.ok is None:
            assert code not in (401, 403, 404, 500), f"{role} {call.path}: {code}"
        else:
            assert code == call.ok, f"{role} {call.method} {call.path}: {code}, expected {call.ok}"
    # what the issue spells out, checked once more in plain words
    acted = got["POST /api/alerts/{a}/actions"]
    if role == "police":
        assert acted == 403 and got["GET /api/alerts/{a}/export"] == 200
        assert got["GET /api/alerts/{a}/evidence/snapshot.jpg"] == 200
    if role == "operator":
        assert acted == 403
    if role == "manager":
        assert got["GET /api/users"] == got["POST /api/users"] == 403
    state = c.get(f"/api/alerts/{a}").json()
    assert state["state"] == "new" and [x["action"] for x in state["actions"]] == (
        ["note"] if "alerts.workflow" in ROLES[role] else []
    )


@pytest.mark.parametrize("role", ["manager", "police", "operator"])
def test_a_user_of_site_north_never_sees_site_south(console: Console, role: str) -> None:
    a, b = _world(console)
    c = console.login(f"{role}.north")
    for capability, method, path, body in SOUTH:
        code = c.request(method, path.format(b=b), json=body).status_code
        expected = 404 if capability in ROLES[role] else 403
        assert code == expected, f"{role} {method} {path}: {code}, expected {expected}"
    # and south never shows up in north's lists, counts and stats
    if "alerts.read" in ROLES[role]:
        listed = c.get("/api/alerts", params={"state": ["new", "resolved"]}).json()
        assert [x["id"] for x in listed["items"]] == [a] and listed["total"] == 1
        assert [s["id"] for s in c.get("/api/sites").json()] == ["north"]
    if "cameras.read" in ROLES[role]:
        assert [x["site_id"] for x in c.get("/api/cameras").json()] == ["north"]
    if "stats.read" in ROLES[role]:
        st = c.get("/api/stats").json()
        assert {d["site_id"] for d in st["per_day"]} == {"north"}
        assert sum(st["by_state"].values()) == 1
    if "audit.read" in ROLES[role]:
        admin = console.login("admin.north")
        assert admin.get(f"/api/alerts/{b}/evidence/snapshot.jpg").status_code == 200
        sites = {r["site_id"] for r in c.get("/api/audit").json()}
        assert "south" not in sites and None not in sites  # logins: admins only


def test_admin_sees_every_site(console: Console) -> None:
    a, b = _world(console)
    c = console.login("admin.north")
    assert {x["id"] for x in c.get("/api/alerts").json()["items"]} == {a, b}
    assert [s["id"] for s in c.get("/api/sites").json()] == ["north", "south"]
    assert c.get(f"/api/alerts/{b}/export").status_code == 200
    assert sum(c.get("/api/stats").json()["by_state"].values()) == 2


def test_without_login_everything_but_health_is_401(console: Console) -> None:
    a, b = _world(console)
    anon = TestClient(console.client.app)
    for call in CALLS:
        code = call.send(anon, a, b, "x")
        assert code == 401, f"{call.method} {call.path}: {code} without login"
    assert anon.get("/api/events").status_code == 401
    assert anon.get("/api/health").status_code == 200


def test_a_state_change_without_the_csrf_header_is_refused(console: Console) -> None:
    a, _ = _world(console)
    c = console.login("manager.north")
    del c.headers["X-CSRF-Token"]
    r = c.post(f"/api/alerts/{a}/actions", json={"action": "acknowledge"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    assert c.get(f"/api/alerts/{a}").json()["state"] == "new"
