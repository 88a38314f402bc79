"""Encoding and decoding of contract messages, and their common base.

:class:`Message` registers every subclass by its ``schema`` value (``sitewatch.<name>/<n>``);
:func:`decode` routes a payload by that value and refuses what it does not know with a
:class:`ContractError` that says what was expected, what came and what to do.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict

_SCHEMA_RE = re.compile(r"^(sitewatch\.[a-z_]+)/([0-9]+)$")


class ContractError(ValueError):
    """A payload that is not a message this reader accepts; the text says why and what to do."""


def _require_schema(schema: JsonDict) -> None:
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "schema" not in required:
        required.insert(0, "schema")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Message(Strict):
    """Base of the top-level messages; ``SCHEMA`` is the class's ``schema`` value."""

    model_config = ConfigDict(json_schema_extra=_require_schema)
    SCHEMA: ClassVar[str]
    signature: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
        description="Ed25519 signature (base64) of the sender over the message without this "
        "field (sitewatch/contract/signing.py); None = unsigned, refused where the sender's key "
        "is known.",
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.SCHEMA = str(cls.model_fields["schema_id"].default)
        name, version = _split(cls.SCHEMA)
        _REGISTRY.setdefault(name, {})[version] = cls


_REGISTRY: dict[str, dict[int, type[Message]]] = {}
MAX_MESSAGE_BYTES = 256 * 1024
"""Largest JSON message a reader accepts (evidence bytes and snapshots travel on their own
topics with their own limits); a bigger payload is refused before it is parsed."""
SCHEMA_DOC = "Message type and version; readers route on it and refuse unknown versions."


def _split(schema: str) -> tuple[str, int]:
    match = _SCHEMA_RE.match(schema)
    if match is None:
        raise ValueError(f"schema {schema!r} is not of the form 'sitewatch.<name>/<version>'")
    return match[1], int(match[2])


M = TypeVar("M", bound=Message)


def model_for(schema: str) -> type[Message]:
    """The model of a ``schema`` value such as ``sitewatch.alert/1``."""
    name, version = _split(schema)
    return _REGISTRY[name][version]


def encode(message: Message) -> bytes:
    """Compact JSON of a message, with its ``schema`` field."""
    return message.model_dump_json(by_alias=True).encode()


@overload
def decode(payload: bytes, expected: type[M]) -> M: ...
@overload
def decode(payload: bytes, expected: None = None) -> Message: ...
def decode(payload: bytes, expected: type[Message] | None = None) -> Message:
    """Parse a payload into the model its ``schema`` names; ``expected`` restricts the type.

    Raises :class:`ContractError` saying what was expected, what came and what to do.
    """
    known_all = ", ".join(f"{n}/{v}" for n, versions in _REGISTRY.items() for v in versions)
    want = expected.SCHEMA if expected else f"one of {known_all}"
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ContractError(
            f"expected a message of at most {MAX_MESSAGE_BYTES} bytes, got {len(payload)} "
            f"bytes starting {payload[:40]!r}; refused unread: the sender is not a SiteWatch "
            "edge/console or is broken"
        )
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ContractError(
            f"expected a JSON object with schema {want}, got bytes that are not JSON ({exc}): "
            f"{payload[:80]!r}; the publisher is not a SiteWatch edge/console"
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema):
        raise ContractError(
            f"expected a JSON object with schema {want}, got schema {schema!r}; "
            "the publisher is not a SiteWatch edge/console, or predates versioned messages"
        )
    name, version = _split(schema)
    if expected is not None and name != _split(expected.SCHEMA)[0]:
        raise ContractError(
            f"expected {expected.SCHEMA}, got {schema}; the sender uses the wrong topic"
        )
    known = _REGISTRY.get(name)
    if known is None:
        raise ContractError(f"expected {want}, got unknown message type {schema}")
    model = known.get(version)
    if model is None:
        newest = f"{name}/{max(known)}"
        if version > max(known):
            raise ContractError(
                f"expected {newest} or older, got newer {schema}: upgrade this reader to a "
                "SiteWatch release that knows it (upgrade the console first, then the edges)"
            )
        raise ContractError(f"expected {newest}, got {schema}, no longer read: upgrade the sender")
    if expected is not None and model is not expected:
        raise ContractError(f"expected {expected.SCHEMA} here, got {schema}: upgrade this reader")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(
            f"expected a valid {schema} message (docs/schemas/), got: {_errors(exc)}; "
            "fix the sender"
        ) from None


def _errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(message)"
        if error["type"] == "missing":
            parts.append(f"{path}: {error['msg']}")
            continue
        got = repr(error.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        parts.append(f"{path}: {error['msg']} (got {got})")
    return "; ".join(parts)
