"""Problems in a config file: what pydantic and the checks found, said for an operator.

A :class:`ConfigProblem` prints as ``FILE:LINE: key.path: expected X, got Y. Hint``;
:func:`finding_from_error` turns one pydantic error into a :class:`Finding` with the expected
value, what came, and a hint (the field's description, or "did you mean" for unknown keys and
names).
"""

from __future__ import annotations

import difflib
import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from sitewatch.edge.config.checks import Finding, Loc, Severity
from sitewatch.edge.config.schema import SiteConfig


@dataclass(frozen=True)
class ConfigProblem:
    """One problem, printable as ``FILE:LINE: key.path: expected X, got Y. Hint``."""

    file: str
    line: int | None
    path: str
    expected: str
    got: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        level = "warning: " if self.severity == "warning" else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{where}: {level}{self.path}: expected {self.expected}, got {self.got}.{hint}"


class ConfigError(Exception):
    """The config is invalid; ``problems`` lists every error, ``warnings`` the rest."""

    def __init__(
        self, problems: list[ConfigProblem], warnings: list[ConfigProblem] | None = None
    ) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(map(str, problems)))


_MSG_PREFIXES = (
    ("Input should be ", ""),
    ("String should match pattern ", "text matching the pattern "),
    ("String should have ", "text with "),
    ("List should have ", ""),
)


def finding_from_error(error: ErrorDetails) -> Finding:
    """One pydantic error as a :class:`Finding` (``[key]`` dropped from dict-key locations)."""
    loc: Loc = tuple(part for part in error["loc"] if part != "[key]")
    kind, msg, value = error["type"], error["msg"], error.get("input")
    ctx = error.get("ctx") or {}
    field = _field_at(loc)
    hint = (field.description or "") if field is not None else ""
    got = _show(value)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"Did you mean {guess[0]!r}?" if guess else "Delete it, or check its indentation."
        return Finding(
            loc, f"one of the keys {', '.join(allowed)}", f"unknown key {loc[-1]!r}", hint
        )
    if kind == "missing":
        return Finding(
            loc,
            f"the required key {loc[-1]!r}",
            "nothing",
            f"Add it: {hint}" if hint else "Add it.",
        )
    if kind in ("model_type", "dict_type"):
        return Finding(loc, "a mapping (key: value lines)", got, hint)
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        items = "item" if limit == 1 else "items"
        return Finding(loc, f"{bound} {limit} {items}", f"{ctx.get('actual_length')}", hint)
    expected = re.sub(r"^(Value error, |Assertion failed, )", "", msg)
    if ", got " in expected:
        expected, _, rest = expected.removeprefix("expected ").rpartition(", got ")
        got, _, extra = rest.partition("; ")
        hint = f"{extra[:1].upper()}{extra[1:]}." if extra else hint
    else:
        for prefix, replacement in _MSG_PREFIXES:
            expected = expected.replace(prefix, replacement, 1)
        expected = expected[:1].lower() + expected[1:]
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        guess = difflib.get_close_matches(str(value), options, n=1)
        hint = f"Did you mean {guess[0]!r}? {hint}".strip() if guess else hint
    if kind == "string_type" and isinstance(value, (int, float, bool)):
        read_as = "true/false" if isinstance(value, bool) else "a number"
        hint = f'Quote it ("{value}"): unquoted, YAML reads it as {read_as}. {hint}'.strip()
    return Finding(loc, expected, got, hint)


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(map(str, value))}"[:80]
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _descend(loc: Loc) -> tuple[Any, FieldInfo | None]:
    """The type at ``loc`` in the :class:`SiteConfig` schema and the last field on the way."""
    annotation: Any = SiteConfig
    field: FieldInfo | None = None
    for part in loc:
        annotation = _unwrap(annotation)
        args = get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(part, str) or part not in annotation.model_fields:
                return None, field
            field = annotation.model_fields[part]
            annotation = field.annotation
        elif get_origin(annotation) in (list, tuple) and isinstance(part, int) and args:
            annotation = args[min(part, len(args) - 1)]
        elif get_origin(annotation) is dict and args:
            annotation = args[1]
        else:
            return None, field
    return _unwrap(annotation), field


def _model_at(loc: Loc) -> type[BaseModel] | None:
    annotation, _ = _descend(loc)
    ok = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if ok else None


def _field_at(loc: Loc) -> FieldInfo | None:
    return _descend(loc)[1]
