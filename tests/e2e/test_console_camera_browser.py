"""The camera pages in headless Chromium against a real running edge (gst-rtsp-server cameras,
the real model, mosquitto) and the console in uvicorn.

An operator's zone change is lost when the edge restarts from its file put back to version 1:
the cameras page warns on the camera and the site, and its button re-sends the change. Then the
site is renamed in Chinese, and the camera editor adds a camera (it comes online at the edge),
changes its fps and turns its tile look on (its 640x360 stream is too small for tiles: the
edge's warning shows on the camera, in Chinese), and removes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
from tests.support.config_edge_support import CAMERA, FIRST_ZONES, ConfigEdge
from tests.support.e2e_support import SITE
from tests.support.mqtt_broker import Mosquitto

pytestmark = pytest.mark.slow
DRAWN = {
    "id": "rest",
    "name": "休息区",
    "kind": "mask",
    "points": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]],
}


@pytest.fixture(name="edge")
def edge_fixture(tmp_path: Path, mqtt: Mosquitto, served: Served) -> Iterator[ConfigEdge]:
    edge = ConfigEdge(tmp_path, mqtt, served)
    try:
        edge.start()
        yield edge
    finally:
        edge.close()


def _answered(page: Any, action: str) -> None:
    """Wait for the edge's answer to the editor's ``action`` and require "applied"; on a
    refusal the failure says the edge's reason. 60 s: a loaded CI box starts cameras slowly."""
    status = page.locator(f"#camera-status[data-action={action}]:not([data-status=pending])")
    status.wait_for(timeout=60_000)
    said = status.get_attribute("data-status"), status.inner_text()
    assert said[0] == "applied", f"the edge did not apply the camera {action}: {said}"


def test_the_lost_change_warning_and_the_camera_editor(
    browser: Any, served: Served, edge: ConfigEdge
) -> None:
    served.add_user("zhou.op", "operator", [SITE], "zh-CN")
    operator = served.api("zhou.op")
    config_url = f"/api/cameras/{SITE}/{CAMERA}/config"
    wait_until(
        "version 1 at the console",
        lambda: served.get_json(operator, config_url)["version"] == "1",
        60,
    )
    r = operator.post(config_url, json={"base_version": "1", "zones": [*FIRST_ZONES, DRAWN]})
    assert r.status_code == 202, r.text
    wait_until(
        "version 2 at the console",
        lambda: served.get_json(operator, config_url)["version"] == "2",
        30,
    )
    edge.stop()
    edge.write_version_1()
    edge.start()

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "zhou.op")
    page.goto(f"{served.url}/#/cameras")
    card = page.locator(f"article[data-camera='{SITE}/{CAMERA}']")
    banner = card.locator("[data-regressed=camera]")
    banner.wait_for(timeout=60_000)
    assert "配置已丢失" in banner.inner_text() and "2" in banner.inner_text()
    page.locator(f"section[data-site='{SITE}'] [data-regressed=site]").wait_for()
    banner.locator("button.regress-resend").click()
    banner.wait_for(state="detached", timeout=30_000)  # the edge applied it: no longer behind
    page.locator(f"section[data-site='{SITE}'] [data-regressed=site]").wait_for(state="detached")
    assert edge.worker is not None
    assert "rest" in [z.id for z in load_config(edge.worker.worker.path).camera(CAMERA).zones]

    # the site gets a display name in Chinese, shown instead of its id
    page.once("dialog", lambda dialog: dialog.accept("北区工地"))
    page.click(f"section[data-site='{SITE}'] button.site-rename")
    page.locator(f"section[data-site='{SITE}'] h2:has-text('北区工地')").wait_for(timeout=10_000)
    page.locator(f"#site-badges [data-site='{SITE}']:has-text('北区工地')").wait_for()

    # the camera editor: add a camera, then change its fps, then remove it
    page.click(f"section[data-site='{SITE}'] a.camera-add")
    page.fill("#camera-id", "cam-yard")
    page.fill("#camera-name", "堆场")
    page.fill("#camera-detect", edge.rtsp.url("yard"))
    page.click("#camera-save")
    _answered(page, "add")
    page.goto(f"{served.url}/#/cameras")
    yard = page.locator(f"article[data-camera='{SITE}/cam-yard'][data-state=online]")
    yard.wait_for(timeout=60_000)
    assert "堆场" in yard.locator("h3").inner_text()

    yard.locator("a.camera-edit").click()
    page.wait_for_function(  # the editor may not be drawn yet: null is "not yet", not an error
        "() => (document.querySelector('#camera-detect')?.value ?? '').startsWith('rtsp://')"
    )
    page.fill("#camera-fps", "1")
    assert page.input_value("#camera-head-look") == ""  # the detector's setting
    page.select_option("#camera-head-look", "on")
    assert page.input_value("#camera-tile-look") == ""
    page.select_option("#camera-tile-look", "on")
    page.click("#camera-save")
    _answered(page, "edit")
    yard_config = edge.worker.worker.cameras["cam-yard"].config
    got = (yard_config.detect_fps, yard_config.head_look, yard_config.tile_look)
    assert got == (1, True, True)
    page.goto(f"{served.url}/#/cameras")
    warning = yard.locator(".camera-warning")
    warning.wait_for(timeout=30_000)  # the edge's next status after its next frame
    said = warning.inner_text()
    assert "640x360 画面太小" in said and "主码流" in said, said  # the page's language
    yard.locator("a.camera-edit").click()
    page.wait_for_function(
        "() => (document.querySelector('#camera-detect')?.value ?? '').startsWith('rtsp://')"
    )

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#camera-remove")
    _answered(page, "remove")
    assert "cam-yard" not in edge.worker.worker.cameras
    page.goto(f"{served.url}/#/cameras")
    page.locator(f"article[data-camera='{SITE}/{CAMERA}']").wait_for()
    wait_until(
        "the removed camera gone from the page",
        lambda: page.locator(f"article[data-camera='{SITE}/cam-yard']").count() == 0,
        10,
    )
    context.close()
    assert errors == [], "the page logged script errors"
