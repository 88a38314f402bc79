"""An edge's video upload, checked and handed on (docs/design/live-video.md, "Uploads").

No login: the upload is authenticated by the Ed25519 signature of the site's registered edge
key over :func:`~sitewatch.contract.signing.video_upload_text` (headers and the body's
SHA-256). The body is read as it comes, hashed on the way and bounded: a live part (``init``,
``media``) in memory (at most :data:`LIVE_PART_MAX_BYTES`) for the hub, a ``range`` or
``error`` part to a temp file under ``video_dir/incoming/`` for
:class:`~sitewatch.console.video.ranges.RangeRequests` (an ``error`` of a live session goes to
the hub); the answer to a hold command (``held`` or ``error``, JSON) in memory for
:class:`~sitewatch.console.video.holds.HoldRequests`. Refusals are coded domain errors: 400
malformed, 401 unsigned, wrongly signed or stale, 403 another site's session, 410 the
session is over, 413 too large (the edge stops on all but 5xx).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time as clock
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal, cast, get_args
from uuid import UUID, uuid4

from sqlalchemy import select

from sitewatch.console.domain.errors import ConsoleError, Unavailable
from sitewatch.console.state import AppState
from sitewatch.console.store.models import BrokerAccount
from sitewatch.console.video import services
from sitewatch.console.video.holds import HOLD_PART_MAX_BYTES, HoldRequests
from sitewatch.contract.signing import (
    SigningKeyError,
    VideoPart,
    parse_public_key,
    verify_bytes,
    video_upload_text,
)

LIVE_PART_MAX_BYTES = 64 * 1024 * 1024
"""Largest init or media part (a fragment is one GOP: a few MB at most)."""
SPOOL_BATCH_BYTES = 1024 * 1024


class Refused(ConsoleError):
    status: ClassVar[int] = 400
    default_code = "video.upload_refused"


class Unsigned(Refused):
    status = 401


class WrongSite(Refused):
    status = 403


class Over(ConsoleError):
    status = 410
    default_code = "video.session_over"


class TooLarge(Refused):
    status = 413


@dataclass(frozen=True)
class Upload:
    """The headers of one upload (times: the edge's wall clock, Unix seconds)."""

    site_id: str
    part: VideoPart
    seq: int
    time: float
    end: float | None
    sent: float
    signature: str

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Upload:
        """Parsed from the ``X-SiteWatch-*`` headers; :class:`Refused` saying which is wrong."""

        def need(name: str) -> str:
            value = headers.get(f"x-sitewatch-{name}")
            if not value:  # unsigned is 401 (the edge stops), any other header missing 400
                kind = Unsigned if name == "signature" else Refused
                raise _refuse(kind, f"expected header X-SiteWatch-{name.title()}, got none")
            return value

        def number(name: str, kind: type[float] | type[int]) -> Any:
            text = need(name)
            try:
                value = kind(text)
                if not math.isfinite(value):
                    raise ValueError(text)
                return value
            except ValueError:
                raise _refuse(
                    Refused,
                    f"expected X-SiteWatch-{name.title()} as a finite number, got {text[:40]!r}",
                ) from None

        part = need("part")
        if part not in get_args(VideoPart):
            raise _refuse(
                Refused,
                "expected X-SiteWatch-Part one of init, media, range, error, held, got "
                f"{part[:40]!r}",
            )
        end = number("end", float) if part == "range" else None
        return cls(
            need("site"),
            cast(VideoPart, part),
            number("seq", int),
            number("time", float),
            end,
            number("sent", float),
            need("signature"),
        )

    def text(self, request_id: UUID, sha256: str) -> bytes:
        """The signed text; its last line is the body's SHA-256 (given, the body is on disk)."""
        return video_upload_text(
            self.site_id, str(request_id), self.part, self.seq, self.time, self.end, self.sent,
            None, sha256,
        )  # fmt: skip


def _refuse(kind: type[ConsoleError], reason: str) -> ConsoleError:
    return kind(f"video upload refused: {reason}", params={"reason": reason})


async def receive_upload(
    state: AppState, request_id: UUID, headers: Mapping[str, str], body: AsyncIterator[bytes]
) -> None:
    """Check and hand on one upload (see the module's text); raises the refusal to answer."""
    settings = state.settings
    up = Upload.of(headers)
    skew = abs(clock.time() - up.sent)
    if skew > settings.clock_skew_max_s:
        raise _refuse(
            Unsigned,
            f"sent {skew:.0f} s from the console's clock (at most "
            f"{settings.clock_skew_max_s:g} s): check the edge's NTP",
        )
    hub, ranges = services.hub_or_none(state), services.ranges_or_none(state)
    live = hub.find(request_id) if hub is not None else None
    if live is None and up.part in ("init", "media"):
        raise Over(
            f"no live session {request_id} (over, stopped or unknown): stop sending",
            params={"request": str(request_id)},
        )
    if live is not None and live.key[0] != up.site_id:
        raise _refuse(WrongSite, f"session {request_id} is not site {up.site_id!r}'s")
    holds = services.holds_or_none(state)
    if live is None and (up.part == "held" or (holds is not None and holds.expects(request_id))):
        await _to_holds(state, holds, request_id, up, body)
        return
    if live is None and ranges is None:
        raise Unavailable(
            "this console takes no recorded ranges yet: retry later", code="unavailable"
        )
    key_text = await asyncio.to_thread(_edge_key, state, up.site_id)
    if live is not None:
        data, digest = await _read(body, min(LIVE_PART_MAX_BYTES, settings.video_upload_max_bytes))
        _verify(up, request_id, digest, key_text)
        _to_hub(state, request_id, up, data)
        return
    path = settings.video_dir / "incoming" / f"{uuid4()}.part"
    try:
        digest = await _spool(body, path, settings.video_upload_max_bytes)
        _verify(up, request_id, digest, key_text)
        assert ranges is not None
        taken = await asyncio.to_thread(
            ranges.deliver,
            request_id,
            up.site_id,
            cast(Literal["range", "error"], up.part),
            path,
            up.time,
            up.end,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if not taken:
        path.unlink(missing_ok=True)
        raise Over(
            f"no request {request_id} for site {up.site_id!r} (over, or unknown): stop",
            params={"request": str(request_id)},
        )


async def _to_holds(
    state: AppState,
    holds: HoldRequests | None,
    request_id: UUID,
    up: Upload,
    body: AsyncIterator[bytes],
) -> None:
    """The edge's answer to a hold command (``held`` or ``error``, a small JSON body)."""
    if holds is None or not holds.expects(request_id) or up.part not in ("held", "error"):
        raise Over(
            f"no hold request {request_id} waits for a {up.part} part (over, or unknown): stop",
            params={"request": str(request_id)},
        )
    key_text = await asyncio.to_thread(_edge_key, state, up.site_id)
    data, digest = await _read(body, HOLD_PART_MAX_BYTES)
    _verify(up, request_id, digest, key_text)
    if not holds.deliver(request_id, up.site_id, up.part, data):
        raise Over(
            f"no hold request {request_id} for site {up.site_id!r} (over, or unknown): stop",
            params={"request": str(request_id)},
        )


def _edge_key(state: AppState, site_id: str) -> str | None:
    """The site's registered edge key (as ingest.trust.edge_key: ingest is a layer above)."""
    with state.db.session() as s:
        return s.scalar(
            select(BrokerAccount.public_key).where(
                BrokerAccount.site_id == site_id, BrokerAccount.role == "edge"
            )
        )


def _verify(up: Upload, request_id: UUID, digest: str, key_text: str | None) -> None:
    verify_edge(up.site_id, key_text, up.text(request_id, digest), up.signature)


def verify_edge(site_id: str, key_text: str | None, text: bytes, signature: str) -> None:
    """:class:`Unsigned` unless ``signature`` is ``site_id``'s registered edge key (base64,
    ``key_text``; None: none registered) over ``text``: live video, playback and evidence
    uploads alike."""
    if key_text is None:
        raise _refuse(
            Unsigned,
            f"site {site_id!r} has no registered edge key, and an edge uploads only with one: "
            f"register the edge with 'sitewatch server add-edge {site_id}'",
        )
    try:
        key = parse_public_key(key_text)
    except SigningKeyError as exc:
        reason = f"the registered key of site {site_id!r} is unusable: {exc}"
        raise _refuse(Unsigned, reason) from None
    if not verify_bytes(text, signature, key):
        raise _refuse(
            Unsigned,
            f"expected a signature of site {site_id!r}'s registered edge key over the "
            "upload's text, got another: check the edge's site id and key ('sitewatch server "
            f"add-edge {site_id}' after a new key)",
        )


def _to_hub(state: AppState, request_id: UUID, up: Upload, data: bytes) -> None:
    hub = services.hub(state)
    if up.part == "error":
        try:
            doc = json.loads(data)
            code, detail = str(doc["code"]), str(doc.get("detail", ""))
        except (ValueError, KeyError, TypeError) as exc:
            code, detail = "failed", f"an error part that is not JSON with a code ({exc})"
        said = hub.fail(request_id, up.site_id, code, detail)
    elif up.part in ("init", "media"):
        said = hub.deliver(request_id, up.site_id, up.part, up.seq, up.time, data)
    else:
        raise _refuse(
            Refused,
            f"a {up.part} part for live session {request_id}: expected init, media or error",
        )
    if said == "wrong_site":
        raise _refuse(WrongSite, f"session {request_id} is not site {up.site_id!r}'s")
    if said == "over":
        raise Over(
            f"live session {request_id} is over: stop sending", params={"request": str(request_id)}
        )


async def _read(body: AsyncIterator[bytes], limit: int) -> tuple[bytes, str]:
    chunks, size, sha = [], 0, hashlib.sha256()
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise _refuse(TooLarge, f"a live part of more than {limit} bytes")
        sha.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), sha.hexdigest()


async def _spool(body: AsyncIterator[bytes], path: Path, limit: int) -> str:
    """Write the body to ``path`` in batches of :data:`SPOOL_BATCH_BYTES` (off the loop);
    its SHA-256."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    size, sha, batch = 0, hashlib.sha256(), bytearray()
    f: BinaryIO = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise _refuse(TooLarge, f"more than {limit} bytes (video_upload_max_bytes)")
            sha.update(chunk)
            batch += chunk
            if len(batch) >= SPOOL_BATCH_BYTES:
                await asyncio.to_thread(f.write, bytes(batch))
                batch.clear()
        await asyncio.to_thread(f.write, bytes(batch))
    finally:
        await asyncio.to_thread(f.close)
    return sha.hexdigest()
