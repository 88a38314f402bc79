"""The console's domain errors: what a query or use case refuses, said without HTTP.

Each carries the HTTP status the API answers it with (``status``) and a text that says what was
expected, what came and what to do; ``create_app`` maps them all, in one handler, to the
console's one error shape (``{"detail": text, "code": code, "params": {...}}``): ``code`` is one
of :data:`sitewatch.console.error_codes.CODES` (the kind's own when the raiser gives none), the
page translates it with ``params``. Domain modules raise these and never import
fastapi (the import-linter contracts in pyproject.toml hold them to it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sitewatch.console.error_codes import known


class ConsoleError(Exception):
    """A request the console refuses; ``str()`` says why and what to do (English), ``code``
    (a key of the error-code registry) and ``params`` let the page say it in its language."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "request.refused"

    def __init__(
        self, detail: str, *, code: str | None = None, params: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(detail)
        self.code = known(code or self.default_code)
        self.params: dict[str, object] = dict(params or {})


class NotFound(ConsoleError):
    """No such thing among what the user may see (the same answer whether it exists or not)."""

    status = 404
    default_code = "not_found"


class Conflict(ConsoleError):
    """Not possible in the current state (a change in flight, an alert changed meanwhile)."""

    status = 409
    default_code = "conflict"


class Invalid(ConsoleError):
    """The request's content cannot be used as given."""

    status = 422
    default_code = "invalid"


class Unavailable(ConsoleError):
    """Something the request needs (the MQTT broker, the signing key) is not there now."""

    status = 503
    default_code = "unavailable"
