"""Evidence cannot run script on the console's origin (issue 12, item 2), in headless Chromium
against the real console (uvicorn, SQLite file, MQTT ingest from a real mosquitto).

The hostile files are inserted straight into the console's database and evidence folder: the
contract now refuses any type but JPEG and MP4 at ingest, so this simulates rows stored by an
older release (or a file listed as JPEG whose bytes are HTML, which the contract cannot see).
Each file's script, if it ran on the console's origin, would create an admin through the API
and leave a marker in the origin's storage and cookies. An admin opens every file the way the
console offers it (the evidence list's links, a new tab); no user, no marker may appear.
The console's own pages must load under the strict CSP without a single violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sitewatch.console.store.models import User
from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    browser_fixture,
    h264_clip,
    jpeg,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.console_support import seed_alert

ADMIN = "ev.admin"


def _payload(tag: str) -> str:
    """Script that, run on the console's origin, makes an admin and leaves markers."""
    return (
        "window.__ran = true; localStorage.setItem('pwned', '" + tag + "');"
        "document.cookie = 'pwned=" + tag + "; path=/';"
        "fetch('/api/users', {method: 'POST', credentials: 'include', headers: "
        "{'Content-Type': 'application/json', 'X-CSRF-Token': 'x'}, body: JSON.stringify("
        "{username: 'pwned." + tag + "', password: 'a-long-enough-secret', role: 'admin', "
        "sites: ['*']})});"
    )


def _html(tag: str) -> bytes:
    return (
        f"<!doctype html><html><body><h1>evidence</h1><script>{_payload(tag)}</script>"
        f'<img src="/nonexistent" onerror="{_payload(tag + "-onerror")}"></body></html>'
    ).encode()


def _svg(tag: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        f"<script>{_payload(tag)}</script>"
        f'<rect width="100" height="100" onload="{_payload(tag + "-onload")}"/></svg>'
    ).encode()


# (name, kind, content type stored, bytes): what an older release could have let in
HOSTILE = [
    ("page.html", "snapshot", "text/html", _html("html")),
    ("drawing.svg", "snapshot", "image/svg+xml", _svg("svg")),
    ("snapshot.jpg", "snapshot", "image/jpeg", _html("jpg")),  # a .jpg whose bytes are HTML
    ("trick.html", "still", "image/jpeg", _html("named-html")),  # listed JPEG, named .html
]


@pytest.fixture(name="csp_page")
def csp_page_fixture(browser: Any) -> Iterator[tuple[Any, Any, list[str], list[str]]]:
    """A page (and its context) that reports every CSP violation: the
    ``securitypolicyviolation`` event of each document, and Chromium's console messages."""
    context = browser.new_context()
    violations: list[str] = []
    context.expose_function("__reportViolation", lambda text: violations.append(text))
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => "
        "window.__reportViolation(`${e.violatedDirective} ${e.blockedURI} at ${e.documentURI}`))"
    )
    page, errors = open_page(context)
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield context, page, violations, errors
    context.close()


def _pwned_users(served: Served) -> list[str]:
    with served.state.db.session() as s:
        return list(s.scalars(select(User.username).where(User.username.startswith("pwned"))))


def test_hostile_evidence_runs_no_script_on_the_console_origin(
    csp_page: tuple[Any, Any, list[str], list[str]], served: Served, tmp_path: Path
) -> None:
    context, page, _, errors = csp_page
    served.add_user(ADMIN, "admin", ["*"], "en")
    alert_id = seed_alert(served, "evsite", "gate", files=HOSTILE)
    login(page, served.url, ADMIN)
    page.goto(f"{served.url}/#/alert/{alert_id}")
    page.wait_for_selector("#ev-title")
    opened = []
    for name, _, stored, _ in HOSTILE:
        if stored == "image/jpeg":
            with context.expect_page() as new:  # the evidence list's link: target=_blank
                page.click(f"a[title='{name}']")
            tab = new.value
        else:  # listed without a link; its address (a link someone sent) opened all the same
            page.locator("span.not-served", has_text=name).wait_for()
            assert page.locator(f"a[title='{name}']").count() == 0, name
            tab = context.new_page()
            tab.goto(f"{served.url}/api/alerts/{alert_id}/evidence/{name}")
        tab.wait_for_load_state()
        opened.append((name, stored, tab))
    page.wait_for_timeout(500)  # time for any fetch a script might have started
    ran = [name for name, _, tab in opened if tab.evaluate("() => window.__ran !== undefined")]
    assert ran == [], f"script ran in the tab of {ran}"
    assert _pwned_users(served) == [], "an evidence file's script created a user"
    assert page.evaluate("() => localStorage.getItem('pwned')") is None
    assert not [c for c in context.cookies() if c["name"] == "pwned"]
    assert page.evaluate("() => window.__ran === undefined")
    for name, stored, tab in opened:
        response = tab.request.get(tab.url)  # what that tab was served, headers and all
        csp = response.headers.get("content-security-policy", "")
        assert csp.startswith("sandbox") and "allow-scripts" not in csp, (name, csp)
        assert response.headers.get("x-content-type-options") == "nosniff", name
        if stored == "image/jpeg":
            assert response.headers["content-type"] == "image/jpeg", name
        else:
            assert response.status == 415, (name, response.status)
        tab.close()
    assert not errors, errors


def test_a_file_opened_on_its_own_is_a_sandbox_even_where_script_would_run(
    csp_page: tuple[Any, Any, list[str], list[str]], served: Served
) -> None:
    """The JPEG whose bytes are HTML, navigated to directly: an image, no document script,
    and the sandbox makes its origin opaque (no cookie or storage of the console)."""
    _, page, _, _ = csp_page
    served.add_user(ADMIN + "2", "admin", ["*"], "en")
    alert_id = seed_alert(served, "evsite", "gate", files=HOSTILE)
    login(page, served.url, ADMIN + "2")
    page.goto(f"{served.url}/api/alerts/{alert_id}/evidence/snapshot.jpg")
    assert page.evaluate("() => window.__ran === undefined")
    assert page.evaluate("() => self.origin") == "null", "the file got the console's origin"
    assert page.locator("script").count() == 0
    assert _pwned_users(served) == []


def test_script_injected_into_the_console_page_is_blocked_by_the_csp(
    csp_page: tuple[Any, Any, list[str], list[str]], served: Served
) -> None:
    """Were markup ever to reach the page (a bug that puts text into innerHTML), the CSP
    stops both an inline script and an inline handler: the violation is reported."""
    _, page, violations, _ = csp_page
    served.add_user(ADMIN + "3", "admin", ["*"], "en")
    login(page, served.url, ADMIN + "3")
    assert violations == []
    page.evaluate(
        """(payload) => {
            const box = document.createElement('div');
            box.innerHTML = `<img src="/nonexistent" onerror="${payload}">`;
            document.body.append(box);
            const s = document.createElement('script');
            s.textContent = `${payload}`;
            document.body.append(s);
        }""",
        _payload("injected").replace('"', "&quot;"),
    )
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__ran === undefined"), "injected script ran"
    assert page.evaluate("() => localStorage.getItem('pwned')") is None
    assert _pwned_users(served) == []
    blocked = [v for v in violations if v.startswith("script-src")]
    assert len(blocked) >= 2, violations  # the inline <script> and the onerror handler


def test_the_console_pages_load_without_a_csp_violation(
    csp_page: tuple[Any, Any, list[str], list[str]], served: Served, tmp_path: Path
) -> None:
    """Every view an admin has, an alert with a real snapshot and a clip that plays, the
    snapshot and the clip opened on their own: nothing the strict CSP blocks."""
    context, page, violations, errors = csp_page
    served.add_user(ADMIN + "4", "admin", ["*"], "en")
    snap, clip = jpeg(tmp_path), h264_clip(tmp_path)
    alert_id = seed_alert(
        served,
        "evsite",
        "gate",
        files=[
            ("snapshot.jpg", "snapshot", "image/jpeg", snap),
            ("clip.mp4", "clip", "video/mp4", clip),
        ],
    )
    login(page, served.url, ADMIN + "4")
    for view in ("alerts", "cameras", "stats", "zones", "users", "audit"):
        page.click(f"nav.main a[data-path={view}]")
        page.wait_for_selector(f"nav.main a[data-path={view}][aria-current=page]")
        page.wait_for_load_state("networkidle")
    page.goto(f"{served.url}/#/alert/{alert_id}")
    page.wait_for_function("() => document.querySelector('#snapshot')?.naturalWidth > 0")
    page.eval_on_selector("#clip", "v => v.play()")
    page.wait_for_function(
        "() => document.querySelector('#clip').currentTime > 0.3", timeout=15_000
    )
    for name, check in (
        ("snapshot.jpg", "() => document.querySelector('img')?.naturalWidth > 0"),
        ("clip.mp4", "() => document.querySelector('video')?.readyState >= 1"),
    ):
        with context.expect_page() as new:
            page.click(f"a[title='{name}']")
        tab = new.value  # a sandbox: poll from here, the page's own polling needs eval
        wait_until(f"{name} shown in a tab of its own", partial(tab.evaluate, check), 15.0)
        tab.close()
    page.reload()  # a second visit: the session is found without a login
    page.wait_for_selector("header.top")
    assert violations == [], violations
    assert not errors, errors
