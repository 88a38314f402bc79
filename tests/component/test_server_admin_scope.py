"""A site-scoped admin manages only the users of its own sites (issue 12, attack 5), over the
real API on a real SQLite file: it made an admin of every site, widened its own sites and
reset the global admin's password; each is refused now, with what is allowed, and the changes
it may make still work and are audited with the value before."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from tests.support.console_support import PASSWORD, Console, add_users, console_fixture  # noqa: F401

NEW_PASSWORD = "another-long-password"


def _world(console: Console) -> None:
    add_users(
        console,
        ("root", "admin", ["*"]),
        ("north.admin", "admin", ["north"]),
        ("gate.admin", "admin", ["north"], ["north/gate"]),
        ("north.mgr", "manager", ["north"]),
        ("south.mgr", "manager", ["south"]),
        ("both.mgr", "manager", ["north", "south"]),
        ("gate.op", "operator", ["north"], ["north/gate"]),
    )


def _new(username: str, role: str, sites: list[str], **extra: object) -> dict[str, object]:
    return {"username": username, "password": NEW_PASSWORD, "role": role, "sites": sites, **extra}


def _refused(r: Response, *words: str) -> None:
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail


def _users(c: TestClient) -> dict[str, dict[str, object]]:
    return {u["username"]: u for u in c.get("/api/users").json()}


def test_a_site_admin_cannot_create_users_beyond_its_sites(console: Console) -> None:
    _world(console)
    c = console.login("north.admin")
    _refused(c.post("/api/users", json=_new("evil", "admin", ["*"])), "'*'", "['north']")
    _refused(c.post("/api/users", json=_new("evil", "admin", ["north", "south"])), "['south']")
    _refused(c.post("/api/users", json=_new("evil", "manager", ["south"])), "your sites")
    # a taken name outside its sites is not revealed by a 409 either
    _refused(c.post("/api/users", json=_new("south.mgr", "manager", ["south"])))
    root = console.login("root")
    assert "evil" not in _users(root)
    # within its sites: any role, admins too
    r = c.post("/api/users", json=_new("north.admin2", "admin", ["north"]))
    assert r.status_code == 201, r.text
    r = c.post("/api/users", json=_new("crane.op", "operator", ["north"], cameras=["north/crane"]))
    assert r.status_code == 201 and r.json()["cameras"] == ["north/crane"]
    assert console.login("north.admin2", NEW_PASSWORD).get("/api/auth/me").status_code == 200


def test_a_site_admin_cannot_widen_its_own_sites(console: Console) -> None:
    _world(console)
    c = console.login("north.admin")
    _refused(c.patch("/api/users/north.admin", json={"sites": ["north", "south"]}), "['south']")
    _refused(c.patch("/api/users/north.admin", json={"sites": ["*"]}), "'*'")
    _refused(c.patch("/api/users/north.admin", json={"sites": ["south"]}), "['south']")
    me = c.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["sites"] == ["north"]  # nothing changed
    # a camera-limited admin cannot lift its own camera limit either
    g = console.login("gate.admin")
    _refused(g.patch("/api/users/gate.admin", json={"cameras": None}), "every camera")
    _refused(g.patch("/api/users/gate.admin", json={"cameras": ["north/crane"]}), "north/crane")
    assert g.get("/api/auth/me").json()["cameras"] == ["north/gate"]


def test_a_site_admin_cannot_touch_the_global_admin_or_other_sites_users(
    console: Console,
) -> None:
    _world(console)
    c = console.login("north.admin")
    root_session = console.login("root")
    _refused(c.patch("/api/users/root", json={"password": NEW_PASSWORD}), "'*'")
    _refused(c.patch("/api/users/root", json={"active": False}), "'*'")
    _refused(c.patch("/api/users/root", json={"role": "manager"}), "'*'")
    _refused(c.patch("/api/users/south.mgr", json={"password": NEW_PASSWORD}), "['south']")
    _refused(c.patch("/api/users/both.mgr", json={"sites": ["north"]}), "['south']")
    # the global admin is untouched: still logged in, still the old password
    assert root_session.get("/api/auth/me").json()["role"] == "admin"
    console.login("root", PASSWORD)
    console.login("south.mgr", PASSWORD)
    # nor may it give one of its own users a site it does not have
    _refused(c.patch("/api/users/north.mgr", json={"sites": ["north", "south"]}), "['south']")
    _refused(c.patch("/api/users/north.mgr", json={"sites": ["*"]}), "'*'")
    # it lists only the users it manages
    assert set(_users(c)) == {"north.admin", "gate.admin", "north.mgr", "gate.op"}
    assert set(_users(root_session)) >= {"root", "south.mgr", "both.mgr"}


def test_a_camera_limited_admin_grants_only_its_cameras(console: Console) -> None:
    _world(console)
    g = console.login("gate.admin")
    _refused(g.post("/api/users", json=_new("x", "manager", ["north"])), "every camera")
    _refused(
        g.post("/api/users", json=_new("x", "manager", ["north"], cameras=["north/crane"])),
        "north/crane",
    )
    _refused(g.patch("/api/users/north.mgr", json={"language": "zh-CN"}), "every camera")
    r = g.post("/api/users", json=_new("x", "manager", ["north"], cameras=["north/gate"]))
    assert r.status_code == 201, r.text
    r = g.patch("/api/users/gate.op", json={"role": "manager"})
    assert r.status_code == 200 and r.json()["role"] == "manager"
    assert set(_users(g)) == {"gate.admin", "gate.op", "x"}


def test_allowed_changes_work_and_are_audited_with_the_value_before(console: Console) -> None:
    _world(console)
    c = console.login("north.admin")
    mgr = console.login("north.mgr")
    r = c.patch("/api/users/north.mgr", json={"password": NEW_PASSWORD, "role": "operator"})
    assert r.status_code == 200 and r.json()["role"] == "operator"
    assert mgr.get("/api/auth/me").status_code == 401  # its session ended
    bad = console.client.post(
        "/api/auth/login", json={"username": "north.mgr", "password": PASSWORD}
    )
    assert bad.status_code == 401
    assert console.login("north.mgr", NEW_PASSWORD).get("/api/auth/me").json()["role"] == "operator"
    r = c.patch("/api/users/gate.op", json={"cameras": None, "active": False})
    assert r.status_code == 200 and r.json()["cameras"] is None and not r.json()["active"]
    # narrowing itself is allowed (it loses nothing it could not give up)
    r = c.patch("/api/users/north.admin", json={"language": "zh-CN"})
    assert r.status_code == 200
    rows = console.login("root").get("/api/audit", params={"object_type": "user"}).json()
    updates = {
        (row["username"], row["object_id"], row["detail"])
        for row in rows
        if row["action"] == "user_update"
    }
    assert ("north.admin", "north.mgr", "password reset; role manager -> operator") in updates
    assert ("north.admin", "gate.op", "cameras north/gate -> every camera; disabled") in updates
    assert ("north.admin", "north.admin", "language en -> zh-CN") in updates


def test_the_last_admin_of_every_site_stays_one(console: Console) -> None:
    _world(console)
    root = console.login("root")
    for change in ({"role": "manager"}, {"active": False}, {"sites": ["north"]}):
        r = root.patch("/api/users/root", json=change)
        assert r.status_code == 409 and "every site" in r.json()["detail"], (change, r.text)
    assert root.post("/api/users", json=_new("root2", "admin", ["*"])).status_code == 201
    r = root.patch("/api/users/root", json={"sites": ["north"]})
    assert r.status_code == 200 and r.json()["sites"] == ["north"]


def test_a_site_id_off_the_contracts_pattern_is_refused_on_create_and_change(
    console: Console,
) -> None:
    _world(console)
    c = console.login("root")
    r = c.post("/api/users", json=_new("odd", "manager", ["x!y"]))
    assert r.status_code == 422 and "x!y" in r.text and "lower-case" in r.text, r.text
    r = c.patch("/api/users/north.mgr", json={"sites": ["north", "South "]})
    assert r.status_code == 422 and "South " in r.text, r.text
    assert _users(c)["north.mgr"]["sites"] == ["north"]
