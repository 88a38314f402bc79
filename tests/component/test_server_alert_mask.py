""" "Ignore this spot" (POST /api/alerts/{id}/mask): the alert's box becomes a mask zone added
to the camera's reported zones and sent as a ConfigCommand on a real mosquitto, where a
subscriber answering as the edge (the ``site`` fixture of test_server_config, here ``gate``)
sees it and answers; who may do it, and the clear refusals (no reported config, a change in
flight, no box, no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from sitewatch.console.domain.masks import mask_id, mask_points
from sitewatch.console.store.models import Alert, AuditEntry, Camera, ConfigRequest
from sitewatch.contract import messages as m
from tests.component.test_server_config import GATE_CONFIG, PREFIX, Site
from tests.component.test_server_config import site as config_site  # noqa: F401   (the fixture "config_site")
from tests.support.console_support import Console, console_fixture, seed_alert  # noqa: F401
from tests.support.mqtt_broker import broker_fixture  # noqa: F401   (the fixture "broker" of "gate")

BOX = [0.1, 0.2, 0.3, 0.5]  # seed_alert's box
GROWN = [(0.05, 0.125), (0.35, 0.125), (0.35, 0.575), (0.05, 0.575)]  # by the default 0.25


def _flat(points: list[tuple[float, float]]) -> list[float]:
    return [c for point in points for c in point]


@pytest.mark.parametrize(
    ("box", "margin", "corners"),
    [
        (BOX, 0.25, GROWN),
        (BOX, 0.0, [(0.1, 0.2), (0.3, 0.2), (0.3, 0.5), (0.1, 0.5)]),
        ([0.0, 0.9, 0.2, 1.0], 1.0, [(0.0, 0.8), (0.4, 0.8), (0.4, 1.0), (0.0, 1.0)]),
        ([0.5, 0.5, 0.5, 0.6], 0.25, None),  # no width: nothing to mask
        ([0.1, 0.2, 0.3], 0.25, None),
        ([0.1, 0.2, 1.3, 0.5], 0.25, None),
        ([], 0.25, None),
    ],
)
def test_mask_points(box: list[float], margin: float, corners: Any) -> None:
    if corners is None:
        with pytest.raises(ValueError, match="expected"):
            mask_points(box, margin)
    else:
        assert _flat(mask_points(box, margin)) == pytest.approx(_flat(corners))


def test_mask_ids_are_unique_per_camera() -> None:
    alert_id = "3F2A9C1E-0000-4000-8000-000000000000"
    assert mask_id(alert_id, {"floor"}) == "mask-3f2a9c1e"
    assert mask_id(alert_id, {"mask-3f2a9c1e", "mask-3f2a9c1e-2"}) == "mask-3f2a9c1e-3"


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> Site:
    """The config tests' site: north/gate reported at version 3 with one zone, an edge
    subscribed to config commands, users op.north, op.south, mgr.north and police."""
    site: Site = request.getfixturevalue("config_site")
    return site


def _set_box(console: Console, alert_id: str, box: list[float]) -> None:
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        alert = s.get(Alert, alert_id)
        assert alert is not None
        alert.box = box


def test_an_operator_masks_the_spot_and_the_edge_gets_the_old_zones_plus_the_mask(
    gate: Site,
) -> None:
    alert_id = seed_alert(gate.console)
    operator = gate.console.login("op.north")
    r = operator.post(f"/api/alerts/{alert_id}/mask")
    assert r.status_code == 202, r.text
    request = r.json()
    assert (request["status"], request["base_version"]) == ("pending", "3")
    command = gate.command()
    assert str(command.request_id) == request["request_id"]
    assert (command.base_version, command.issued_by, command.rules) == ("3", "op.north", None)
    floor, mask = command.zones
    assert floor == GATE_CONFIG.zones[0]  # the reported zones travel unchanged
    assert (mask.id, mask.kind) == (f"mask-{alert_id[:8]}", "mask")
    assert alert_id[:8] in mask.name
    assert _flat(mask.points) == pytest.approx(_flat(GROWN))
    [audit] = gate.console.rows(AuditEntry, AuditEntry.action == "config.mask_from_alert")
    assert (audit.username, audit.object_type, audit.object_id) == ("op.north", "alert", alert_id)
    assert request["request_id"] in audit.detail and mask.id in audit.detail

    again = operator.post(f"/api/alerts/{alert_id}/mask")  # the first is still unanswered
    assert again.status_code == 409 and request["request_id"] in again.json()["detail"]
    assert "waiting for the edge" in again.json()["detail"]

    gate.answer(command, "applied", "4")
    done = operator.get(f"/api/config-requests/{request['request_id']}").json()
    assert (done["status"], done["version"]) == ("applied", "4")
    # the edge reports its new zones; a second mask from the same alert gets another id
    new_config = GATE_CONFIG.model_copy(update={"version": "4", "zones": command.zones})
    gate.edge.send(m.camera_config(PREFIX, "north", "gate"), m.encode(new_config), retain=True)
    gate.console.settle(gate.edge.sent)
    r = operator.post(f"/api/alerts/{alert_id}/mask", json={"margin": 0, "name": "Poster"})
    assert r.status_code == 202, r.text
    second = gate.command()
    assert second.base_version == "4"
    assert [z.id for z in second.zones] == ["floor", mask.id, f"{mask.id}-2"]
    assert second.zones[2].name == "Poster"
    assert _flat(second.zones[2].points) == [0.1, 0.2, 0.3, 0.2, 0.3, 0.5, 0.1, 0.5]  # margin 0


def test_who_may_mask_a_spot(gate: Site) -> None:
    alert_id = seed_alert(gate.console)
    url = f"/api/alerts/{alert_id}/mask"
    gate.console.add_user("root", "admin", ["*"])
    for username in ("mgr.north", "police"):  # as for the config route: 403 naming the need
        r = gate.console.login(username).post(url)
        assert r.status_code == 403 and "config.write" in r.json()["detail"], r.text
    assert gate.console.login("op.south").post(url).status_code == 404
    assert gate.console.login("op.north").post("/api/alerts/nope/mask").status_code == 404
    r = gate.console.login("root").post(url)
    assert r.status_code == 202, r.text
    assert gate.command().issued_by == "root"
    assert len(gate.console.rows(ConfigRequest)) == 1  # only the admin's change went out


def test_margin_is_clamped_to_the_frame_and_checked(gate: Site) -> None:
    alert_id = seed_alert(gate.console)
    _set_box(gate.console, alert_id, [0.9, 0.0, 1.0, 0.2])
    operator = gate.console.login("op.north")
    url = f"/api/alerts/{alert_id}/mask"
    for bad in ({"margin": 1.5}, {"margin": -0.1}, {"margin": 0.2, "colour": "red"}):
        assert operator.post(url, json=bad).status_code == 422, bad
    r = operator.post(url, json={"margin": 1.0})
    assert r.status_code == 202, r.text
    mask = gate.command().zones[-1]
    assert _flat(mask.points) == pytest.approx([0.8, 0.0, 1.0, 0.0, 1.0, 0.4, 0.8, 0.4])


def test_an_alert_without_a_box_is_refused(gate: Site) -> None:
    alert_id = seed_alert(gate.console)
    _set_box(gate.console, alert_id, [])
    r = gate.console.login("op.north").post(f"/api/alerts/{alert_id}/mask")
    assert r.status_code == 409 and "no box" in r.json()["detail"], r.text
    assert gate.console.rows(ConfigRequest) == []


def test_without_a_reported_config_or_a_broker_nothing_is_sent(console: Console) -> None:
    alert_id = seed_alert(console)  # its camera row exists, its edge never reported zones
    console.add_user("op.north", "operator", ["north"])
    operator = console.login("op.north")
    r = operator.post(f"/api/alerts/{alert_id}/mask")
    assert r.status_code == 409, r.text
    assert "has not reported the zones" in r.json()["detail"]
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        camera = s.get(Camera, ("north", "gate"))
        camera.config_version, camera.zones, camera.rules = "3", [], {}
    r = operator.post(f"/api/alerts/{alert_id}/mask")
    assert r.status_code == 503 and "MQTT broker" in r.json()["detail"]
    with state.db.session() as s:
        assert s.query(ConfigRequest).count() == 0
