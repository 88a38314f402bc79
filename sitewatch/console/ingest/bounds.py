"""Bounds every decoded message keeps, checked once in
``sitewatch.console.ingest.service.dispatch`` before any handler sees it.

- Times: every time in a message (``at``, ``sent_at``, ``started_at``, ``last_seen_at``, ...)
  is at most ``clock_skew_max_s`` ahead of the console's clock when it was received. A status
  dated in the year 9999 would otherwise win over every later one and freeze its camera. Old
  times are kept: an edge's outbox may deliver days late, and an edge whose clock is not set
  yet (1970) still reports alerts, which are worth more than their dates.
- Values: integers within 64 bits, finite floats, text without NUL or lone surrogates,
  nesting at most :data:`MAX_DEPTH` deep: what SQLite, PostgreSQL and a JSON answer can hold.
- An alert's evidence: the files its messages list, together with those already listed, are
  at most ``alert_files`` and ``alert_bytes``, each at most ``file_bytes``.

A message out of bounds is refused whole (:class:`IngestError`), with what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.ingest.context import Context, IngestError
from sitewatch.console.store.evidence import Quota
from sitewatch.console.store.models import Evidence
from sitewatch.contract import messages as m

MAX_DEPTH = 32
INT64_MIN = -(2**63)


@dataclass(frozen=True)
class Bounds:
    """The limits ``dispatch`` checks; ``quota`` is the evidence store's."""

    clock_skew_max_s: float = 600.0
    quota: Quota = field(default_factory=Quota)


def leaves(msg: BaseModel) -> Iterator[tuple[str, object, int]]:
    """Every value in a message that holds no others (dict keys too), with its field path
    (``cameras[2].at``) and nesting depth; iterative, so no nesting can exhaust the stack."""
    stack: list[tuple[str, object, int]] = [("", msg, 0)]
    while stack:
        path, value, depth = stack.pop()
        children: list[tuple[str, object, int]] = []
        if isinstance(value, BaseModel):
            children = [(f"{path}.{k}" if path else k, v, depth + 1) for k, v in value]
        elif isinstance(value, dict):
            for key, item in value.items():
                yield f"{path} (a key)", key, depth + 1
                children.append((f"{path}.{key}", item, depth + 1))
        elif isinstance(value, list | tuple):
            children = [(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value)]
        else:
            yield path, value, depth
        stack.extend(reversed(children))


def times(msg: BaseModel) -> Iterator[tuple[str, datetime]]:
    """Every datetime in a message, with its field path."""
    for path, value, _ in leaves(msg):
        if isinstance(value, datetime):
            yield path, value


def _value_problem(value: object, depth: int) -> str | None:
    """What a value should have been, if a database or a JSON answer could not hold it."""
    if depth > MAX_DEPTH:
        return f"at most {MAX_DEPTH} levels of nesting, got {depth}"
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INT64_MIN <= value < -INT64_MIN
    ):
        return f"an integer of at most 64 bits, got one of {value.bit_length() + 1} bits"
    if isinstance(value, float) and not math.isfinite(value):
        return f"a finite number, got {value}"
    if isinstance(value, str) and not _clean_text(value):
        return f"text without NUL characters or lone surrogates, got {value[:40]!r}"
    return None


def _refuse_value(msg: m.Message, path: str, why: str) -> IngestError:
    return IngestError(
        f"{msg.SCHEMA} field {path or '(message)'}: expected {why}: refused; the "
        "sender is broken or hostile"
    )


def check_values(msg: m.Message) -> None:
    """Refuse what a database or a JSON answer could not hold: integers beyond 64 bits, floats
    that are not finite, text with NUL or lone surrogates, nesting deeper than MAX_DEPTH."""
    for path, value, depth in leaves(msg):
        why = _value_problem(value, depth)
        if why is not None:
            raise _refuse_value(msg, path, why)


def _clean_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_times(ctx: Context, msg: m.Message, clock_skew_max_s: float) -> None:
    """Refuse a message with a time more than ``clock_skew_max_s`` ahead of the console's."""
    latest = ctx.received_at + timedelta(seconds=clock_skew_max_s)
    for path, at in times(msg):
        if at > latest:
            raise _refuse_time(ctx, msg, path, at, clock_skew_max_s)


def _refuse_time(
    ctx: Context, msg: m.Message, path: str, at: datetime, clock_skew_max_s: float
) -> IngestError:
    ahead = (at - ctx.received_at).total_seconds()
    return IngestError(
        f"{msg.SCHEMA} field {path}: expected a time at most {clock_skew_max_s:.0f} s "
        f"ahead of the console's clock ({ctx.received_at.isoformat()}), got "
        f"{at.isoformat()} ({ahead:.0f} s ahead): refused; check the clock of site "
        f"{ctx.route.site_id}'s edge (NTP: timedatectl, chronyc tracking)"
    )


def check_listing(s: Session, msg: m.AlertEvent, quota: Quota) -> None:
    """Refuse a listing that would take its alert over its files or bytes."""
    query = select(Evidence.name, Evidence.size_bytes).where(Evidence.alert_id == str(msg.id))
    listed: dict[str, int] = {name: size for name, size in s.execute(query)}
    for file in msg.evidence:
        if file.size_bytes > quota.file_bytes:
            raise IngestError(
                f"alert {msg.id} lists {file.name} of {file.size_bytes} bytes: expected at "
                f"most {quota.file_bytes} bytes per evidence file: refused"
            )
        listed.setdefault(file.name, file.size_bytes)
    total = sum(listed.values())
    if len(listed) > quota.alert_files or total > quota.alert_bytes:
        raise IngestError(
            f"alert {msg.id} would list {len(listed)} evidence files of {total} bytes "
            f"together: expected at most {quota.alert_files} files and {quota.alert_bytes} "
            "bytes per alert: refused; an edge lists a handful of files per alert"
        )


def check_bounds(s: Session, ctx: Context, msg: m.Message, bounds: Bounds) -> None:
    """All of the above, for any decoded message, in one walk over its values (a value out of
    bounds is refused before a time too far ahead, as checking them one after the other)."""
    latest = ctx.received_at + timedelta(seconds=bounds.clock_skew_max_s)
    ahead: tuple[str, datetime] | None = None
    for path, value, depth in leaves(msg):
        why = _value_problem(value, depth)
        if why is not None:
            raise _refuse_value(msg, path, why)
        if ahead is None and isinstance(value, datetime) and value > latest:
            ahead = (path, value)
    if ahead is not None:
        raise _refuse_time(ctx, msg, *ahead, bounds.clock_skew_max_s)
    if isinstance(msg, m.AlertEvent):
        check_listing(s, msg, bounds.quota)
