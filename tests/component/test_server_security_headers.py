"""The console's web hardening over HTTP (issue 12): security headers on pages, API and
evidence; evidence only as JPEG or MP4; the cross-site request check; bounded request bodies
and errors that do not echo them; Secure cookies over HTTPS. A real SQLite file, the real app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.api.headers import CLIP_CSP, CONSOLE_CSP, DOCS_CSP, EVIDENCE_CSP
from sitewatch.console.app import create_app
from sitewatch.console.store.models import AuditEntry, User
from tests.support.console_support import (  # noqa: F401   (console: the fixture)
    Console,
    add_users,
    clip_bytes,
    console_fixture,
    jpeg_bytes,
    make_settings,
    seed_alert,
)

HTML = b"<html><body><script>fetch('/api/users',{method:'POST'})</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def _common(r: object) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-resource-policy"] == "same-origin"


@pytest.mark.parametrize(
    "path", ["/", "/index.html", "/js/app.js", "/style.css", "/api/health", "/api/auth/me"]
)
def test_pages_and_api_carry_the_strict_policy(console: Console, path: str) -> None:
    r = console.client.get(path)
    assert r.status_code in (200, 401), (path, r.status_code)
    _common(r)
    csp = r.headers["content-security-policy"]
    assert csp == CONSOLE_CSP
    for part in ("script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert part in csp
    assert "unsafe-inline" not in csp and "strict-transport-security" not in r.headers


def test_the_api_docs_get_their_own_policy_and_nothing_else_does(console: Console) -> None:
    """Swagger UI starts from an inline script and a CDN: only its fixed pages allow that."""
    docs = console.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-security-policy"] == DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP and "object-src 'none'" in DOCS_CSP
    _common(docs)
    for path in ("/docs/", "/docsx", "/openapi.json", "/api/docs"):
        assert console.client.get(path).headers["content-security-policy"] == CONSOLE_CSP, path


def test_the_console_page_has_no_inline_script_style_or_handler() -> None:
    """What the policy would block: every script and style of the page comes from a file."""
    static = Path(__file__).resolve().parents[2] / "sitewatch" / "console" / "static"
    html = (static / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html and " on" not in html.lower()
    assert 'src="/js/app.js"' in html and "data:" not in html


def test_hsts_only_over_https(console: Console) -> None:
    with TestClient(console.client.app, base_url="https://console.example") as https:
        r = https.get("/api/health")
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in console.client.get("/api/health").headers


def test_session_cookie_secure_over_https_only(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]))
    body = {"username": "li.wei", "password": "correct-horse-battery"}
    with TestClient(console.client.app, base_url="https://console.example") as https:
        r = https.post("/api/auth/login", json=body)
        assert r.status_code == 200, r.text
        (cookie,) = r.headers.get_list("set-cookie")
        assert cookie.startswith("sw_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        out = https.post("/api/auth/logout", headers={"X-CSRF-Token": "console"})
        assert out.status_code == 204
        assert all("Secure" in c for c in out.headers.get_list("set-cookie"))
    plain = console.client.post("/api/auth/login", json=body)
    assert "Secure" not in plain.headers["set-cookie"]


@pytest.fixture(name="evidence")
def evidence_fixture(console: Console, tmp_path: Path) -> tuple[str, bytes]:
    """An alert with a JPEG, a clip and two rows an older release could have stored."""
    add_users(console, ("zhou.min", "police", ["north"]))
    clip = clip_bytes(tmp_path / "clip")
    alert_id = seed_alert(
        console,
        files=[
            ("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes("snap")),
            ("clip.mp4", "clip", "video/mp4", clip),
            ("page.html", "snapshot", "text/html", HTML),
            ("drawing.svg", "snapshot", "image/svg+xml", SVG),
        ],
    )
    return alert_id, clip


def test_evidence_is_served_with_its_own_type_nosniff_and_a_sandbox(
    console: Console, evidence: tuple[str, bytes]
) -> None:
    alert_id, clip = evidence
    c = console.login("zhou.min")
    snap = c.get(f"/api/alerts/{alert_id}/evidence/snapshot.jpg")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    part = c.get(f"/api/alerts/{alert_id}/evidence/clip.mp4", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == clip[:100]
    assert part.headers["content-type"] == "video/mp4"
    missing = c.get(f"/api/alerts/{alert_id}/evidence/nothing.jpg")
    assert missing.status_code == 404
    for r, csp in ((snap, EVIDENCE_CSP), (part, CLIP_CSP), (missing, EVIDENCE_CSP)):
        _common(r)
        assert r.headers["content-security-policy"] == csp
        assert csp.startswith("sandbox") and "allow-scripts" not in csp


@pytest.mark.parametrize(("name", "stored"), [("page.html", "text/html"), ("drawing.svg", "svg")])
@pytest.mark.parametrize("download", [False, True])
def test_evidence_of_another_type_is_refused_not_served(
    console: Console, evidence: tuple[str, bytes], name: str, stored: str, download: bool
) -> None:
    alert_id, _ = evidence
    c = console.login("zhou.min")
    r = c.get(f"/api/alerts/{alert_id}/evidence/{name}", params={"download": download})
    assert r.status_code == 415, r.text
    assert stored in r.json()["detail"] and "image/jpeg, video/mp4" in r.json()["detail"]
    assert b"<script>" not in r.content and r.headers["content-type"] == "application/json"
    assert r.headers["content-security-policy"] == EVIDENCE_CSP
    _common(r)
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        seen = s.scalars(select(AuditEntry.object_id).where(AuditEntry.username == "zhou.min"))
        assert f"{alert_id}/{name}" not in list(seen), "a refused file was audited as viewed"


def test_the_export_package_still_carries_a_refused_file(
    console: Console, evidence: tuple[str, bytes]
) -> None:
    """Refused in the browser, kept in custody: whoever needs it examines it offline."""
    import io
    import zipfile

    alert_id, _ = evidence
    r = console.login("zhou.min").get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith("/page.html") for n in names), names


def test_cross_site_state_changes_are_refused(console: Console) -> None:
    add_users(console, ("li.wei", "admin", ["*"]))
    c = console.login("li.wei")
    url, body = "/api/auth/me/language", {"language": "zh-CN"}
    own = "http://testserver"
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed document (an evidence file opened on its own)
        {"Origin": "https://testserver"},  # another scheme is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = c.put(url, json=body, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert "refused" in r.json()["detail"] and "console" in r.json()["detail"]
    assert c.get("/api/auth/me").json()["language"] == "en"
    for headers in ({"Origin": own}, {"Sec-Fetch-Site": "same-origin"}, {}):
        assert c.put(url, json=body, headers=headers).status_code == 200, headers
    del c.headers["X-CSRF-Token"]
    r = c.put(url, json=body, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]


def test_behind_a_proxy_that_rewrites_host_the_public_origin_is_accepted(tmp_path: Path) -> None:
    """nginx by default sends its upstream's address as Host: the console, reached at
    https://sitewatch.example, sees requests for http://testserver."""
    settings = make_settings(tmp_path, public_origins=["https://SiteWatch.example/"])
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        add_users(console, ("li.wei", "manager", ["north"]))
        c = console.login("li.wei")
        url, body = "/api/auth/me/language", {"language": "zh-CN"}
        ok = c.put(url, json=body, headers={"Origin": "https://sitewatch.example"})
        assert ok.status_code == 200, ok.text
        r = c.put(url, json=body, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "https://sitewatch.example" in r.json()["detail"]


def test_a_body_over_the_limit_gets_413_before_it_is_read(console: Console) -> None:
    add_users(console, ("li.wei", "admin", ["*"]))
    c = console.login("li.wei")
    limit = console.settings.max_request_bytes
    assert limit == 1024 * 1024
    big = {"username": "x" * limit, "password": "p"}
    r = c.post("/api/users", json=big)
    assert r.status_code == 413, r.status_code
    assert str(limit) in r.json()["detail"] and "max_request_bytes" in r.json()["detail"]
    assert len(r.content) < 500
    _common(r)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it comes
        yield b'{"username": "'
        for _ in range(40):
            yield b"y" * 64 * 1024
        yield b'", "password": "p"}'

    r = c.post("/api/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "chunked" in r.json()["detail"]
    small = c.post("/api/users", content=iter([b"{}"]), headers={"Content-Type": "x/json"})
    assert small.status_code == 422, small.text  # a small chunked body reaches the app
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        assert s.scalar(select(User).where(User.username.startswith("x"))) is None


def test_a_5_mb_field_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    """A console that takes large bodies (8 MiB) still answers a too-long note in a few lines."""
    settings = make_settings(tmp_path, max_request_bytes=8 * 1024 * 1024)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        add_users(console, ("li.wei", "manager", ["north"]))
        alert_id = seed_alert(console)
        c = console.login("li.wei")
        note = "n" * 5_000_000
        r = c.post(f"/api/alerts/{alert_id}/actions", json={"action": "note", "note": note})
        assert r.status_code == 422, r.status_code
        assert len(r.content) < 2000, f"{len(r.content)} bytes came back"
        (error,) = r.json()["detail"]
        assert error["loc"] == ["body", "note"] and "4000" in error["msg"]
        assert error["input"].startswith("nnnn") and "5000000 characters, cut" in error["input"]


def test_a_login_from_another_origin_is_refused(console: Console) -> None:
    """Login CSRF: another site's page cannot log the browser in as the attacker."""
    client = console.client
    body = {"username": "nobody", "password": "whatever-long"}
    r = client.post("/api/auth/login", json=body, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403, r.text
    assert "cross-origin request refused" in r.json()["detail"]
    r = client.post("/api/auth/login", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403, r.text
