"""Real local receivers for notification tests: one HTTP server that checks WeCom, DingTalk,
Feishu and the signed webhook as their docs define them, and an SMTP server (aiosmtpd).

Paths: ``/wecom?key=K``, ``/dingtalk?access_token=T``, ``/feishu/<hook>``, ``/webhook``. A
request that breaks the format or the signature gets the platform's own error answer and is
recorded in ``refused``; a good one in ``accepted``. ``fail_next`` answers that many requests
with HTTP 500 first (a receiver down), to test retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

MAX_SKEW_S = 3600  # DingTalk refuses a timestamp more than an hour from its clock


@dataclass
class Received:
    channel: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # by ``Receivers.clock``
    path: str = ""


@dataclass
class Receivers:
    """Secrets the receiver checks signatures with (None: that robot is unsigned)."""

    dingtalk_secret: str | None = None
    feishu_secret: str | None = None
    webhook_secret: str = "webhook-secret"
    accepted: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    delay_s: float = 0.0  # between recording a message and answering (a slow receiver)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""
    clock: Callable[[], float] = time.time  # a test on a controlled clock passes its own

    def check(
        self,
        channel: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
    ) -> str | None:
        """Why the request breaks the platform's documented format; None if it is right."""
        try:
            body = json.loads(raw)
        except ValueError:
            return "body is not JSON"
        if channel == "wecom":
            if not query.get("key"):
                return "missing key"
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not isinstance(md.get("content"), str):
                return "expected msgtype markdown with markdown.content"
            if len(md["content"].encode()) > 4096:
                return "markdown.content over 4096 bytes"
        elif channel == "dingtalk":
            if not query.get("access_token"):
                return "missing access_token"
            if self.dingtalk_secret is not None:
                ts, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
                if not ts.isdigit() or abs(int(ts) / 1000 - time.time()) > MAX_SKEW_S:
                    return f"timestamp {ts!r} not within an hour (ms)"
                mac = hmac.new(
                    self.dingtalk_secret.encode(),
                    f"{ts}\n{self.dingtalk_secret}".encode(),
                    hashlib.sha256,
                )
                if sign != base64.b64encode(mac.digest()).decode():
                    return "sign not match"
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not all(
                isinstance(md.get(k), str) and md[k] for k in ("title", "text")
            ):
                return "expected msgtype markdown with markdown.title and markdown.text"
        elif channel == "feishu":
            if self.feishu_secret is not None:
                ts, sign = str(body.get("timestamp", "")), body.get("sign", "")
                if not ts.isdigit() or abs(int(ts) - time.time()) > MAX_SKEW_S:
                    return f"timestamp {ts!r} not within an hour (s)"
                mac = hmac.new(f"{ts}\n{self.feishu_secret}".encode(), b"", hashlib.sha256)
                if sign != base64.b64encode(mac.digest()).decode():
                    return "sign match fail"
            if body.get("msg_type") == "text":
                if not isinstance(body.get("content", {}).get("text"), str):
                    return "text message without content.text"
            elif body.get("msg_type") == "post":
                post = body.get("content", {}).get("post", {})
                if not post or not all(
                    isinstance(v.get("title"), str)
                    and all(
                        isinstance(p, list) and all(e.get("tag") for e in p)
                        for p in v.get("content", [])
                    )
                    for v in post.values()
                ):
                    return "post without {lang: {title, content: [[{tag, ...}]]}}"
            else:
                return f"unknown msg_type {body.get('msg_type')!r}"
        elif channel == "webhook":
            ts = headers.get("x-sitewatch-timestamp", "")
            if not ts.isdigit() or abs(int(ts) - time.time()) > 300:
                return f"timestamp {ts!r} not within 5 minutes"
            mac = hmac.new(self.webhook_secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256)
            if headers.get("x-sitewatch-signature") != "sha256=" + mac.hexdigest():
                return "bad signature"
            if body.get("delivery") != headers.get("x-sitewatch-delivery"):
                return "delivery header and body differ"
        return None

    def answer(self, channel: str, problem: str | None) -> dict[str, Any]:
        if channel == "feishu":
            return (
                {"code": 0, "msg": "success"}
                if problem is None
                else {"code": 19021, "msg": problem}
            )
        if channel == "webhook":
            return {"ok": problem is None}
        return (
            {"errcode": 0, "errmsg": "ok"}
            if problem is None
            else {"errcode": 310000, "errmsg": problem}
        )

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.accepted if r.channel == channel]


def _handler(rx: Receivers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            channel = parts.path.strip("/").split("/")[0]
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if len(raw) < length:  # the sender died mid-request: nothing was delivered
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            with rx.lock:
                failing = rx.fail_next > 0
                rx.fail_next -= failing
            if failing:
                self.send_response(500)
                self.end_headers()
                return
            problem = rx.check(channel, parts.path, parse_qs(parts.query), headers, raw)
            with rx.lock:
                if problem is None:
                    rx.accepted.append(
                        Received(channel, json.loads(raw), headers, rx.clock(), self.path)
                    )
                else:
                    rx.refused.append((channel, problem))
            time.sleep(rx.delay_s)
            out = json.dumps(rx.answer(channel, problem)).encode()
            status = 200  # robots answer errors in the body; the webhook with its status
            if channel not in ("wecom", "dingtalk", "feishu", "webhook"):
                status = 404
            elif channel == "webhook" and problem is not None:
                status = 401
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    return Handler


def serve_receivers(rx: Receivers) -> Iterator[Receivers]:
    """Run ``rx`` on a free local port (``rx.base``) until the generator is closed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    rx.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()


class MailBox:
    """aiosmtpd handler: every mail received, parsed."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        data = envelope.content if isinstance(envelope.content, bytes) else b""
        mail = message_from_bytes(data, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def serve_smtp() -> Generator[tuple[MailBox, int]]:
    """A real SMTP server on a free local port: ``(mailbox, port)``."""
    box = MailBox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
