"""Camera config endpoints: a change goes out as a ConfigCommand on a real mosquitto, the edge's
answer (applied or refused) comes back; who may see and change what."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from sitewatch.console.store.models import AuditEntry, Camera, ConfigRequest
from sitewatch.contract import messages as m
from sitewatch.contract.signing import SigningKeyError, load_key, public_key_text, verify
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.commands import apply_command
from sitewatch.edge.config.load import load_config
from sitewatch.edge.publish.console_feed import camera_config_message
from tests.support.console_support import Console, console_fixture, make_settings  # noqa: F401
from tests.support.ingest_support import PREFIX, T0, Edge, LiveConsole, edge_of, live_console
from tests.support.mqtt_broker import Collector, Mosquitto, broker_fixture, until_received  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ZONE = {
    "id": "floor",
    "name": "Floor",
    "kind": "helmet_required",
    "points": [[0, 0], [1, 0], [1, 1]],
}
GATE_CONFIG = m.CameraConfig(
    site_id="north",
    camera_id="gate",
    name="Main gate",
    version="3",
    zones=[m.ZoneSpec.model_validate(ZONE)],
    rules={"no_helmet": {"min_score": 0.5}},
    at=T0,
)


class Site:
    """The console with ingest, an edge's publisher, a watcher of config/set, and users."""

    def __init__(self, console: LiveConsole, edge: Edge, commands: Collector) -> None:
        self.console, self.edge, self.commands = console, edge, commands

    def answer(
        self, command: m.ConfigCommand, status: str, version: str, reason: Any = None
    ) -> None:
        result = m.ConfigResult.model_validate(
            {
                "request_id": command.request_id,
                "site_id": command.site_id,
                "status": status,
                "version": version,
                "reason": reason,
                "at": datetime.now(UTC),
            }
        )
        self.edge.send(m.config_result(PREFIX, command.site_id), m.encode(result))
        self.console.settle(self.edge.sent)

    def command(self) -> m.ConfigCommand:
        [(topic, payload)] = self.commands.wait_for(1)
        self.commands.clear()
        command = m.decode(payload, m.ConfigCommand)
        assert topic == m.config_command(PREFIX, command.site_id)
        return command


@pytest.fixture
def site(tmp_path: Path, broker: Mosquitto) -> Iterator[Site]:
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        commands = Collector()
        edge.transport.subscribe(m.config_command(PREFIX, "+"), commands)
        until_received(commands, edge.transport, m.config_command(PREFIX, "probe"))
        edge.send(m.camera_config(PREFIX, "north", "gate"), m.encode(GATE_CONFIG), retain=True)
        console.settle(edge.sent)
        console.add_user("op.north", "operator", ["north"])
        console.add_user("op.south", "operator", ["south"])
        console.add_user("mgr.north", "manager", ["north"])
        console.add_user("police", "police", ["*"])
        yield Site(console, edge, commands)


def change(base: str = "3", zones: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    zone = {**ZONE, "id": "platform", "points": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}
    return {"base_version": base, "zones": zones if zones is not None else [zone]}


def test_a_change_reaches_the_edge_and_its_answer_shows(site: Site) -> None:
    operator = site.console.login("op.north")
    before = operator.get("/api/cameras/north/gate/config")
    assert before.status_code == 200, before.text
    assert before.json()["version"] == "3" and before.json()["zones"][0]["id"] == "floor"
    assert before.json()["pending"] is None

    r = operator.post("/api/cameras/north/gate/config", json=change())
    assert r.status_code == 202, r.text
    request = r.json()
    assert (request["status"], request["issued_by"], request["base_version"]) == (
        "pending",
        "op.north",
        "3",
    )
    command = site.command()
    assert str(command.request_id) == request["request_id"]
    assert (command.camera_id, command.issued_by) == ("gate", "op.north")
    # signed with the key the console made on first start, in its key file
    console_key = load_key(site.console.settings.signing_key_file).public_key()
    assert verify(command, console_key)
    assert not verify(command.model_copy(update={"issued_by": "admin"}), console_key)
    assert [z.id for z in command.zones] == ["platform"]
    pending = operator.get("/api/cameras/north/gate/config").json()["pending"]
    assert pending["request_id"] == request["request_id"]

    site.answer(command, "applied", "4")
    done = operator.get(f"/api/config-requests/{request['request_id']}").json()
    assert (done["status"], done["version"], done["reason"]) == ("applied", "4", None)
    assert done["answered_at"] is not None
    assert operator.get("/api/cameras/north/gate/config").json()["pending"] is None
    [audit] = site.console.rows(AuditEntry, AuditEntry.action == "config_change")
    assert (audit.username, audit.object_id, audit.site_id) == ("op.north", "north/gate", "north")
    assert request["request_id"] in audit.detail

    r = operator.post("/api/cameras/north/gate/config", json=change(base="3"))
    command = site.command()
    site.answer(command, "refused", "4", "made against config version 3, the edge runs 4")
    refused = operator.get(f"/api/config-requests/{r.json()['request_id']}").json()
    assert refused["status"] == "refused" and "the edge runs 4" in refused["reason"]
    site.answer(command, "applied", "5")  # a late, contradicting repeat changes nothing
    again = operator.get(f"/api/config-requests/{r.json()['request_id']}").json()
    assert again == refused


def test_who_may_see_and_change_a_camera_config(site: Site) -> None:
    url = "/api/cameras/north/gate/config"
    manager, police = site.console.login("mgr.north"), site.console.login("police")
    other, operator = site.console.login("op.south"), site.console.login("op.north")
    assert manager.get(url).status_code == 200  # managers see the zones
    r = manager.post(url, json=change())
    assert r.status_code == 403 and "config.write" in r.json()["detail"]
    assert police.get(url).status_code == 403
    assert other.get(url).status_code == 404
    assert other.post(url, json=change()).status_code == 404
    assert operator.get("/api/cameras/north/nope/config").status_code == 404
    ok = operator.post(url, json=change())
    assert ok.status_code == 202
    request_url = f"/api/config-requests/{ok.json()['request_id']}"
    assert other.get(request_url).status_code == 404
    assert manager.get(request_url).status_code == 200
    assert operator.get(f"/api/config-requests/{uuid.uuid4()}").status_code == 404
    site.command()
    assert len(site.console.rows(ConfigRequest)) == 1  # only the operator's change went out


def test_an_invalid_change_is_refused_before_it_is_sent(site: Site) -> None:
    operator = site.console.login("op.north")
    r = operator.post("/api/cameras/north/gate/config", json=change(zones=[ZONE, ZONE]))
    assert r.status_code == 422 and "unique" in r.json()["detail"]
    r = operator.post("/api/cameras/north/gate/config", json={**change(), "zones": "x"})
    assert r.status_code == 422
    assert site.console.rows(ConfigRequest) == []


def test_without_a_broker_a_change_is_refused_with_503(console: Console) -> None:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        s.add(Camera(site_id="north", camera_id="gate", name="", state="online"))
    console.add_user("op.north", "operator", ["north"])
    r = console.login("op.north").post("/api/cameras/north/gate/config", json=change())
    assert r.status_code == 503 and "MQTT broker" in r.json()["detail"]
    with state.db.session() as s:
        assert s.query(ConfigRequest).count() == 0


def test_the_real_edge_command_handler_applies_and_refuses(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "edge" / "cameras.yaml"
    path.parent.mkdir()
    shutil.copy(ROOT / "configs" / "cameras.yaml", path)
    config = load_config(path)
    camera = config.cameras[0]
    edge_site = config.site.id
    site.console.add_user("op.demo", "operator", [edge_site])
    feed = camera_config_message(config, camera)
    site.edge.send(m.camera_config(PREFIX, edge_site, camera.id), m.encode(feed))
    site.console.settle(site.edge.sent)
    operator = site.console.login("op.demo")
    url = f"/api/cameras/{edge_site}/{camera.id}/config"
    shown = operator.get(url).json()

    r = operator.post(url, json=change(base=shown["version"]))
    assert r.status_code == 202, r.text
    command = site.command()
    # the edge's own gate, given the console's public key, takes it; a changed copy it refuses
    console_key = public_key_text(load_key(site.console.settings.signing_key_file))
    gate = CommandGate(path, console_key, config.trust.command_max_age_s)
    forged = command.model_copy(update={"issued_by": "admin"})
    assert "does not match" in str(gate.take(forged))
    assert gate.take(command) is None
    outcome = apply_command(config, path, command)  # the edge's own handler
    site.answer(command, "applied" if outcome.applied else "refused", str(outcome.config.version))
    done = operator.get(f"/api/config-requests/{r.json()['request_id']}").json()
    assert (done["status"], done["version"]) == ("applied", str(config.version + 1))
    assert [z.id for z in load_config(path).camera(camera.id).zones] == ["platform"]

    bad = {**change(base=str(outcome.config.version)), "rules": {"no_helmet": {"dwell_s": -5}}}
    r = operator.post(url, json=bad)
    command = site.command()
    assert gate.take(command) is None
    assert "a second time" in str(gate.take(command))  # a replay
    refused = apply_command(outcome.config, path, command)
    assert not refused.applied and refused.reason
    site.answer(command, "refused", str(refused.config.version), refused.reason)
    answer = operator.get(f"/api/config-requests/{r.json()['request_id']}").json()
    assert answer["status"] == "refused" and "dwell_s" in answer["reason"]


def test_the_console_makes_its_key_once_and_refuses_to_start_on_a_bad_one(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)):
        pass
    key_file = settings.signing_key_file
    made = key_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600
    with TestClient(create_app(settings)) as client:  # the same key on the next start
        state = client.app.state.sitewatch  # type: ignore[attr-defined]
        assert public_key_text(state.signing_key) == public_key_text(load_key(key_file))
    assert key_file.read_bytes() == made
    key_file.write_text("not a key")
    app = create_app(settings)
    with pytest.raises(SigningKeyError, match="expected an Ed25519 private key"), TestClient(app):
        pass
