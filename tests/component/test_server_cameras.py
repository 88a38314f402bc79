"""Display names and the camera editor: a site's name kept by the console (zh-CN too), who may
change it, and that it is audited; cameras added (with a password in the stream URL), edited
and removed from the console at a real running edge (real mosquitto, RTSP server, model)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.store.models import AuditEntry, ConfigRequest, Site
from sitewatch.edge.config.load import load_config
from tests.support.browser_support import Served, mqtt_fixture, served_fixture, wait_until  # noqa: F401
from tests.support.config_edge_support import CAMERA, ConfigEdge
from tests.support.console_support import Console, add_users, console_fixture  # noqa: F401
from tests.support.e2e_support import SITE
from tests.support.mqtt_broker import Mosquitto

SECRET = "s3cret-Pa55"


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


# -- the camera editor against a real running edge -----------------------------------------------


@pytest.fixture(name="edge")
def edge_fixture(tmp_path: Path, mqtt: Mosquitto, served: Served) -> Iterator[ConfigEdge]:
    edge = ConfigEdge(tmp_path, mqtt, served)
    try:
        edge.start()
        yield edge
    finally:
        edge.close()


def _cameras(served: Served, client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {c["camera_id"]: c for c in served.get_json(client, f"/api/cameras?site={SITE}")}


def _answer(served: Served, client: httpx.Client, r: httpx.Response) -> dict[str, Any]:
    """The edge's answer to the request ``r`` started (202): applied, with its version."""
    assert r.status_code == 202, r.text
    url = f"/api/config-requests/{r.json()['request_id']}"
    wait_until(
        f"the edge's answer ({url})",
        lambda: served.get_json(client, url)["status"] != "pending",
        30,
    )
    row: dict[str, Any] = served.get_json(client, url)
    assert row["status"] == "applied", row
    return row


def test_cameras_are_added_edited_and_removed_at_a_running_edge(
    served: Served, edge: ConfigEdge
) -> None:
    served.add_user("qian.op", "operator", [SITE])
    served.add_user("sun.mgr", "manager", [SITE])
    operator = served.api("qian.op")
    wait_until(
        "the edge's camera with its settings at the console",
        lambda: (_cameras(served, operator).get(CAMERA) or {}).get("settings") is not None,
        60,
    )
    [site] = served.get_json(operator, "/api/sites")
    version = site["config_version"]
    yard = edge.rtsp.url("yard").replace("rtsp://", f"rtsp://viewer:{SECRET}@")
    new = {"camera_id": "cam-yard", "base_version": version, "name": "堆场", "detect": yard}

    # a manager may not; invalid settings (fps 0) are refused before anything is sent
    manager = served.api("sun.mgr")
    assert manager.post(f"/api/sites/{SITE}/cameras", json=new).status_code == 403
    bad = operator.post(f"/api/sites/{SITE}/cameras", json={**new, "detect_fps": 0})
    assert bad.status_code == 422 and "detect_fps" in bad.text, bad.text

    added = _answer(served, operator, operator.post(f"/api/sites/{SITE}/cameras", json=new))
    assert int(added["version"]) == int(version) + 1
    wait_until(
        "the new camera online at the console with a snapshot",
        lambda: (
            (_cameras(served, operator).get("cam-yard") or {}).get("state") == "online"
            and _cameras(served, operator)["cam-yard"]["snapshot_url"] is not None
        ),
        60,
    )
    cam = _cameras(served, operator)["cam-yard"]
    assert cam["name"] == "堆场"
    assert cam["settings"]["detect"] == yard.replace(SECRET, "***")
    assert operator.get(cam["snapshot_url"]).status_code == 200
    # the password reached the edge, and nothing of the console's shows or keeps it
    assert edge.worker is not None
    assert load_config(edge.worker.worker.path).camera("cam-yard").detect == yard
    with served.state.db.session() as s:
        texts = [a.detail for a in s.scalars(select(AuditEntry))]
        texts += [json.dumps(r.payload) for r in s.scalars(select(ConfigRequest))]
    assert all(SECRET not in text for text in texts)
    assert any("add camera cam-yard" in text for text in texts)

    # edit its fps, name, coarse and tile looks; the masked URL it sends back keeps the password
    edit = {
        "base_version": added["version"],
        "detect_fps": 1,
        "name": "堆场 东",
        "coarse_look": True,
        "tile_look": True,
    }
    edited = _answer(
        served, operator, operator.patch(f"/api/sites/{SITE}/cameras/cam-yard", json=edit)
    )
    wait_until(
        "the new fps at the console",
        lambda: _cameras(served, operator)["cam-yard"]["settings"]["detect_fps"] == 1,
        30,
    )
    assert _cameras(served, operator)["cam-yard"]["name"] == "堆场 东"
    running = load_config(edge.worker.worker.path).camera("cam-yard")
    assert (running.detect, running.detect_fps) == (yard, 1)
    assert edge.worker.worker.cameras["cam-yard"].config.detect_fps == 1
    settings = _cameras(served, operator)["cam-yard"]["settings"]
    looks = [settings[k] for k in ("coarse_look", "tile_look", "head_look")]
    assert looks == [True, True, None]  # None: the detector's
    assert (running.coarse_look, running.tile_look, running.head_look) == (True, True, None)
    slot = edge.worker.worker.batcher.looks("cam-yard")  # the running camera's
    assert slot is not None and (slot.coarse_look, slot.tile_look) == (True, True)

    # remove it: gone from the console, and its edge's last words about it do not bring it back
    url = f"/api/sites/{SITE}/cameras/cam-yard?base_version={edited['version']}"
    _answer(served, operator, operator.delete(url))
    wait_until("the camera gone", lambda: "cam-yard" not in _cameras(served, operator), 30)
    assert "cam-yard" not in [c.id for c in load_config(edge.worker.worker.path).cameras]
    time.sleep(3)  # the edge's retained 'offline' status of the removed camera arrives
    assert set(_cameras(served, operator)) == {CAMERA}
    # a console (re)starting on the same database reads the retained topics again
    again = served.settings.model_copy(update={"mqtt_client_id": "console-restarted"})
    with TestClient(create_app(again)) as restarted:
        ingest = restarted.app.state.sitewatch.ingest  # type: ignore[attr-defined]
        assert ingest.wait_ready(20.0)
        wait_until("the retained topics read again", lambda: ingest.received >= 4, 20)
        time.sleep(2)
    assert set(_cameras(served, operator)) == {CAMERA}
    stale = operator.delete(url)
    assert stale.status_code == 404, stale.text


def test_a_camera_added_then_lost_by_an_edge_restart_is_shown(
    tmp_path: Path, mqtt: Mosquitto, served: Served
) -> None:
    site = "e2e-site-lost"
    edge = ConfigEdge(tmp_path, mqtt, served, site)
    try:
        edge.start()
        served.add_user("li.op", "operator", [site])
        operator = served.api("li.op")
        wait_until(
            "the edge's config version at the console",
            lambda: [s["config_version"] for s in served.get_json(operator, "/api/sites")] == ["1"],
            60,
        )
        new = {"camera_id": "cam-yard", "base_version": "1", "detect": edge.rtsp.url("yard")}
        _answer(served, operator, operator.post(f"/api/sites/{site}/cameras", json=new))
        cameras = f"/api/cameras?site={site}"
        wait_until(
            "the added camera at the console",
            lambda: "cam-yard" in [c["camera_id"] for c in served.get_json(operator, cameras)],
        )
        edge.stop()
        edge.write_version_1()  # the file without the camera the console added
        edge.start()

        def yard() -> dict[str, Any]:
            [cam] = [c for c in served.get_json(operator, cameras) if c["camera_id"] == "cam-yard"]
            return dict(cam)

        # the edge no longer runs it and says nothing of it: its edge's status marks it
        wait_until("the lost camera marked", lambda: yard()["config_regressed"] is not None, 60)
        assert (yard()["config_regressed"]["applied"], yard()["config_regressed"]["reported"]) == (
            "2",
            "1",
        )
        again = operator.post(f"/api/cameras/{site}/cam-yard/config/resend")
        assert again.status_code == 409 and "camera editor" in again.json()["detail"], again.text
    finally:
        edge.close()
