"""The console's one error shape, with a code the page translates.

Every error answer is ``{"detail": ..., "code": ..., "params": {...}}`` (codes:
:mod:`sitewatch.console.error_codes`). Domain errors carry their own code; a route or dependency
refuses with :func:`refuse` (an ``HTTPException`` with a code); any other ``HTTPException``
(Starlette's 404 and 405 too) gets ``http.<status>``. FastAPI's 422 keeps its list of problems in
``detail`` (inputs shortened) and adds the first problem's code and params (field, expected,
got, limit) by pydantic's error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitewatch.console.api.headers import short
from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.error_codes import CODES, known
from sitewatch.console.workflow import InvalidTransition, MissingInput, WorkflowError
from sitewatch.core.geometry import polygon_fault

# pydantic error types -> (code, what was expected); the rest: validation.invalid
VALIDATION: dict[str, tuple[str, str]] = {
    "missing": ("validation.missing", ""),
    "json_invalid": ("validation.json", "JSON"),
    "extra_forbidden": ("validation.extra", ""),
    "string_too_short": ("validation.too_short", ""),
    "too_short": ("validation.too_short", ""),
    "string_too_long": ("validation.too_long", ""),
    "too_long": ("validation.too_long", ""),
    "string_pattern_mismatch": ("validation.pattern", ""),
    "literal_error": ("validation.choice", ""),
    "enum": ("validation.choice", ""),
    "greater_than": ("validation.range", ""),
    "greater_than_equal": ("validation.range", ""),
    "less_than": ("validation.range", ""),
    "less_than_equal": ("validation.range", ""),
}
TYPES = {"int": "integer", "float": "number", "bool": "boolean", "string": "text", "dict": "object"}


class CodedHTTPException(StarletteHTTPException):
    """An ``HTTPException`` with an error code and the params its text fills in."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        params: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=dict(headers) if headers else None)
        self.code = known(code)
        self.params = dict(params or {})


def refuse(
    status_code: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **params: object,
) -> CodedHTTPException:
    """The exception a route raises, e.g.
    ``raise refuse(404, "user.not_found", "no user 'x'", user="x")``."""
    return CodedHTTPException(status_code, code, detail, params, headers)


def http_code(status: int) -> str:
    """``http.<status>`` when registered, else the generic 400 or 500 code."""
    code = f"http.{status}"
    return code if code in CODES else ("http.500" if status >= 500 else "http.400")


def body(detail: object, code: str, params: Mapping[str, object]) -> dict[str, Any]:
    return {"detail": detail, "code": code, "params": jsonable_encoder(dict(params))}


def error_status(exc: Exception) -> int:
    """The HTTP status of a domain error: its own; 409 for a step the workflow does not allow
    from the alert's state, 422 for one it lacks input for."""
    if isinstance(exc, ConsoleError):
        return exc.status
    if isinstance(exc, InvalidTransition):
        return 409
    if isinstance(exc, WorkflowError):
        return 422
    raise TypeError(f"expected a console domain error, got {type(exc).__name__}: {exc}")


def code_of(exc: Exception) -> tuple[str, dict[str, object]]:
    """A domain or workflow error's code and params."""
    if isinstance(exc, ConsoleError):
        return exc.code, exc.params
    if isinstance(exc, InvalidTransition):
        allowed = ", ".join(exc.allowed)
        return "workflow.step_not_allowed", {
            "action": exc.action,
            "state": exc.state,
            "allowed": allowed,
        }
    if isinstance(exc, MissingInput):
        return "workflow.missing_input", {}
    return "request.refused", {}


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    """A domain error (:mod:`sitewatch.console.domain.errors`, the workflow's) as the one shape."""
    code, params = code_of(exc)
    return JSONResponse(body(str(exc), code, params), status_code=error_status(exc))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """An ``HTTPException`` (a route's :func:`refuse`, Starlette's 404/405) as the one shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or http_code(exc.status_code)
    params: Mapping[str, object] = getattr(exc, "params", {})
    return JSONResponse(
        body(exc.detail, code, params), status_code=exc.status_code, headers=exc.headers
    )


def validation_code(error: Mapping[str, Any]) -> tuple[str, dict[str, object]]:
    """The code and params of one pydantic problem: field (its path without body/query),
    expected, got (the input, shortened) and limit (a length or bound)."""
    kind = str(error.get("type", ""))
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    ctx = error.get("ctx") or {}
    field = ".".join(loc) or "body"
    got = short(error.get("input"))
    params: dict[str, object] = {"field": field, "got": "" if got is None else got}
    if kind in VALIDATION:
        code, expected = VALIDATION[kind]
        limit = next(
            (ctx[k] for k in ("min_length", "max_length", "gt", "ge", "lt", "le") if k in ctx), ""
        )
        if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            sign = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<"}.get(kind, "≤")
            limit = f"{sign} {limit}"
        params |= {"expected": ctx.get("expected", expected), "limit": limit}
        return code, params
    base = kind.split("_", 1)[0]
    if kind.endswith(("_type", "_parsing")) and base in TYPES:
        return "validation.type", params | {"expected": TYPES[base]}
    return "validation.invalid", params


def zone_code(error: Mapping[str, Any]) -> tuple[str, dict[str, object]] | None:
    """A zone refused for its polygon: ``zone.<fault>`` and the fault's fields, the codes of
    :data:`sitewatch.core.geometry.POLYGON_MESSAGES` (the page shows the same words as for the
    edge's refusal of that zone), or None for any other problem."""
    zone = error.get("input")
    if error.get("type") != "value_error" or not isinstance(zone, Mapping):
        return None
    points = zone.get("points")
    if not isinstance(points, list):
        return None
    try:
        fault = polygon_fault(points)
    except (TypeError, ValueError):
        return None
    if fault is None:
        return None
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    return f"zone.{fault[0]}", {"field": ".".join(loc) or "body", **fault[1]}


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 list (inputs shortened) with the first problem's code and params."""
    assert isinstance(exc, RequestValidationError)
    zone = zone_code(exc.errors()[0]) if exc.errors() else None
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "input" in error:
            error["input"] = short(error["input"])
        if isinstance(error.get("ctx"), dict):
            error["ctx"] = {k: short(v) for k, v in error["ctx"].items()}
        errors.append(error)
    code, params = zone or (
        validation_code(errors[0])
        if errors
        else ("validation.invalid", {"field": "body", "got": ""})
    )
    return JSONResponse(body(jsonable_encoder(errors), code, params), status_code=422)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one shape (after ``headers.install``: its 422
    handler is replaced by :func:`validation_error`)."""
    app.add_exception_handler(ConsoleError, domain_error)
    app.add_exception_handler(WorkflowError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
