"""Channel senders: WeCom, DingTalk and Feishu group robots, a signed JSON webhook, SMTP mail.

Each sender takes a route's ``target`` (a JSON object, checked by :func:`check_target`) and
one :class:`Message`, and raises :class:`SendError` unless the receiver confirmed it. Written
on httpx and smtplib, not Apprise: Apprise's wecombot, dingtalk and feishu plugins post to
fixed hosts (no base URL to point at a local receiver), WeCom goes as text instead of markdown
and Feishu has no signature. Times in signatures: DingTalk milliseconds, Feishu and the webhook
seconds since the epoch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final, Literal, get_args

import httpx

ChannelName = Literal["wecom", "dingtalk", "feishu", "webhook", "email", "webpush"]
CHANNELS: Final[tuple[ChannelName, ...]] = get_args(ChannelName)
SIGNATURE_HEADER: Final = "X-SiteWatch-Signature"
TIMESTAMP_HEADER: Final = "X-SiteWatch-Timestamp"
DELIVERY_HEADER: Final = "X-SiteWatch-Delivery"


class SendError(Exception):
    """The receiver did not confirm the message; ``str()`` says what came back."""


@dataclass(frozen=True)
class Attachment:
    """A file a mail carries (a report's workbook); other channels link to it instead."""

    filename: str
    content_type: str  # "maintype/subtype"
    data: bytes


@dataclass(frozen=True)
class Message:
    """One message: a single notification or a digest of several (``items``: their payloads,
    each with its notification ``id``, for receivers that dedupe). ``key``: the delivery id."""

    key: str
    title: str
    text: str  # markdown-light: lines, "- " bullets
    items: list[dict[str, Any]] = field(default_factory=list)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Smtp:
    """The mail server (console settings): ``security`` starttls, ssl or none."""

    host: str
    port: int
    security: Literal["starttls", "ssl", "none"]
    sender: str
    username: str | None = None
    password: str | None = None


NEEDS: Final[dict[ChannelName, tuple[str, ...]]] = {
    "wecom": ("url",),
    "dingtalk": ("url",),
    "feishu": ("url",),
    "webhook": ("url", "secret"),
    "email": ("to",),
    "webpush": (),
}
OPTIONAL: Final[dict[ChannelName, tuple[str, ...]]] = {
    "wecom": (),
    "dingtalk": ("secret",),
    "feishu": ("secret",),
    "webhook": (),
    "email": (),
    "webpush": ("users",),  # user names; none = every subscribed user (webpush.py)
}


def check_target(channel: str, target: Mapping[str, Any]) -> str | None:
    """Why ``target`` cannot serve ``channel``; None if it can."""
    if channel not in CHANNELS:
        return f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}"
    name: ChannelName = channel
    allowed = set(NEEDS[name]) | set(OPTIONAL[name])
    if extra := sorted(set(target) - allowed):
        return f"{channel} target: unknown keys {extra}; it takes {sorted(allowed)}"
    if missing := [k for k in NEEDS[name] if not target.get(k)]:
        return f"{channel} target: missing {missing} (e.g. the robot's webhook URL)"
    if "url" in target and not str(target["url"]).startswith(("https://", "http://")):
        return f"{channel} target: url must start with https:// (got {target['url']!r})"
    to = target.get("to")
    if name == "email" and (
        not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to)
    ):
        return f"email target: 'to' must be a list of addresses, got {to!r}"
    users = target.get("users")
    if name == "webpush" and not (
        users is None or (isinstance(users, list) and all(isinstance(u, str) for u in users))
    ):
        return f"webpush target: 'users' is a list of user names (or left out), got {users!r}"
    return None


def _post(client: httpx.Client, url: str, body: Mapping[str, Any], what: str) -> dict[str, Any]:
    r = client.post(url, json=body)
    if r.status_code != 200:
        raise SendError(f"{what}: HTTP {r.status_code}: {r.text[:300]}")
    try:
        answer: dict[str, Any] = r.json()
    except ValueError as exc:
        raise SendError(f"{what}: expected a JSON answer, got {r.text[:300]!r}") from exc
    return answer


def send_wecom(client: httpx.Client, target: Mapping[str, Any], msg: Message, now: float) -> None:
    """WeCom group robot: markdown, at most 4096 bytes; ``errcode`` 0 is success.
    https://developer.work.weixin.qq.com/document/path/91770"""
    body = {"msgtype": "markdown", "markdown": {"content": f"**{msg.title}**\n{msg.text}"}}
    answer = _post(client, target["url"], body, "WeCom robot")
    if answer.get("errcode") != 0:
        raise SendError(f"WeCom robot refused the message: {answer}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), as DingTalk's signed robots want.
    https://open.dingtalk.com/document/orgapp/customize-robot-security-settings"""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def send_dingtalk(
    client: httpx.Client, target: Mapping[str, Any], msg: Message, now: float
) -> None:
    """DingTalk robot: markdown with title and text; with a secret, the URL also carries
    ``timestamp`` (ms) and ``sign``. https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
    """
    url = target["url"]
    if secret := target.get("secret"):
        ts = int(now * 1000)
        sign = urllib.parse.quote_plus(dingtalk_sign(secret, ts))
        url += f"{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"
    body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": msg.text}}
    answer = _post(client, url, body, "DingTalk robot")
    if answer.get("errcode") != 0:
        raise SendError(f"DingTalk robot refused the message: {answer}")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg=b"")), as Feishu's signed bots want.
    https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot"""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def send_feishu(client: httpx.Client, target: Mapping[str, Any], msg: Message, now: float) -> None:
    """Feishu custom bot: a ``post`` (rich text, one paragraph a line); ``code`` 0 is success."""
    lines = [[{"tag": "text", "text": line}] for line in msg.text.splitlines() if line]
    body: dict[str, Any] = {
        "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": msg.title, "content": lines}}},
    }
    if secret := target.get("secret"):
        ts = int(now)
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
    answer = _post(client, target["url"], body, "Feishu bot")
    if answer.get("code", answer.get("StatusCode")) != 0:
        raise SendError(f"Feishu bot refused the message: {answer}")


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """``sha256=`` hex HMAC-SHA256(secret, "<timestamp>." + body): a receiver recomputes it and
    refuses a timestamp far from its clock (replay)."""
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_webhook(client: httpx.Client, target: Mapping[str, Any], msg: Message, now: float) -> None:
    """Generic JSON webhook (an SMS gateway, a town platform): any 2xx is success.
    Body ``{"delivery", "title", "text", "notifications": [...]}``; headers carry the
    signature, its timestamp and the delivery id (this message's). A notification resent after
    a console died mid-send may come in another message: dedupe on each one's ``id``."""
    ts = int(now)
    raw = json.dumps(
        {"delivery": msg.key, "title": msg.title, "text": msg.text, "notifications": msg.items},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: webhook_signature(target["secret"], ts, raw),
        DELIVERY_HEADER: msg.key,
    }
    r = client.post(target["url"], content=raw, headers=headers)
    if not 200 <= r.status_code < 300:
        raise SendError(f"webhook: HTTP {r.status_code}: {r.text[:300]}")


def send_email(smtp: Smtp | None, target: Mapping[str, Any], msg: Message) -> None:
    """Plain-text mail to ``target["to"]`` through the console's SMTP server, with the
    message's attachments."""
    if smtp is None:
        raise SendError("no SMTP server: set SITEWATCH_SMTP_HOST (and port, security, from)")
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = msg.title, smtp.sender, ", ".join(target["to"])
    mail["Message-ID"] = f"<{msg.key}@sitewatch>"
    mail.set_content(msg.text)
    for a in msg.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        mail.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    try:
        if smtp.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=30, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=30)
        with server:
            if smtp.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


Sender = Callable[[httpx.Client, Mapping[str, Any], Message, float], None]
HTTP_SENDERS: Final[dict[str, Sender]] = {
    "wecom": send_wecom,
    "dingtalk": send_dingtalk,
    "feishu": send_feishu,
    "webhook": send_webhook,
}
MAX_TEXT_BYTES: Final[dict[str, int]] = {
    "wecom": 4000,  # the robot's markdown limit is 4096 bytes, title included
    "dingtalk": 18000,
    "feishu": 18000,
    "webhook": 60000,
    "email": 60000,
    "webpush": 1500,  # a push payload is at most 4 KB, encrypted
}


def send(
    channel: str,
    target: Mapping[str, Any],
    msg: Message,
    *,
    client: httpx.Client,
    smtp: Smtp | None,
    now: float,
    push: Callable[[Mapping[str, Any], Message], None] | None = None,
) -> None:
    """Send ``msg`` on ``channel``; :class:`SendError` unless the receiver confirmed it.
    ``push`` sends Web Push (:class:`sitewatch.console.notify.webpush.Pusher`)."""
    try:
        if channel == "webpush":
            if push is None:
                raise SendError("web push is not set up in this console process")
            push(target, msg)
        elif channel == "email":
            send_email(smtp, target, msg)
        elif channel in HTTP_SENDERS:
            HTTP_SENDERS[channel](client, target, msg, now)
        else:
            raise SendError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    except httpx.HTTPError as exc:
        raise SendError(f"{channel}: {type(exc).__name__}: {exc}") from exc
