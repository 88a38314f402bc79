"""Web Push against a real local push receiver (an HTTP server in a thread standing in for a
browser's push service, which these machines cannot reach): the console's request is checked
as RFC 8030/8291/8292 define it (VAPID ``Authorization`` with an ES256 JWT signed by the key
the page gets, ``aud`` the receiver's origin, ``exp`` within 24 h, a mailto:/https: ``sub``;
``Content-Encoding: aes128gcm``; a ``TTL``), and its body decrypts with the subscription's
private key (made here, as a browser makes it) to the expected JSON. Subscriptions go in
through the console's API; 404/410 deletes one; a user outside an alert's scope gets nothing;
a refusing push service leaves the notification in the outbox to retry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.notify.webpush import key_file
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.store.models import Notification, NotifyRoute, PushSubscription
from tests.support.console_support import Console, make_settings, seed_alert

REPO = Path(__file__).resolve().parents[2]
TSC = REPO / "tools" / "js" / "node_modules" / ".bin" / "tsc"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A subscription as a browser makes it: a P-256 key pair and a 16-byte auth secret."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def json(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> Any:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth)
        return json.loads(plain)


@dataclass
class Push:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class PushService:
    """A push service on 127.0.0.1: records each POST and answers ``status[path]`` (201)."""

    def __init__(self) -> None:
        self.received: list[Push] = []
        self.status: dict[str, int] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.received.append(
                    Push(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                code = service.status.get(self.path, 201)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="service")
def service_fixture() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.close()


@pytest.fixture(name="console")
def console_fixture(tmp_path: Path) -> Iterator[Console]:
    settings = make_settings(tmp_path, notify_poll_s=0, vapid_subject="mailto:ops@example.com")
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


def verify_vapid(header: str, public_key: str, origin: str) -> dict[str, Any]:
    """The JWT's claims, after checking RFC 8292's header form and the ES256 signature."""
    assert header.startswith("vapid "), f"expected 'vapid t=..., k=...', got {header!r}"
    parts = dict(p.strip().split("=", 1) for p in header.removeprefix("vapid ").split(","))
    assert parts["k"] == public_key, "k is the key the page got from /api/push/key"
    head_b64, claims_b64, sig_b64 = parts["t"].split(".")
    assert json.loads(unb64url(head_b64)) == {"typ": "JWT", "alg": "ES256"}
    sig = unb64url(sig_b64)
    assert len(sig) == 64, "ES256 signatures are r||s, 32 bytes each (RFC 7518)"
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    try:
        key.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail("the VAPID JWT is not signed by the console's VAPID key")
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    assert claims["aud"] == origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert str(claims["sub"]).startswith(("mailto:", "https:"))
    return claims


def add_route(console: Console, **fields: Any) -> int:
    with console.state.db.session() as s:
        route = NotifyRoute(name="push", channel="webpush", sites=["*"], language="en", **fields)
        s.add(route)
        s.flush()
        return int(route.id)


def states(console: Console) -> list[tuple[str, str | None]]:
    with console.state.db.session() as s:
        return [(n.state, n.last_error) for n in s.scalars(select(Notification))]


def test_a_new_alert_is_pushed_signed_and_encrypted_to_each_subscribed_user_in_scope(
    console: Console, service: PushService
) -> None:
    console.add_user("pm", "manager", ["north"])
    console.add_user("other", "manager", ["south"])
    pm, other = console.login("pm"), console.login("other")
    key = pm.get("/api/push/key").json()["public_key"]
    path = key_file(console.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "the VAPID key is private to the console"
    assert other.get("/api/push/key").json()["public_key"] == key, "one key, made once"

    phone, gone = Browser(f"{service.origin}/push/pm"), Browser(f"{service.origin}/push/old")
    south = Browser(f"{service.origin}/push/other")
    for client, browser in ((pm, phone), (pm, gone), (other, south)):
        r = client.post("/api/push/subscriptions", json=browser.json())
        assert r.status_code == 201, r.text
    service.status["/push/old"] = 410
    add_route(console, target={})

    alert = seed_alert(console, "north", "gate", received_at=datetime.now(UTC))
    worker = NotifyWorker(console.state.db, console.settings)
    assert worker.tick() == 1
    by_path = {p.path: p for p in service.received}
    assert set(by_path) == {"/push/pm", "/push/old"}, "the south manager may not see north"
    push = by_path["/push/pm"]
    verify_vapid(push.headers["authorization"], key, service.origin)
    assert push.headers["content-encoding"] == "aes128gcm"
    assert int(push.headers["ttl"]) > 0
    sent = phone.decrypt(push.body)
    assert sent["url"] == f"/#/alert/{alert}" and sent["alerts"] == [str(alert)]
    assert sent["title"] == "[SiteWatch] No hard hat · North / Gate" and sent["tag"]
    assert sent["body"].strip(), sent
    assert gone.decrypt(by_path["/push/old"].body) == sent, "the same message to each browser"
    with console.state.db.session() as s:
        endpoints = set(s.scalars(select(PushSubscription.endpoint)))
    assert endpoints == {phone.endpoint, south.endpoint}, "410: the subscription is deleted"
    assert states(console) == [("sent", None)]


def test_named_users_only_and_a_refusing_service_is_retried(
    console: Console, service: PushService
) -> None:
    console.add_user("lead", "manager", ["north"])
    console.add_user("crew", "operator", ["north"])
    lead, crew = Browser(f"{service.origin}/push/lead"), Browser(f"{service.origin}/push/crew")
    for name, browser in (("lead", lead), ("crew", crew)):
        r = console.login(name).post("/api/push/subscriptions", json=browser.json())
        assert r.status_code == 201, r.text
    add_route(console, target={"users": ["lead"]})
    service.status["/push/lead"] = 500
    seed_alert(console, "north", "gate", received_at=datetime.now(UTC))
    worker = NotifyWorker(console.state.db, console.settings)
    assert worker.tick() == 0
    assert [p.path for p in service.received] == ["/push/lead"], "only the user it names"
    [(state, error)] = states(console)
    assert state == "pending" and error and "500" in error, "kept in the outbox to retry"


def test_a_subscription_that_is_not_a_browsers_is_refused(
    console: Console, service: PushService
) -> None:
    console.add_user("pm", "manager", ["north"])
    pm = console.login("pm")
    good = Browser("https://push.example/x").json()
    bad_key = {**good, "keys": {**good["keys"], "p256dh": b64url(b"\x04" + b"0" * 10)}}
    plain_http = {**good, "endpoint": "http://push.example/x"}
    for body, why in ((bad_key, "65 bytes"), (plain_http, "https://")):
        r = pm.post("/api/push/subscriptions", json=body)
        assert r.status_code == 422 and why in r.text, r.text
    assert pm.post("/api/push/subscriptions", json=good).status_code == 201
    r = pm.request("DELETE", "/api/push/subscriptions", json={"endpoint": good["endpoint"]})
    assert r.status_code == 204
    r = pm.request("DELETE", "/api/push/subscriptions", json={"endpoint": good["endpoint"]})
    assert r.status_code == 404


@pytest.mark.skipif(not TSC.exists(), reason="tsc not installed: run `make jscheck` once")
def test_the_service_worker_type_checks_as_a_worker() -> None:
    """static/sw.js runs in a ServiceWorkerGlobalScope, outside tools/js's DOM project: check
    it on its own with the webworker library."""
    sw = REPO / "sitewatch" / "console" / "static" / "sw.js"
    assert sw.read_text().startswith("// @ts-check")
    node = shutil.which("node")
    assert node, "tsc needs node"
    args = ["--noEmit", "--allowJs", "--checkJs", "--strict", "--target", "es2022"]
    args += ["--lib", "es2023,webworker", "--skipLibCheck", str(sw)]
    done = subprocess.run([str(TSC), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_admin_makes_a_webpush_route_naming_users_or_none(console: Console) -> None:
    console.add_user("boss", "admin", ["*"])
    admin = console.login("boss")
    base = {"name": "phones", "channel": "webpush", "sites": ["north"], "language": "zh-CN"}
    good: list[dict[str, Any]] = [{}, {"users": ["pm", "lead"]}]
    for target in good:
        r = admin.post("/api/notify/routes", json={**base, "target": target})
        assert r.status_code == 201, r.text
        assert r.json()["channel"] == "webpush" and r.json()["target"] == target
    bad: list[tuple[dict[str, Any], str]] = [
        ({"users": "pm"}, "list of user names"),
        ({"url": "https://x"}, "url"),
    ]
    for target, why in bad:
        r = admin.post("/api/notify/routes", json={**base, "target": target})
        assert r.status_code == 422 and why in r.text, r.text
