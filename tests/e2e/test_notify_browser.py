"""The notifications page in headless Chromium against the real console (uvicorn, its own
notification worker, real mosquitto for the ingest it starts) and a real WeCom-format
receiver: an admin adds a route in the page and sends it a test, the worker notifies an
overdue alert, and a manager's zh-CN page shows the alert overdue at level 1 and the message
sent (督查)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    browser_fixture,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.console_support import seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers())


def test_admin_adds_a_route_and_a_manager_sees_the_overdue_alert_notified(
    browser: Any, served: Served, rx: Receivers
) -> None:
    served.add_user("nfy.admin", "admin", ["nfy"])
    served.add_user("nfy.manager", "manager", ["nfy"], "zh-CN")
    late = seed_alert(served, "nfy", "gate", received_at=datetime.now(UTC) - timedelta(minutes=40))

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "nfy.admin")
    page.click("nav.main a[data-path=notify]")
    page.wait_for_selector(f"#notify-overdue tr[data-alert='{late}']")
    page.fill("#nr-name", "north gate group")
    page.select_option("#nr-channel", "wecom")
    page.fill("#nr-url", f"{rx.base}/wecom?key=secret-key-1")
    page.fill("#nr-sites", "nfy")
    page.click("#notify-route-form button[type=submit]")
    page.wait_for_selector("#notify-routes tr[data-route] th:text-is('north gate group')")
    assert "secr…" in str(served.get_json(served.api("nfy.admin"), "/api/notify/routes"))
    page.click("#notify-routes tr[data-route] button:text-is('Send a test')")
    page.wait_for_selector("#notify-status:has-text('Test message sent to north gate group')")
    context.close()
    assert errors == [], "the admin's page logged script errors"

    def contents() -> list[str]:
        return [m["markdown"]["content"] for m in rx.messages("wecom")]

    wait_until("the worker notifies the overdue alert", lambda: len(contents()) == 2)
    assert sorted("测试消息" in c for c in contents()) == [False, True]
    assert any("未戴安全帽" in c for c in contents())

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "nfy.manager")
    assert page.inner_text("nav.main a[data-path=notify]") == "通知"
    page.click("nav.main a[data-path=notify]")
    row = page.wait_for_selector(f"#notify-overdue tr[data-alert='{late}']")
    assert "第 1 级" in row.inner_text()
    assert "督查" in page.inner_text("main")
    page.wait_for_selector("#notify-log tr[data-state=sent]")
    assert "已发送" in page.inner_text("#notify-log")
    assert page.locator("#notify-routes").count() == 0, "routes are the admins'"
    context.close()
    assert errors == [], "the manager's page logged script errors"
