"""The whole loop with nothing standing in: a real edge worker (gst-rtsp-server camera, the
real model, mosquitto) and the console in uvicorn, driven by headless Chromium.

An operator opens the zone editor over the camera's snapshot that the edge published, draws
a polygon and saves; the console signs the command, the running edge verifies it with the
console's public key, applies it, writes its config file, and the page shows the version the
edge reports. The edge is registered at the console with its key: all it sends is verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract.signing import load_or_create_key, public_key_text
from sitewatch.edge.config.load import load_config
from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    browser_fixture,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.e2e_support import SITE, WHOLE, InProcessWorker, camera, write_config, zone
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, _check_gstreamer

pytestmark = pytest.mark.slow
CAMERA = "cam-gate"


@pytest.fixture(name="edge")
def edge_fixture(tmp_path: Path, mqtt: Mosquitto, served: Served) -> Iterator[InProcessWorker]:
    """The edge, given the console's public key (it applies only commands that console signed),
    and registered at the console with its own key (the console takes only what it signed)."""
    _check_gstreamer()
    assert served.state.signing_key is not None, "the console started without its signing key"
    console_key = public_key_text(served.state.signing_key)
    edge_key = load_or_create_key(tmp_path / "edge.key")  # where write_config has the edge keep it
    with served.state.db.session() as s:
        s.add(
            BrokerAccount(
                username=f"edge-{SITE}", role="edge", site_id=SITE,
                password_hash="$7$unused", public_key=public_key_text(edge_key),
            )
        )  # fmt: skip
    rtsp = RtspServer({"gate": compose_clip(BARE_HEAD, 12.0, (2.0, 8.0))})
    rtsp.start()
    try:
        zones = [zone("gate", "helmet_required", WHOLE)]
        cameras = [camera(CAMERA, rtsp.url("gate"), zones)]
        config = write_config(tmp_path, mqtt.port, cameras, console_public_key=console_key)
        worker = InProcessWorker(config)
        try:
            yield worker
        finally:
            worker.stop()
    finally:
        rtsp.stop()


def test_zone_drawn_in_the_browser_is_applied_by_the_running_edge(
    browser: Any, served: Served, edge: InProcessWorker
) -> None:
    served.add_user("zhao.op", "operator", [SITE], "en")
    operator = served.api("zhao.op")
    config_url = f"/api/cameras/{SITE}/{CAMERA}/config"
    wait_until(
        "the edge's camera config at the console",
        lambda: served.get_json(operator, config_url)["version"] == "1",
        30,
    )
    wait_until(
        "the edge's camera snapshot at the console",
        lambda: operator.get(f"/api/cameras/{SITE}/{CAMERA}/snapshot").status_code == 200,
        30,
    )
    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "zhao.op")
    page.goto(f"{served.url}/#/zones/{SITE}/{CAMERA}")
    page.wait_for_selector("#zone-version:has-text('1')")
    page.wait_for_function("() => document.querySelector('#zone-canvas').dataset.zones === '1'")
    page.click("#zone-new")
    canvas = page.locator("#zone-canvas")
    box = canvas.bounding_box()
    assert box is not None
    # inside the whole-view zone: while a new zone is drawn, clicks add points to it
    corners = [(0.6, 0.6), (0.95, 0.6), (0.95, 0.95), (0.6, 0.95)]
    for x, y in corners:
        canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
    page.fill("#zone-id", "rest-corner")
    page.select_option("#zone-kind", "mask")
    page.locator("#zone-id").dispatch_event("change")
    page.click("#zone-save")

    status = page.locator("#config-status[data-status=applied]")
    status.wait_for(timeout=30_000)
    assert "2" in status.inner_text()
    # the edge really applied it: its file, its running camera, and what it reports back
    on_disk = load_config(edge.worker.path)
    assert on_disk.version == 2
    drawn = {z.id: z for z in on_disk.camera(CAMERA).zones}["rest-corner"]
    assert drawn.kind == "mask"
    assert [c for p in drawn.points for c in p] == pytest.approx(
        [c for p in corners for c in p], abs=0.01
    )
    assert [z.id for z in edge.worker.cameras[CAMERA].pipeline.zones] == ["gate", "rest-corner"]
    wait_until(
        "the edge's new camera config at the console",
        lambda: served.get_json(operator, config_url)["version"] == "2",
        15,
    )
    shown = served.get_json(operator, config_url)
    assert [z["id"] for z in shown["zones"]] == ["gate", "rest-corner"]
    assert served.state.ingest is not None and served.state.ingest.rejected == 0, (
        "the console refused messages of the registered edge (see the log: unsigned?)"
    )
    context.close()
    assert errors == [], "the page logged script errors"
