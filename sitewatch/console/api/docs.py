"""The API docs served by the console itself: Swagger UI 5 (OpenAPI 3.1) from the files the
installed ``fastapi-offline`` carries (no CDN: an air-gapped site sees them), started by a
script file (no inline script), over an OpenAPI document that names how to authenticate. A
route that needs a login carries the ``session`` cookie scheme (plus ``csrf``, the
``X-CSRF-Token`` header, when it changes state) and its 401 and 403 answers; the edges' video
uploads carry ``edgeSignature``."""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS: Final = "/docs-assets"
SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE: Final = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SiteWatch console API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/js/api_docs.js"></script></body></html>
"""
EDGE_SCHEME: Final[dict[str, Any]] = {
    "type": "apiKey",
    "in": "header",
    "name": "X-SiteWatch-Signature",
    "description": "The edge's Ed25519 signature over the upload "
    "(docs/design/live-video.md, 'Uploads').",
}
ANSWERS: Final[dict[str, dict[str, str]]] = {
    "401": {"description": "Not logged in, session expired or account disabled (code auth.*)."},
    "403": {"description": "The role may not, or a state change without X-CSRF-Token or from "
            "another origin (codes auth.role_may_not, csrf.*)."},
}  # fmt: skip


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, whose login routes list ``session`` and ``csrf`` (from
    :func:`~sitewatch.console.api.deps.current_user`): reads keep ``session`` only, every login
    route gets its 401 and 403, the edge's uploads their signature scheme."""
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    doc.setdefault("components", {}).setdefault("securitySchemes", {})["edgeSignature"] = (
        EDGE_SCHEME
    )
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path.startswith("/api/edge/video/"):
                op["security"] = [{"edgeSignature": []}]
            elif "security" in op:  # FastAPI lists session OR csrf: both are needed
                need: dict[str, list[str]] = {"session": []}
                if method.upper() not in SAFE:
                    need["csrf"] = []
                op["security"] = [need]
                for status, answer in ANSWERS.items():
                    op.setdefault("responses", {}).setdefault(status, answer)
    return doc


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets, and the OpenAPI document with the security schemes."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(_document(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]
    assets = files("fastapi_offline") / "static"  # swagger-ui-bundle.js, swagger-ui.css
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(PAGE)
