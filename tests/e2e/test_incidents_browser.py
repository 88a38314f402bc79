"""The incidents page in headless Chromium against the real console (uvicorn, real mosquitto
ingest): a violation repeated five times at the gate shows as one incident of five alerts, a
bulk acknowledge of two incidents acknowledges every alert in them, and a return of the
violation updates the row live; statistics count both; a zh-CN manager reads the page in
Chinese."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    SiteEdge,
    browser_fixture,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.mqtt_broker import Mosquitto

SITE = "inc"


def _violations(edge: SiteEdge, camera: str, starts: list[datetime]) -> list[str]:
    ids = []
    for start in starts:
        aid = uuid.uuid4()
        edge.publish_alert(edge.alert_start(aid, camera, [], start))
        ids.append(str(aid))
    return ids


def test_a_repeated_violation_is_one_incident_and_a_bulk_acknowledge_covers_every_alert(
    browser: Any, served: Served, mqtt: Mosquitto
) -> None:
    served.add_user("inc.manager", "manager", [SITE])
    served.add_user("inc.zh", "manager", [SITE], "zh-CN")
    api = served.api("inc.manager")
    edge = SiteEdge(mqtt, SITE)
    start = datetime.now(UTC) - timedelta(minutes=10)
    gate = _violations(edge, "gate", [start + timedelta(seconds=20 * i) for i in range(5)])
    crane = _violations(edge, "crane", [start, start + timedelta(seconds=30)])

    def listed() -> dict[str, Any]:
        items = served.get_json(api, "/api/incidents")["items"]
        return {i["camera_id"]: i for i in items}

    wait_until(
        "ingest groups the alerts", lambda: len(gate) == listed().get("gate", {}).get("alert_count")
    )
    wait_until("and the crane's", lambda: listed().get("crane", {}).get("alert_count") == 2)
    gate_incident, crane_incident = listed()["gate"]["id"], listed()["crane"]["id"]

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "inc.manager")
    # incidents are the page after login, first in the navigation, and the site badges open them
    row = page.wait_for_selector(f"#incident-rows tr[data-id='{gate_incident}'][data-count='5']")
    assert page.locator("nav.main a").first.get_attribute("data-path") == "incidents"
    assert page.locator("nav.main a[data-path=incidents]").get_attribute("aria-current") == "page"
    assert "5 alerts" in row.inner_text() and "5 not acknowledged" in row.inner_text()
    assert page.locator("#incident-rows tr.incident-row").count() == 2
    row.query_selector("button.open-alerts").click()
    page.wait_for_selector(f"ul[data-incident='{gate_incident}'] li a[href='#/alert/{gate[0]}']")
    assert page.locator(f"ul[data-incident='{gate_incident}'] li a").count() == 5

    for incident in (gate_incident, crane_incident):
        page.check(f"#incident-rows tr[data-id='{incident}'] input.pick")
    page.click("#incidents-bulk button[data-action=acknowledge]")
    page.wait_for_selector("#incidents-result:text('Done: 2, refused: 0')")
    page.wait_for_selector(f"#incident-rows tr[data-id='{gate_incident}'][data-state=acknowledged]")
    page.wait_for_selector(
        f"#incident-rows tr[data-id='{crane_incident}'][data-state=acknowledged]"
    )
    for alert_id in gate + crane:
        assert served.get_json(api, f"/api/alerts/{alert_id}")["state"] == "acknowledged"

    # the violation returns at the gate within the window: the same row, now 6, 1 new, live
    _violations(edge, "gate", [start + timedelta(seconds=140)])
    page.wait_for_selector(f"#incident-rows tr[data-id='{gate_incident}'][data-count='6']")
    assert "1 not acknowledged" in page.inner_text(f"#incident-rows tr[data-id='{gate_incident}']")
    page.click("nav.main a[data-path=stats]")  # statistics count both
    page.wait_for_selector("#kpi-incidents:text-is('2')")
    acknowledged = page.inner_text("#stats-states tr[data-state=acknowledged]").split()
    assert acknowledged[-2:] == ["7", "2"], acknowledged  # 7 alerts, 2 incidents
    page.click(f".site-badge[data-site='{SITE}']")  # a site's badge: its incidents only
    page.wait_for_selector(f"#incidents-scope, #incident-rows tr[data-id='{gate_incident}']")
    assert page.locator("#incidents-scope").count() == 1
    page.click("#incidents-scope a")  # back to every site
    page.wait_for_selector(f"#incident-rows tr[data-id='{gate_incident}']")
    assert page.locator("#incidents-scope").count() == 0
    context.close()
    assert errors == [], "the manager's page logged script errors"

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "inc.zh")
    assert page.inner_text("nav.main a[data-path=incidents]") == "事件"
    page.click("nav.main a[data-path=incidents]")
    row = page.wait_for_selector(f"#incident-rows tr[data-id='{gate_incident}']")
    assert "6 条告警" in row.inner_text() and "已确认" in row.inner_text()
    context.close()
    edge.transport.close()
    assert errors == [], "the zh-CN page logged script errors"
