"""The console's domain errors: what a query or use case refuses, said without HTTP.

Each carries the HTTP status the API answers it with (``status``) and a text that says what was
expected, what came and what to do; ``create_app`` maps them all, in one handler, to the
console's one error shape (``{"detail": text}``). Domain modules raise these and never import
fastapi (the import-linter contracts in pyproject.toml hold them to it).
"""

from __future__ import annotations

from typing import ClassVar


class ConsoleError(Exception):
    """A request the console refuses; ``str()`` says why and what to do."""

    status: ClassVar[int] = 400


class NotFound(ConsoleError):
    """No such thing among what the user may see (the same answer whether it exists or not)."""

    status = 404


class Conflict(ConsoleError):
    """Not possible in the current state (a change in flight, an alert changed meanwhile)."""

    status = 409


class Invalid(ConsoleError):
    """The request's content cannot be used as given."""

    status = 422


class Unavailable(ConsoleError):
    """Something the request needs (the MQTT broker, the signing key) is not there now."""

    status = 503
