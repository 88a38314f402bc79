"""Web Push: the console's VAPID public key, and the signed-in user's browser subscriptions
(what ``pushManager.subscribe`` gave: endpoint and keys). What is pushed, and to whom, is
:mod:`sitewatch.console.notify.webpush`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from sitewatch.console.api.deps import DB, app_state, require
from sitewatch.console.domain.errors import NotFound
from sitewatch.console.notify import webpush
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User

router = APIRouter(prefix="/api/push", tags=["push"])
Reader = Annotated[User, Depends(require("alerts.read"))]


class KeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(min_length=1, max_length=200, description="base64url P-256 public key")
    auth: str = Field(min_length=1, max_length=100, description="base64url 16-byte secret")


class SubscriptionIn(BaseModel):
    """``PushSubscription.toJSON()`` as the browser gives it."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(min_length=1, max_length=1000)
    expirationTime: float | None = None  # the browser's name for it
    keys: KeysIn


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(min_length=1, max_length=1000)


class SubscriptionOut(BaseModel):
    id: int
    endpoint: str
    created_at: datetime


@router.get("/key")
def vapid_key(user: Reader, state: Annotated[AppState, Depends(app_state)]) -> dict[str, str]:
    """The console's VAPID public key (base64url, uncompressed P-256 point): the
    ``applicationServerKey`` a page subscribes with."""
    key = webpush.load_or_create_vapid(webpush.key_file(state.settings))
    return {"public_key": webpush.public_key(key)}


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    responses={422: {"description": "not a usable subscription: says why"}},
)
def add_subscription(user: Reader, s: DB, body: SubscriptionIn) -> SubscriptionOut:
    """Push to this browser from now on (an endpoint already stored moves to this user)."""
    row = webpush.subscribe(
        s, user, body.endpoint, body.keys.p256dh, body.keys.auth, datetime.now(UTC)
    )
    return SubscriptionOut(id=row.id, endpoint=row.endpoint, created_at=row.created_at)


@router.delete(
    "/subscriptions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such subscription of yours"}},
)
def remove_subscription(user: Reader, s: DB, body: EndpointIn) -> None:
    """Stop pushing to this browser."""
    if not webpush.unsubscribe(s, user, body.endpoint):
        raise NotFound("no push subscription of yours at that endpoint")
