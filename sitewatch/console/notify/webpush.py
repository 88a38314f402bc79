"""Web Push to the browsers of the console's users: RFC 8030 delivery, RFC 8291 ``aes128gcm``
encryption, RFC 8292 VAPID, through pywebpush.

The console's VAPID key (P-256, PEM, mode 0600) is made on first use beside its signing key;
pages get its public key (:func:`public_key`) to subscribe. A ``webpush`` route reaches the
subscribed users its target names (``{"users": [...]}``, or every subscribed user), and only
active users who may read alerts and whose scope covers every alert in the message. A message is
sent when every push service took it (2xx) or answered 404/410 (that subscription is deleted);
anything else is a :class:`SendError` and the outbox sends it again. The push's ``tag`` is the
message key, so a resent message replaces the first in the browser. Why: docs/design/webpush.md.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sitewatch.console.domain.errors import Invalid
from sitewatch.console.notify.channels import Message, SendError
from sitewatch.console.permissions import Scope, allowed
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import PushSubscription, User

TTL_S: Final = 12 * 3600  # a push service keeps an undelivered alert this long (RFC 8030 TTL)
JWT_LIFE_S: Final = 12 * 3600  # RFC 8292: exp no more than 24 h ahead
BODY_CHARS: Final = 1500  # the encrypted record must stay under 4096 bytes
GONE: Final = (404, 410)
LOOPBACK_HOSTS: Final = frozenset({"localhost"})
Sessions = Callable[[], AbstractContextManager[Session]]
_keys: dict[Path, Vapid02] = {}
_keys_lock = threading.Lock()


def key_file(settings: Settings) -> Path:
    return settings.vapid_key_file or settings.signing_key_file.with_name("vapid.key")


def load_or_create_vapid(path: Path) -> Vapid02:
    """The VAPID key in ``path``; a new P-256 key written there (0600) when there is none."""
    with _keys_lock:
        if path in _keys:
            return _keys[path]
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        vapid = Vapid02.from_pem(path.read_bytes())
        _keys[path] = vapid
        return vapid


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(vapid: Vapid02) -> str:
    """The application server key a page passes to ``pushManager.subscribe``."""
    raw: bytes = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def subscription_problem(endpoint: str, p256dh: str, auth: str) -> str | None:
    """Why a browser's subscription cannot be used; None if it can."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    try:
        loopback = host in LOOPBACK_HOSTS or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if url.scheme != "https" and not (url.scheme == "http" and loopback):
        return f"a push endpoint is an https:// URL of the browser's push service, got {endpoint!r}"
    try:
        key, secret = unb64url(p256dh), unb64url(auth)
    except ValueError:
        return "keys.p256dh and keys.auth are base64url, as PushSubscription.toJSON() gives them"
    if len(key) != 65 or key[0] != 4:
        return f"keys.p256dh is an uncompressed P-256 point (65 bytes), got {len(key)} bytes"
    if len(secret) != 16:
        return f"keys.auth is the 16-byte auth secret, got {len(secret)} bytes"
    return None


def subscribe(
    s: Session, user: User, endpoint: str, p256dh: str, auth: str, now: datetime
) -> PushSubscription:
    """Store the browser's subscription for ``user`` (an endpoint already stored moves to
    them: the browser is signed in as someone else now); :class:`Invalid` says what is wrong."""
    if problem := subscription_problem(endpoint, p256dh, auth):
        raise Invalid(problem)
    row = s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if row is None:
        row = PushSubscription(endpoint=endpoint, created_at=now)
        s.add(row)
    row.user_id, row.p256dh, row.auth = user.id, p256dh, auth
    s.flush()
    return row


def unsubscribe(s: Session, user: User, endpoint: str) -> bool:
    """Forget the user's subscription at ``endpoint``; whether there was one."""
    gone = s.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id
        )
    )
    return bool(gone.rowcount)  # type: ignore[attr-defined]


def recipients(
    s: Session, target: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> list[PushSubscription]:
    """The subscriptions a message with ``items`` (alert facts) goes to (module docstring)."""
    query = select(PushSubscription, User).join(User, User.id == PushSubscription.user_id)
    if names := target.get("users"):
        query = query.where(User.username.in_(names))
    found = []
    for sub, user in s.execute(query.where(User.active.is_(True)).order_by(PushSubscription.id)):
        scope = Scope.of(user)
        if allowed(user.role, "alerts.read") and all(
            scope.camera(str(i.get("site_id")), str(i.get("camera_id"))) for i in items
        ):
            found.append(sub)
    return found


def payload(msg: Message) -> bytes:
    """What the service worker (static/sw.js) gets: title, body, tag, and the page to open."""
    alerts = [str(i["id"]) for i in msg.items if "id" in i]
    url = f"/#/alert/{alerts[0]}" if len(alerts) == 1 else "/#/incidents"
    body = msg.text if len(msg.text) <= BODY_CHARS else msg.text[: BODY_CHARS - 1] + "…"
    data = {"title": msg.title, "body": body, "tag": msg.key, "url": url, "alerts": alerts[:20]}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Pusher:
    """Sends one outbox message to a ``webpush`` route's subscriptions (module docstring)."""

    sessions: Sessions
    settings: Settings
    timeout_s: float = 10.0

    def __call__(self, target: Mapping[str, Any], msg: Message) -> None:
        vapid = load_or_create_vapid(key_file(self.settings))
        with self.sessions() as s:
            subs = [
                (sub.id, sub.endpoint, sub.p256dh, sub.auth)
                for sub in recipients(s, target, msg.items)
            ]
        if not subs:
            who = f"the users {target['users']}" if target.get("users") else "no user"
            raise SendError(
                f"web push: {who} subscribed in a browser that may see these alerts; a user "
                "turns on push in the console's Notifications page"
            )
        data = payload(msg)
        done, gone, errors = [], [], []
        for sub_id, endpoint, p256dh, auth in subs:
            info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
            claims: dict[str, str | int] = {
                "sub": self.settings.vapid_subject,
                "exp": int(time.time()) + JWT_LIFE_S,
            }
            try:
                webpush(
                    info,
                    data=data.decode(),
                    vapid_private_key=vapid,
                    vapid_claims=claims,
                    content_encoding="aes128gcm",
                    ttl=TTL_S,
                    headers={"Urgency": "high"},
                    timeout=self.timeout_s,
                )
                done.append(sub_id)
            except WebPushException as exc:
                status = getattr(exc.response, "status_code", None)
                if status in GONE:
                    gone.append(sub_id)
                else:
                    errors.append(f"{urllib.parse.urlsplit(endpoint).netloc}: {exc}".strip())
            except OSError as exc:  # requests' errors: refused, timed out, TLS
                errors.append(f"{urllib.parse.urlsplit(endpoint).netloc}: {exc}")
        with self.sessions() as s:
            if gone:
                s.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
            for row in s.scalars(select(PushSubscription).where(PushSubscription.id.in_(done))):
                row.last_sent_at = datetime.now(UTC)
        if errors:
            raise SendError(
                f"web push: {len(errors)} of {len(subs)} push services refused: {errors[0][:300]}"
            )
        if not done:
            raise SendError(f"web push: all {len(gone)} subscriptions were gone (404/410)")
