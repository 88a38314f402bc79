"""The API docs in headless Chromium with no network beyond the console: Swagger UI comes
from the console itself and renders under its CSP (no script error, no CSP violation), and
the document names the session cookie and CSRF header schemes and the 401/403 answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    browser_fixture,
    mqtt_fixture,
    open_page,
    served_fixture,
)


def test_the_docs_render_from_the_console_alone_and_say_how_to_authenticate(
    browser: Any, served: Served
) -> None:
    context = browser.new_context()
    page, errors = open_page(context)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(served.url) else outside.append(r.url),
    )
    page.goto(f"{served.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('SiteWatch console')")
    page.wait_for_selector(".swagger-ui .opblock-tag:has-text('incidents')")
    assert page.locator(".swagger-ui .btn.authorize").count() == 1  # the schemes are listed
    context.close()
    assert outside == [], f"the docs fetched from elsewhere: {outside}"
    assert errors == [], f"the docs page logged errors (CSP?): {errors}"

    doc = httpx.get(f"{served.url}/openapi.json", timeout=10.0).json()  # no login needed
    schemes = doc["components"]["securitySchemes"]
    assert schemes["session"]["in"] == "cookie" and schemes["csrf"]["in"] == "header"
    listed = doc["paths"]["/api/alerts"]["get"]
    assert listed["security"] == [{"session": []}]
    assert {"401", "403"} <= set(listed["responses"])
    acts = doc["paths"]["/api/alerts/actions"]["post"]
    assert acts["security"] == [{"session": [], "csrf": []}]
    assert "security" not in doc["paths"]["/api/auth/login"]["post"]
    assert "security" not in doc["paths"]["/api/health"]["get"]
