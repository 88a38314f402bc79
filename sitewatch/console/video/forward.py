"""An edge's video upload passed on to the replica that asked for it (docs/design/replicas.md,
"Uploads to the replica that asked").

A replica with a :class:`~sitewatch.console.store.replicas.Registry` names itself in every
video command's ``upload_url`` (``?replica=<id>``, :func:`~sitewatch.console.video.ranges.
upload_url`). The proxy may hand the edge's POST to any replica; one that gets an upload naming
another live replica streams it on (headers and body untouched, ``X-SiteWatch-Forwarded``
added) to that replica's address and answers the edge what it answered. The replica that asked
checks the upload as any other (:func:`~sitewatch.console.video.upload.receive_upload`: the
edge's signature, its clock, its site); the one passing it on checks nothing but the headers'
form, so a bad upload costs one more hop and is refused where the session lives. Handled
here: an upload naming no replica (a single console), naming this one, or already passed on
once (never two hops, whatever a header says). Naming a replica that is gone: 410, the session
died with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from sitewatch.console.domain.errors import Unavailable
from sitewatch.console.state import AppState
from sitewatch.console.store.replicas import PARAM, SERVICE, Registry
from sitewatch.console.video.upload import Over, Upload

log = logging.getLogger(__name__)
FORWARDED = "x-sitewatch-forwarded"
"""Header of an upload passed on: the id of the replica that passed it (never passed again)."""
CLIENT = "replicas.client"
PASSED = ("content-type", "content-length")
"""Headers passed on besides the ``X-SiteWatch-*`` ones."""
TIMEOUT = httpx.Timeout(60.0, connect=3.0)
"""Seconds: connecting to the replica that asked; any one read or write of the body."""


@dataclass(frozen=True)
class Answer:
    """What the replica that asked answered: the edge gets it as it is."""

    status: int
    content_type: str | None
    body: bytes


def start(state: AppState) -> Registry | None:
    """Register this replica (PostgreSQL with ``replica_url`` set) and keep the registry in
    ``state.services``; None (and nothing passed on) otherwise."""
    url = state.settings.replica_url
    if not state.db.shared:
        return None
    if url is None:
        log.warning(
            "SITEWATCH_REPLICA_URL is not set: an edge's video upload that the proxy hands "
            "another replica is refused there (410), so live video and playback work only with "
            "one replica: set it on every replica (docs/design/replicas.md)"
        )
        return None
    registry = Registry(state.db, url)
    registry.start()
    state.services[SERVICE] = registry
    log.info("replica %s registered at %s", registry.id, registry.url)
    return registry


async def stop(state: AppState) -> None:
    """Close the client and delete this replica's row (at shutdown)."""
    client = state.services.pop(CLIENT, None)
    if isinstance(client, httpx.AsyncClient):
        await client.aclose()
    registry = state.services.pop(SERVICE, None)
    if isinstance(registry, Registry):
        await asyncio.to_thread(registry.stop)


def registry_or_none(state: AppState) -> Registry | None:
    """The running app's registry, or None (SQLite, no ``replica_url``, not started)."""
    got = state.services.get(SERVICE)
    return got if isinstance(got, Registry) else None


async def owner(
    state: AppState, query: Mapping[str, str], headers: Mapping[str, str]
) -> str | None:
    """The address of the replica the upload (its URL's ``query``, its ``headers``) must go
    to, or None to handle it here; raises :class:`~sitewatch.console.video.upload.Over` (410)
    when it names a replica that is gone."""
    registry = registry_or_none(state)
    named = query.get(PARAM)
    if registry is None or not named or named == registry.id or FORWARDED in headers:
        return None
    Upload.of(headers)  # malformed headers: 400 here, not one more hop
    url = await asyncio.to_thread(registry.url_of, named)
    if url is None:
        raise Over(
            f"the replica that asked for this upload ({named[:40]!r}) is gone (stopped or "
            "restarted) and its session with it: stop sending",
            params={"replica": named[:40]},
        )
    return url


async def relay(
    state: AppState, url: str, target: str, headers: Mapping[str, str], body: AsyncIterator[bytes]
) -> Answer:
    """Stream the upload (``target``: its path and query) to the replica at ``url``; its
    answer, as it gave it. 503 (the edge drops a live part, retries a range) when that
    replica cannot be reached."""
    registry = registry_or_none(state)
    assert registry is not None, "relay() only after owner() named a replica"
    sent = {k: v for k, v in headers.items() if k.lower().startswith("x-sitewatch-")}
    sent |= {k: headers[k] for k in PASSED if k in headers}
    sent[FORWARDED] = registry.id
    client = _client(state)
    try:
        answer = await client.send(
            client.build_request("POST", f"{url}{target}", headers=sent, content=body)
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"the replica that asked for this upload, at {url}, did not answer "
            f"({type(exc).__name__}: {exc}): retry",
            code="unavailable",
        ) from None
    log.debug("upload %s passed on to the replica at %s: %d", target, url, answer.status_code)
    return Answer(answer.status_code, answer.headers.get("content-type"), answer.content)


def _client(state: AppState) -> httpx.AsyncClient:
    got = state.services.get(CLIENT)
    if not isinstance(got, httpx.AsyncClient):
        got = state.services[CLIENT] = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False)
    return got
