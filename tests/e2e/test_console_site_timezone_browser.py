"""A site's time zone in the web console (headless Chromium in New York, a site in Shanghai,
its edge's status over a real mosquitto): the statistics' days, From and Until are the site's,
the feed's and the audit log's From and Until are read on the site's clock, and the alert detail
shows its times in the site's zone, naming it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from sitewatch.contract import messages as m
from tests.support import browser_support as bs
from tests.support.browser_support import browser_fixture, mqtt_fixture, served_fixture  # noqa: F401
from tests.support.mqtt_broker import Mosquitto

SITE = "tz-shanghai"
T = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)  # 04:30 on 23 Nov in Shanghai, 15:30 on 22 Nov NY


def test_stats_and_alert_times_are_in_the_site_s_zone(
    browser: Any, served: bs.Served, mqtt: Mosquitto
) -> None:
    served.add_user("gao.jing", "manager", [SITE])
    served.add_user("li.wei", "police", [SITE])
    edge = bs.SiteEdge(mqtt, SITE)
    now = datetime.now(UTC)
    status = m.EdgeStatus(
        site_id=SITE, state="online", software_version="0.4.0", config_version="7",
        started_at=now, cameras=1, at=now, timezone="Asia/Shanghai",
    )  # fmt: skip
    edge.send(m.edge_status(bs.PREFIX, SITE), m.encode(status), retain=True)
    alert_id = uuid.uuid4()
    edge.publish_alert(edge.alert_start(alert_id, "gate", [], T))
    edge.close()
    api = served.api("gao.jing")
    bs.wait_until(
        "the site's zone and its alert at the console",
        lambda: (
            served.get_json(api, "/api/sites")[0].get("timezone") == "Asia/Shanghai"
            and api.get(f"/api/alerts/{alert_id}").status_code == 200
        ),
    )

    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    page, errors = bs.open_page(context)
    bs.login(page, served.url, "gao.jing")
    window = "since=2026-11-22T16:00:00.000Z&until=2026-11-23T16:00:00.000Z"  # 23 Nov, Shanghai
    page.goto(f"{served.url}/#/stats?{window}")
    page.wait_for_selector("#kpi-total:text-is('1')")
    assert page.input_value("#s-since") == "2026-11-23T00:00"
    assert page.input_value("#s-until") == "2026-11-24T00:00"
    assert "Asia/Shanghai, UTC+8" in page.inner_text("#stats-zone")
    assert page.inner_text("#stats-table tbody tr td >> nth=0") == "2026-11-23"

    page.goto(f"{served.url}/#/stats")  # the default: the last 14 days of the site
    page.wait_for_selector("#stats-table")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert page.input_value("#s-since") == f"{today - timedelta(days=13)}T00:00"

    # the feed's From / Until are the site's wall clock too (this browser is in New York)
    page.goto(f"{served.url}/#/alerts?{window}")
    page.wait_for_selector(f'#feed-rows tr[data-id="{alert_id}"]')
    assert page.input_value("#f-since") == "2026-11-23T00:00"
    assert "Asia/Shanghai, UTC+8" in page.inner_text("label[for='f-since']")
    page.fill("#f-until", "2026-11-23T06:00")
    page.click("form.filters button[type='submit']")

    def until_in_address() -> list[str]:
        fragment = urlsplit(page.url).fragment
        return parse_qs(fragment.split("?", 1)[1]).get("until", []) if "?" in fragment else []

    bs.wait_until(  # 06:00 in Shanghai, not in New York
        "Until 06:00 read in the site's zone",
        lambda: until_in_address() == ["2026-11-22T22:00:00.000Z"],
    )

    page.goto(f"{served.url}/#/alert/{alert_id}")
    page.wait_for_selector(f"[data-alert='{alert_id}'] dl.facts")
    facts = page.inner_text("dl.facts")
    assert "Asia/Shanghai, UTC+8" in facts and "04:30:00" in facts, facts
    context.close()
    assert errors == [], f"the page logged script errors: {errors}"

    # the police reviewer's audit log reads From / Until on the site's clock as well
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    page, errors = bs.open_page(context)
    bs.login(page, served.url, "li.wei")
    page.goto(f"{served.url}/#/audit?since=2026-11-22T16:00:00.000Z")
    page.wait_for_selector("#a-since")
    assert page.input_value("#a-since") == "2026-11-23T00:00"
    assert "Asia/Shanghai, UTC+8" in page.inner_text("label[for='a-until']")
    page.fill("#a-until", "2026-11-23T06:00")
    page.click("form.filters button[type='submit']")
    bs.wait_until(
        "the audit log's Until read in the site's zone",
        lambda: (
            "until=2026-11-22T22%3A00%3A00.000Z" in page.url
            or "until=2026-11-22T22:00:00.000Z" in page.url
        ),
    )
    context.close()
    assert errors == [], f"the audit page logged script errors: {errors}"
