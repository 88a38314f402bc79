"""Configuration that goes backwards, with nothing standing in: a real edge worker (gst-rtsp-server
camera, the real model, mosquitto) and the console in uvicorn.

An operator's zone change is applied (version 2); the edge stops, its file is put back to
version 1 and it starts again: the console marks the camera and the site (``config_regressed``),
pushes it live, audits it, and re-sends the lost change against version 1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sitewatch.console.domain.config_regress import older
from sitewatch.console.store.models import AuditEntry
from sitewatch.contract import messages as m
from sitewatch.edge.config.load import load_config
from tests.support.browser_support import Served, mqtt_fixture, served_fixture, wait_until  # noqa: F401
from tests.support.config_edge_support import CAMERA, FIRST_ZONES, ConfigEdge
from tests.support.e2e_support import SITE
from tests.support.ingest_support import PREFIX, T0, edge_of, live_console
from tests.support.mqtt_broker import Collector as MqttCollector
from tests.support.mqtt_broker import Mosquitto, broker_fixture, until_received  # noqa: F401

pytestmark = pytest.mark.slow
DRAWN = {
    "id": "rest-corner",
    "name": "休息区",
    "kind": "mask",
    "points": [[0.6, 0.6], [0.95, 0.6], [0.95, 0.95], [0.6, 0.95]],
}


@pytest.fixture(name="edge")
def edge_fixture(tmp_path: Path, mqtt: Mosquitto, served: Served) -> Iterator[ConfigEdge]:
    edge = ConfigEdge(tmp_path, mqtt, served)
    try:
        edge.start()
        yield edge
    finally:
        edge.close()


class Watcher:
    """The live stream (SSE) of one user, read in a thread: the ``camera`` events that came."""

    def __init__(self, served: Served, username: str) -> None:
        self.client = served.api(username)
        self.cameras: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind = ""
        try:
            with self.client.stream("GET", "/api/events", timeout=None) as r:
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "camera":
                        self.cameras.append(json.loads(line.removeprefix("data: ")))
        except httpx.HTTPError:
            return  # closed by close()

    def close(self) -> None:
        self._stop.set()
        self.client.close()


def _camera(served: Served, client: httpx.Client) -> dict[str, Any]:
    [cam] = [c for c in served.get_json(client, f"/api/cameras?site={SITE}")]
    assert cam["camera_id"] == CAMERA
    return dict(cam)


def _applied(served: Served, client: httpx.Client, request_id: str) -> dict[str, Any]:
    def answered() -> bool:
        got = served.get_json(client, f"/api/config-requests/{request_id}")
        return bool(got["status"] != "pending")

    wait_until(f"the edge's answer to request {request_id}", answered, 30)
    row: dict[str, Any] = served.get_json(client, f"/api/config-requests/{request_id}")
    assert row["status"] == "applied", row
    return row


def test_a_change_lost_by_an_edge_restart_is_shown_and_sent_again(
    served: Served, edge: ConfigEdge
) -> None:
    served.add_user("zhao.op", "operator", [SITE])
    served.add_user("police.wu", "police", [SITE])
    operator = served.api("zhao.op")
    config_url = f"/api/cameras/{SITE}/{CAMERA}/config"
    wait_until(
        "the edge's camera config at the console",
        lambda: served.get_json(operator, config_url)["version"] == "1",
        60,
    )
    change = {
        "base_version": "1",
        "zones": [*FIRST_ZONES, DRAWN],
        "rules": {"no_helmet": {"min_score": 0.45}},
    }
    r = operator.post(config_url, json=change)
    assert r.status_code == 202, r.text
    assert _applied(served, operator, r.json()["request_id"])["version"] == "2"
    wait_until(
        "version 2 at the console", lambda: _camera(served, operator)["config_version"] == "2"
    )
    assert _camera(served, operator)["config_regressed"] is None

    # the edge restarts from its file put back to version 1: the operator's zone is gone
    watcher = Watcher(served, "zhao.op")
    edge.stop()
    edge.write_version_1()
    edge.start()
    # the edge's status (version 1 for all its cameras) may come before the camera's own
    # config: the warning can show a moment before the camera's version and zones do
    wait_until(
        "the console's warning that the camera went back, and the camera's version 1",
        lambda: (
            (cam := _camera(served, operator))["config_regressed"] is not None
            and cam["config_version"] == "1"
        ),
        60,
    )
    cam = _camera(served, operator)
    assert {k: cam["config_regressed"][k] for k in ("applied", "reported")} == {
        "applied": "2",
        "reported": "1",
    }
    [site] = served.get_json(operator, "/api/sites")
    assert (
        site["config_regressed"]["applied"] == "2" and site["config_regressed"]["reported"] == "1"
    )
    wait_until(
        "the warning pushed live",
        lambda: any(c.get("config_regressed") for c in watcher.cameras if c["camera_id"] == CAMERA),
    )
    watcher.close()
    with served.state.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "config_regressed")).all()
        marked = sorted((row.object_type, row.object_id) for row in rows)
    assert marked == [("camera", f"{SITE}/{CAMERA}"), ("site", SITE)], marked

    # police may not re-send; the operator does, against the version the edge runs now
    police = served.api("police.wu")
    assert police.post(f"{config_url}/resend").status_code == 403
    r = operator.post(f"{config_url}/resend")
    assert r.status_code == 202, r.text
    assert r.json()["base_version"] == "1"
    # the edge counts on from the version it runs (today 2 again; an edge that keeps its
    # versions across restarts may say 3): newer than what it reported, and shown
    version = _applied(served, operator, r.json()["request_id"])["version"]
    assert int(version) > 1, version
    wait_until(
        f"version {version} at the console, the warning gone",
        lambda: (
            _camera(served, operator)["config_regressed"] is None
            and _camera(served, operator)["config_version"] == version
        ),
    )
    shown = served.get_json(operator, config_url)
    assert [z["id"] for z in shown["zones"]] == ["gate", "rest-corner"]
    assert shown["rules"]["no_helmet"]["min_score"] == pytest.approx(0.45)
    [site] = served.get_json(operator, "/api/sites")
    assert site["config_regressed"] is None
    assert edge.worker is not None
    on_disk = load_config(edge.worker.worker.path)
    assert on_disk.version == int(version)
    assert [z.id for z in on_disk.camera(CAMERA).zones] == ["gate", "rest-corner"]
    with served.state.db.session() as s:
        [resent] = s.scalars(select(AuditEntry).where(AuditEntry.action == "config_resend")).all()
        assert "re-sending version 2" in resent.detail and resent.username == "zhao.op"

    # nothing is lost now: nothing to re-send
    again = operator.post(f"{config_url}/resend")
    assert again.status_code == 409, again.text
    assert "nothing to re-send" in again.json()["detail"]


# -- the same through ingest alone: an edge stand-in publishing as the edge does -------------------


@pytest.mark.parametrize(
    ("reported", "applied", "behind"),
    [("1", "2", True), ("9", "10", True), ("10", "9", False), ("2", "2", False),
     ("v1", "2", False), (None, "2", False), ("1", None, False)],
)  # fmt: skip
def test_versions_are_compared_as_numbers(
    reported: str | None, applied: str | None, behind: bool
) -> None:
    assert older(reported, applied) is behind


def _camera_config(version: str, zones: list[dict[str, Any]], at: datetime) -> bytes:
    msg = m.CameraConfig(
        site_id="north", camera_id="gate", name="Gate", version=version,
        zones=[m.ZoneSpec.model_validate(z) for z in zones], rules={}, at=at,
    )  # fmt: skip
    return m.encode(msg)


def test_a_repeated_older_report_is_marked_once_and_a_newer_one_clears_it(
    tmp_path: Path, broker: Mosquitto
) -> None:
    topic = m.camera_config(PREFIX, "north", "gate")
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        commands = MqttCollector()
        edge.transport.subscribe(m.config_command(PREFIX, "+"), commands)
        until_received(commands, edge.transport, m.config_command(PREFIX, "probe"))
        edge.send(topic, _camera_config("3", [], T0), retain=True)
        console.settle(edge.sent)
        console.add_user("op.north", "operator", ["north"])
        operator = console.login("op.north")
        r = operator.post(
            "/api/cameras/north/gate/config", json={"base_version": "3", "zones": [DRAWN]}
        )
        assert r.status_code == 202, r.text

        def answer(version: str) -> m.ConfigCommand:
            [(_, payload)] = commands.wait_for(1)
            commands.clear()
            command = m.decode(payload, m.ConfigCommand)
            result = m.ConfigResult(
                request_id=command.request_id, site_id="north", status="applied",
                version=version, at=datetime.now(UTC),
            )  # fmt: skip
            edge.send(m.config_result(PREFIX, "north"), m.encode(result))
            edge.send(topic, _camera_config(version, [DRAWN], datetime.now(UTC)), retain=True)
            console.settle(edge.sent)
            return command

        def regressed() -> Any:
            [cam] = operator.get("/api/cameras?site=north").json()
            return cam["config_regressed"]

        answer("4")
        assert regressed() is None
        # the edge restarts from its older file, twice (or the console reads it again)
        for _ in range(2):
            edge.send(topic, _camera_config("3", [], datetime.now(UTC)), retain=True)
            console.settle(edge.sent)
        lost = regressed()
        assert (lost["applied"], lost["reported"]) == ("4", "3")
        marked = console.rows(AuditEntry, AuditEntry.action == "config_regressed")
        assert len(marked) == 1 and marked[0].username == "ingest"

        r = operator.post("/api/cameras/north/gate/config/resend")
        assert r.status_code == 202, r.text
        resent = answer("4")
        assert regressed() is None
        assert resent.base_version == "3" and [z.id for z in resent.zones] == ["rest-corner"]
