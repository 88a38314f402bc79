"""The statistics page over several sites answered from the rollup (headless Chromium, the
console in uvicorn): per day summed over the sites, the chart per site when grouped by site, the
table per site and rule, and the note that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import browser_support as bs
from tests.support.browser_support import browser_fixture, mqtt_fixture, served_fixture  # noqa: F401
from tests.support.console_support import seed_alert


def test_a_rollup_answer_charts_days_by_rule_and_sites_by_rule(
    browser: Any, served: bs.Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitewatch.console.api.routes import stats as stats_route

    start = datetime.now(UTC) - timedelta(hours=3)
    for site, rule in (("roll-a", "no_helmet"), ("roll-a", "no_helmet"),
                       ("roll-b", "smoking"), ("roll-b", "no_helmet")):  # fmt: skip
        seed_alert(served, site, "gate", rule=rule, started_at=start)
    served.add_user("chief", "admin", ["*"])
    monkeypatch.setattr(stats_route, "EXACT_MAX", 1)  # 4 alerts: from the rollup

    context = browser.new_context(timezone_id="UTC", locale="en-US")
    page, errors = bs.open_page(context)
    bs.login(page, served.url, "chief")
    page.goto(f"{served.url}/#/stats")
    page.wait_for_selector("#stats-rollup")
    page.wait_for_selector("#kpi-total:text-is('4')")
    rows = page.locator("#stats-table tbody tr")
    assert rows.count() == 3  # per site and rule: a/no_helmet 2, b/no_helmet 1, b/smoking 1
    assert rows.nth(0).locator("td").nth(2).inner_text() == "2"

    page.goto(f"{served.url}/#/stats?group=site")
    page.wait_for_selector("svg.bars text.tick:text-is('roll-b')")  # the re-drawn chart
    ticks = page.locator("svg.bars text.tick").all_text_contents()
    assert "roll-a" in ticks and "roll-b" in ticks, ticks  # sites on the x axis
    assert page.locator("svg.bars rect").count() == 3  # a: no_helmet; b: no_helmet, smoking
    assert errors == [], f"the page logged script errors: {errors}"
    context.close()
