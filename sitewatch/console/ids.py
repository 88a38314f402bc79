"""Ids and file names read from topics, checked against the contract's patterns.

A checked id or name is safe as one path component: no directory, no leading dot, no newline.
The ingest (topics) and the evidence store (paths) check with the same functions.
"""

from __future__ import annotations

import re
from uuid import UUID

from sitewatch.contract.vocabulary import ID_RE

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # contract EvidenceFile.name


class TopicError(ValueError):
    """A topic the console does not read, or one with an id that breaks the contract."""


def check_id(value: str, what: str) -> str:
    """``value`` if it is a contract id (site, camera, zone), else :class:`TopicError`."""
    if not ID_RE.fullmatch(value):  # match would take a final newline
        raise TopicError(
            f"{what} must match {ID_RE.pattern} (lower-case letters, digits, '-', '_'), "
            f"got {value[:60]!r}"
        )
    return value


def check_alert_id(value: str) -> str:
    """The canonical (lower-case, hyphenated) form of an alert UUID."""
    try:
        canonical = str(UUID(value))
    except ValueError:
        raise TopicError(f"alert id must be a UUID, got {value[:60]!r}") from None
    if canonical != value.lower():
        raise TopicError(f"alert id must be a hyphenated UUID, got {value[:60]!r}")
    return canonical


def check_name(value: str) -> str:
    """An evidence file name (no directory, no leading dot), else :class:`TopicError`."""
    if not NAME_RE.match(value) or value in (".", ".."):
        raise TopicError(f"evidence file name must match {NAME_RE.pattern}, got {value[:60]!r}")
    return value
