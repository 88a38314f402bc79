"""The views that read ``generated/enums.js`` show its words, in a real browser under the
console's CSP: the feed's rule and state filters, the audit's action filter, the cameras'
"latest alert" link (every state), and the alert's buttons (the actions the API allows)."""

from __future__ import annotations

from typing import Any

from sitewatch.console.workflow import ACTIONS, ALERT_STATES, allowed_actions
from sitewatch.contract.vocabulary import RULE_NAMES
from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, served, mqtt)
    Served,
    browser_fixture,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
)
from tests.support.console_support import seed_alert


def _values(page: Any, selector: str) -> list[str]:
    values: list[str] = page.locator(f"{selector} option").evaluate_all(
        "os => os.map(o => o.value)"
    )
    return values


def test_views_show_the_generated_words(browser: Any, served: Served) -> None:
    served.add_user("qian.admin", "admin", ["dock"], "en")
    alert_id = seed_alert(served, "dock", "crane", state="acknowledged")
    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "qian.admin")

    page.goto(f"{served.url}/#/alerts")
    page.wait_for_selector("#f-rule")
    assert _values(page, "#f-rule") == ["", *RULE_NAMES]
    assert _values(page, "#f-state") == ["open", "all", *ALERT_STATES]

    page.goto(f"{served.url}/#/audit")
    page.wait_for_selector("#a-action")
    actions = _values(page, "#a-action")
    assert [a for a in actions if a in ACTIONS] == list(ACTIONS)

    page.goto(f"{served.url}/#/cameras")
    link = page.locator('article.camera[data-camera="dock/crane"] a[href*="state="]')
    link.wait_for()
    href = link.get_attribute("href") or ""
    assert [p.removeprefix("state=") for p in href.split("&") if p.startswith("state=")] == list(
        ALERT_STATES
    )

    page.goto(f"{served.url}/#/alert/{alert_id}")
    page.wait_for_selector("#workflow button")
    shown = page.locator("#workflow button").evaluate_all("bs => bs.map(b => b.dataset.action)")
    assert shown == list(allowed_actions("acknowledged"))
    context.close()
    assert errors == [], "the pages logged script errors"
