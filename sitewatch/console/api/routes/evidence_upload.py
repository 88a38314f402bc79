"""Evidence files an edge uploads over HTTP, resumable (docs/design/evidence-upload.md).

No login: each request is authenticated by the Ed25519 signature of the site's registered edge
key over :func:`~sitewatch.contract.signing.evidence_upload_text`, sent within
``clock_skew_max_s``. ``GET`` says how many bytes the console holds of the file; ``PUT``
appends a chunk (at most ``max_request_bytes``) at that offset, to
``evidence_dir/_uploads/<site>/<alert>/<name>.<sha256>``. Once whole, the bytes must hash to
the signed SHA-256 and go through :func:`sitewatch.console.ingest.alerts.on_evidence` on the
ingest worker (in order with the alert messages): stored if listed, staged until listed,
refused if listed otherwise. A repeat of a complete file changes nothing.

Answers (:data:`ANSWERS`): 200 ``{received, size, complete, chunk_max_bytes, outcome}``; 400
malformed; 401 unsigned, wrongly signed, stale or no registered key; 409 another offset is
held (resume at ``received``); 413 too large; 422 not the signed or listed file; 503 retry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import math
import os
import time as clock
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sitewatch.console.api.deps import app_state
from sitewatch.console.domain.errors import ConsoleError, Invalid, Unavailable
from sitewatch.console.ids import TopicError, check_alert_id, check_id, check_name
from sitewatch.console.state import AppState
from sitewatch.console.store.evidence import file_digest
from sitewatch.console.video.upload import Refused, TooLarge, Unsigned, verify_edge
from sitewatch.contract.signing import (
    EvidencePart,
    evidence_upload_text,
)

UPLOAD_PREFIX = "/api/edge/evidence/"
"""Where edges upload evidence: ``{UPLOAD_PREFIX}{site}/{alert_id}/{name}``."""
PARTIAL_DIR = "_uploads"
"""Folder of partial uploads under ``evidence_dir`` (no site id starts with ``_``)."""
TAKE_TIMEOUT_S = 60.0
"""How long a complete file waits for the ingest worker before the edge is told to retry."""
SERVICE = "evidence.uploads"
INTAKE = "evidence.intake"
"""``AppState.services`` key of the ingest's :class:`Intake` (made by app.py at start-up)."""
HEX = frozenset("0123456789abcdef")
router = APIRouter(tags=["evidence"])
State = Annotated[AppState, Depends(app_state)]
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "{received, size, complete, chunk_max_bytes, outcome}"},
    400: {"description": "a header or the path malformed: a bug at the edge"},
    401: {"description": "unsigned, wrongly signed, stale, or no registered edge key"},
    409: {"description": "the offset is not what the console holds; resume at `received`"},
    413: {"description": "a chunk over max_request_bytes, or a file over the evidence quota"},
    422: {"description": "the whole file is not the one signed or listed: not kept"},
    503: {"description": "the console cannot take it now: retry later"},
}


def _refuse(kind: type[ConsoleError], reason: str) -> ConsoleError:
    """A refusal of ``kind``: the video upload's statuses (400, 401, 413) or
    :class:`Invalid` (422), with the generic code (the edge reads the text)."""
    return kind(
        f"evidence upload refused: {reason}", code="request.refused", params={"reason": reason}
    )


@dataclass(frozen=True)
class Upload:
    """One request: the file it is about and its signed headers (``sent``: edge wall clock,
    Unix seconds; sizes and offsets in bytes)."""

    site_id: str
    alert_id: str
    name: str
    part: EvidencePart
    offset: int
    size: int
    sha256: str
    sent: float
    signature: str

    @classmethod
    def of(
        cls, site: str, alert_id: str, name: str, part: EvidencePart, headers: Mapping[str, str]
    ) -> Upload:
        """Parsed from the path and the ``X-SiteWatch-*`` headers; :class:`Refused` (or
        :class:`Unsigned` without a signature) saying which is wrong."""

        def need(header: str) -> str:
            value = headers.get(f"x-sitewatch-{header}")
            if not value:
                kind = Unsigned if header == "signature" else Refused
                raise _refuse(kind, f"expected header X-SiteWatch-{header.title()}, got none")
            return value

        def count(header: str) -> int:
            text = need(header)
            if not text.isdigit() or len(text) > 15:
                raise _refuse(
                    Refused, f"expected X-SiteWatch-{header.title()} as bytes, got {text[:40]!r}"
                )
            return int(text)

        try:
            ids = check_id(site, "site id"), check_alert_id(alert_id), check_name(name)
        except TopicError as exc:
            raise _refuse(Refused, str(exc)) from None
        sha = need("sha256").lower()
        if len(sha) != 64 or not set(sha) <= HEX:
            raise _refuse(
                Refused, f"expected X-SiteWatch-Sha256 as 64 hex digits, got {sha[:70]!r}"
            )
        sent_text = need("sent")
        try:
            sent = float(sent_text)
            if not math.isfinite(sent):
                raise ValueError(sent_text)
        except ValueError:
            reason = f"expected X-SiteWatch-Sent as Unix seconds, got {sent_text[:40]!r}"
            raise _refuse(Refused, reason) from None
        offset = count("offset") if part == "chunk" else 0
        return cls(*ids, part, offset, count("size"), sha, sent, need("signature"))

    def text(self, chunk_sha256: str) -> bytes:
        return evidence_upload_text(
            self.site_id, self.alert_id, self.name, self.part, self.offset, self.size,
            self.sha256, self.sent, chunk_sha256,
        )  # fmt: skip

    @property
    def where(self) -> str:
        return f"evidence {self.name} of alert {self.alert_id} (site {self.site_id})"


class Intake(Protocol):
    """The ingest's side (sitewatch.console.ingest.evidence_http.EvidenceIntake, kept in
    ``AppState.services[INTAKE]`` at start-up: this layer does not import the ingest)."""

    @property
    def file_max_bytes(self) -> int: ...
    def edge_key(self, site_id: str) -> str | None: ...
    def held_whole(
        self, site_id: str, alert_id: str, name: str, size: int, sha256: str
    ) -> bool: ...
    def take(
        self, site_id: str, alert_id: str, name: str, path: Path, signed_by: str
    ) -> concurrent.futures.Future[tuple[str, str]]: ...


class Uploads:
    """Partial uploads of one app: their folder and one lock per file."""

    def __init__(self, state: AppState) -> None:
        got = state.services.get(INTAKE)
        if got is None:
            raise Unavailable(
                "this console takes no evidence uploads: its start-up did not run",
                code="unavailable",
            )
        self.intake = cast(Intake, got)
        self.root = (state.settings.evidence_dir / PARTIAL_DIR).resolve()
        self.max_age_s = state.settings.evidence_staged_max_age_s  # then a partial file goes
        self._locks: dict[tuple[str, str, str, str], tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def holding(self, up: Upload) -> AsyncIterator[None]:
        """One request at a time per file (on the app's loop); the lock is forgotten once no
        request holds or waits for it."""
        key = (up.site_id, up.alert_id, up.name, up.sha256)
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    def partial(self, up: Upload) -> Path:
        return self.root / up.site_id / up.alert_id / f"{up.name}.{up.sha256}"

    def held(self, up: Upload) -> tuple[int, bool]:
        """Bytes held of the file, and whether the console has it whole."""
        partial = self.partial(up)
        if partial.is_file():
            return partial.stat().st_size, False
        if self.intake.held_whole(up.site_id, up.alert_id, up.name, up.size, up.sha256):
            return up.size, True
        return 0, False


def uploads(state: AppState) -> Uploads:
    got = state.services.get(SERVICE)
    if not isinstance(got, Uploads):
        got = state.services[SERVICE] = Uploads(state)
    return got


@router.get(UPLOAD_PREFIX + "{site}/{alert_id}/{name}", responses=ANSWERS)
async def upload_status(
    site: str, alert_id: str, name: str, request: Request, state: State
) -> dict[str, Any]:
    """How many bytes of the file the console holds (``complete`` once it is stored or staged
    whole): the edge resumes from ``received``."""
    up = Upload.of(site, alert_id, name, "status", request.headers)
    box = uploads(state)
    await _check_signed(state, box, up, "")
    async with box.holding(up):
        received, complete = await asyncio.to_thread(box.held, up)
    return _answer(state, up, received, complete, None)


@router.put(UPLOAD_PREFIX + "{site}/{alert_id}/{name}", responses=ANSWERS)
async def upload_chunk(site: str, alert_id: str, name: str, request: Request, state: State) -> Any:
    """Bytes of the file at ``X-SiteWatch-Offset``; the whole file once the last chunk came
    is checked and handed to ingest (see the module)."""
    settings = state.settings
    up = Upload.of(site, alert_id, name, "chunk", request.headers)
    box = uploads(state)
    if up.size > box.intake.file_max_bytes:
        raise _refuse(
            TooLarge,
            f"{up.where}: expected at most {box.intake.file_max_bytes} bytes per file, got "
            f"{up.size}: the edge's clips must be shorter or SITEWATCH_EVIDENCE_FILE_MAX_BYTES "
            "larger",
        )
    chunk, chunk_sha = await _read(request, settings.max_request_bytes)
    key_text = await _check_signed(state, box, up, chunk_sha)
    if up.offset + len(chunk) > up.size:
        raise _refuse(
            Refused,
            f"{up.where}: a chunk of {len(chunk)} bytes at {up.offset} passes the file's "
            f"{up.size} bytes",
        )
    async with box.holding(up):
        received, complete = await asyncio.to_thread(box.held, up)
        if complete:
            return _answer(state, up, up.size, True, "repeat")
        if up.offset != received:
            return JSONResponse(
                {
                    **_answer(state, up, received, False, None),
                    "detail": f"{up.where}: the console holds {received} bytes, got a chunk "
                    f"at {up.offset}: resume at {received}",
                    "code": "conflict",
                },
                status_code=409,
            )
        received = await asyncio.to_thread(_append, box, up, chunk)
        if received < up.size:
            return _answer(state, up, received, False, None)
        taken = await _finish(box, up, key_text)
    return _answer(state, up, up.size, True, taken)


def _answer(
    state: AppState, up: Upload, received: int, complete: bool, outcome: str | None
) -> dict[str, Any]:
    return {
        "received": received,
        "size": up.size,
        "complete": complete,
        "chunk_max_bytes": state.settings.max_request_bytes,
        "outcome": outcome,
    }


async def _read(request: Request, limit: int) -> tuple[bytes, str]:
    chunks, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _refuse(
                TooLarge, f"a chunk of more than {limit} bytes (max_request_bytes): send smaller"
            )
        chunks.append(part)
    body = b"".join(chunks)
    return body, hashlib.sha256(body).hexdigest()


async def _check_signed(state: AppState, box: Uploads, up: Upload, chunk_sha: str) -> str:
    """:class:`Unsigned` unless sent recently and signed by the site's registered edge key;
    that key (base64)."""
    skew = abs(clock.time() - up.sent)
    if skew > state.settings.clock_skew_max_s:
        raise _refuse(
            Unsigned,
            f"sent {skew:.0f} s from the console's clock (at most "
            f"{state.settings.clock_skew_max_s:g} s): check the edge's NTP",
        )
    key_text = await asyncio.to_thread(box.intake.edge_key, up.site_id)
    verify_edge(up.site_id, key_text, up.text(chunk_sha), up.signature)
    assert key_text is not None  # verify_edge refused otherwise
    return key_text


def _append(box: Uploads, up: Upload, chunk: bytes) -> int:
    """Write ``chunk`` at ``up.offset`` of the partial file (durably); the bytes held now."""
    path = box.partial(up)
    if not path.exists():
        _sweep(box, up.site_id, box.max_age_s)
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r+b" if path.exists() else "wb") as f:
        f.seek(up.offset)
        f.write(chunk)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
    return up.offset + len(chunk)


async def _finish(box: Uploads, up: Upload, key_text: str) -> str:
    """Check the whole partial file against the signed size and SHA-256 and hand it to the
    ingest (at most :data:`TAKE_TIMEOUT_S`; streamed, never read whole here); the partial file
    is gone afterwards, whatever came of it. What became of it, or the refusal."""
    path = box.partial(up)
    try:
        size, got = await asyncio.to_thread(file_digest, path)
        if (size, got) != (up.size, up.sha256):
            raise _refuse(
                Invalid,
                f"{up.where}: expected {up.size} bytes with SHA-256 {up.sha256} (signed), the "
                f"{size} bytes uploaded hash to {got}: not kept; the file changed at the edge "
                "while it was sent, upload it again from 0",
            )
        done = box.intake.take(up.site_id, up.alert_id, up.name, path, key_text)
        try:
            outcome, reason = await asyncio.wait_for(asyncio.wrap_future(done), TAKE_TIMEOUT_S)
        except TimeoutError:
            outcome, reason = "retry", f"the ingest did not take it in {TAKE_TIMEOUT_S:g} s"
    finally:
        await asyncio.to_thread(_drop_partial, box, path)
    if outcome in ("mismatch", "refused"):
        raise _refuse(Invalid, reason or f"{up.where}: not the listed bytes")
    if outcome == "too_large":
        raise _refuse(TooLarge, reason)
    if outcome == "retry":
        raise Unavailable(
            f"{up.where}: the console could not store it ({reason}): retry later",
            code="unavailable",
        )
    return outcome


def _sweep(box: Uploads, site_id: str, max_age_s: float) -> None:
    """Delete the site's partial files untouched for ``max_age_s`` (an edge gave them up)."""
    cutoff = clock.time() - max_age_s
    try:
        paths = list((box.root / site_id).glob("*/*"))
    except FileNotFoundError:  # another upload of the site removed a folder meanwhile
        return
    for path in paths:
        try:
            old = path.is_file() and path.stat().st_mtime < cutoff
        except FileNotFoundError:  # finished or dropped by a request running beside this one
            continue
        if old:
            _drop_partial(box, path)


def _drop_partial(box: Uploads, path: Path) -> None:
    path.unlink(missing_ok=True)
    folder = path.parent
    while folder != box.root and folder.is_relative_to(box.root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
