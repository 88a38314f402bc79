"""Display names and the camera editor: a site's name kept by the console (zh-CN too), who may
change it, and that it is audited."""

from __future__ import annotations

from console_support import Console, add_users, console_fixture  # noqa: F401
from sqlalchemy import select

from sitewatch.console.store.models import AuditEntry, Site


def _site(console: Console, site_id: str) -> None:
    with console.state.db.session() as s:
        s.add(Site(id=site_id, name="", edge_state="online"))


def test_a_site_gets_a_display_name_in_any_script(console: Console) -> None:
    _site(console, "north")
    _site(console, "south")
    add_users(
        console,
        ("op.north", "operator", ["north"]),
        ("op.gate", "operator", ["north"], ["north/gate"]),
        ("mgr.north", "manager", ["north"]),
    )
    operator = console.login("op.north")
    r = operator.patch("/api/sites/north", json={"name": "  北区工地 1号  "})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "北区工地 1号"
    [site] = operator.get("/api/sites").json()
    assert (site["id"], site["name"]) == ("north", "北区工地 1号")
    with console.state.db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "site_rename")).all()
        assert (entry.username, entry.object_id) == ("op.north", "north")
        assert "'' -> '北区工地 1号'" in entry.detail

    # the same name again changes nothing and writes no second row
    assert operator.patch("/api/sites/north", json={"name": "北区工地 1号"}).status_code == 200
    # back to the id
    assert operator.patch("/api/sites/north", json={"name": ""}).json()["name"] == ""
    with console.state.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "site_rename")).all()
        assert len(rows) == 2

    # another site's, a manager, a user of some cameras only, a name too long: refused
    assert operator.patch("/api/sites/south", json={"name": "x"}).status_code == 404
    assert (
        console.login("mgr.north").patch("/api/sites/north", json={"name": "x"}).status_code == 403
    )
    limited = console.login("op.gate").patch("/api/sites/north", json={"name": "x"})
    assert limited.status_code == 403 and "limited to some of its cameras" in limited.text
    assert operator.patch("/api/sites/north", json={"name": "x" * 201}).status_code == 422
    assert operator.patch("/api/sites/north", json={"name": "x", "id": "y"}).status_code == 422
