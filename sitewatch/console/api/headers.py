"""Web hardening of the console: security headers, a bound on request bodies, short errors.

Installed by :func:`install` in ``create_app``: :class:`SecurityHeaders` gives every response
a strict Content-Security-Policy (no inline script, nothing from other origins, no framing;
a route's own CSP, e.g. evidence files' ``sandbox``, is kept), ``nosniff``, ``DENY`` framing,
``no-referrer``, same-origin opener and resource policies, and HSTS over HTTPS (direct or via
uvicorn's proxy headers). :class:`BodyLimit` answers 413 to a body over ``max_bytes`` before it
is read whole (from ``Content-Length``, or as soon as a chunked body passes it); paths under an
``uploads`` prefix (the edges' video) have their own larger limit, a chunked one bounded by the
route, which streams it to disk. :func:`validation_error` is the 422 handler: FastAPI's error
shape with every echoed ``input`` cut to :data:`ECHO_CHARS` characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""The console's pages and API: its own files only (module JS, one style sheet, images and
clips from the API, fetch and EventSource to itself, its service worker ``/sw.js`` for Web
Push); style changes through the CSSOM only. ``blob:`` media: the live player's MediaSource
reaches its <video> as a blob: URL the page made itself (Chromium checks media-src for it)."""

DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""The API docs (api/docs.py): Swagger UI from the console's own files, started by a script
file; its React components set inline styles, so only styles may be inline. The page is fixed
HTML that carries no user or edge data; every other path gets :data:`CONSOLE_CSP`."""

DOCS_PATHS: Final = frozenset({"/docs"})

EVIDENCE_CSP: Final = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"
"""Evidence files (and refusals in their place): even opened on their own (a new tab), a file
is a sandboxed document with an opaque origin: no script runs, no cookie is readable, nothing
is fetched but the file."""

CLIP_CSP: Final = "sandbox allow-same-origin; default-src 'none'; media-src 'self'"
"""An MP4 clip opened on its own: Chromium's player fetches the clip again (ranges, CORS mode),
which an opaque origin could not do with the session. Still no script (no ``allow-scripts``),
forms, popups or plugins; it only keeps the console's origin for the clip's own requests."""

HSTS: Final = "max-age=31536000"
ECHO_CHARS: Final = 200


def _policy(path: str) -> str:
    if path in DOCS_PATHS:
        return DOCS_CSP
    if path.startswith("/api/alerts/") and "/evidence/" in path:
        return EVIDENCE_CSP  # the file and any refusal in its place
    return CONSOLE_CSP


def _headers_for(scope: Scope) -> list[tuple[bytes, bytes]]:
    csp = _policy(scope.get("path", ""))
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    """Adds :func:`_headers_for`'s headers to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _headers_for(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """413 for a request body over ``max_bytes`` bytes, said before the body is read whole.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is read
    into memory up to the limit (at most ``max_bytes``) and then handed to the app. A path
    starting with a key of ``uploads`` has that limit instead, and a chunked body there goes to
    the route unread (it streams the body to disk within the same limit).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, uploads: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        path = scope.get("path", "")
        upload = next((n for prefix, n in self.uploads.items() if path.startswith(prefix)), None)
        if length is not None or upload is not None:
            limit = self.max_bytes if upload is None else upload
            declared = 0 if length is None else int(length) if length.isdigit() else -1
            if declared < 0 or declared > limit:
                came = f"{(length or b'').decode(errors='replace')} bytes"
                await self._refuse(send, came, limit, upload is not None)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        total = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await self._refuse(send, f"more than {total} bytes (chunked)", self.max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, came: str, limit: int, upload: bool = False) -> None:
        why = (
            "video_upload_max_bytes): send shorter ranges"
            if upload
            else "max_request_bytes): send less (evidence arrives over MQTT, never over HTTP)"
        )
        body = json.dumps(
            {
                "detail": f"request body too large: {came}, the console takes at most "
                f"{limit} bytes ({why}",
                "code": "http.413",
                "params": {},
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def short(value: Any) -> Any:
    """``value`` as echoed in an error: strings cut to :data:`ECHO_CHARS` characters, larger
    lists and objects replaced by a note of their size."""
    if isinstance(value, str | bytes) and len(value) > ECHO_CHARS:
        text = value if isinstance(value, str) else value.decode(errors="replace")
        return f"{text[:ECHO_CHARS]}… ({len(value)} characters, cut)"
    if isinstance(value, dict | list):
        size = len(json.dumps(jsonable_encoder(value), default=str))
        if size > ECHO_CHARS:
            return f"<{type(value).__name__} of {size} characters, not echoed>"
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape (``{"detail": [{type, loc, msg, input, ctx}]}``), inputs shortened."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "input" in error:
            error["input"] = short(error["input"])
        if isinstance(error.get("ctx"), dict):
            error["ctx"] = {k: short(v) for k, v in error["ctx"].items()}
        errors.append(error)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install(app: FastAPI, max_request_bytes: int, uploads: Mapping[str, int] | None = None) -> None:
    """Add the headers, the body limit (``uploads``: path prefix -> its own limit) and the
    short 422 errors to ``app``."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes, uploads=uploads)
    app.add_middleware(SecurityHeaders)  # outermost: the 413 gets the headers too
