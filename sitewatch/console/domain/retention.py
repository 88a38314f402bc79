"""Evidence retention: files of closed alerts go once their retention has passed.

An alert is closed when resolved or marked false positive (``closed_at`` set). A resolved
alert's evidence is kept for ``evidence_retention_days`` after that, then its files are deleted
and their rows say ``deleted`` (the rows, the alert and its timeline stay). A false positive's
evidence is kept (it is the data for the next model) unless ``false_positive_retention_days``
is set. Evidence of open alerts is never deleted, however old, and neither is the evidence of
an alert on legal hold (exported to the police: ``alerts.legal_hold``). Ingest runs
:func:`sweep` hourly; tests call it directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select

from sitewatch.console.store.db import Database
from sitewatch.console.store.evidence import EvidenceStore
from sitewatch.console.store.models import CLOSED_STATES, Alert, Evidence

log = logging.getLogger(__name__)
INCOMING_MAX_AGE_S = 24 * 3600.0
"""Staged evidence that no alert listed within this time is deleted: a day, because an edge
that loses its link between sending a file and the alert listing it sends the alert later."""


@dataclass(frozen=True)
class SweepResult:
    files_deleted: int
    rows_marked: int
    staged_deleted: int


def sweep(
    db: Database,
    store: EvidenceStore,
    retention_days: float,
    now: datetime | None = None,
    incoming_max_age_s: float = INCOMING_MAX_AGE_S,
    false_positive_days: float | None = None,
) -> SweepResult:
    """Delete the evidence of alerts resolved more than ``retention_days`` before ``now`` (false
    positives: ``false_positive_days``, None = keep), and staged files older than
    ``incoming_max_age_s``. Replicas sharing a database (and the evidence mount) sweep one at a
    time: a replica whose sweep finds another one sweeping does nothing (all zeros)."""
    with db.exclusive("retention") as mine:
        if not mine:
            return SweepResult(0, 0, 0)
        return _sweep(db, store, retention_days, now, incoming_max_age_s, false_positive_days)


def _sweep(
    db: Database,
    store: EvidenceStore,
    retention_days: float,
    now: datetime | None,
    incoming_max_age_s: float,
    false_positive_days: float | None,
) -> SweepResult:
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    closed = Alert.state == "resolved"
    if false_positive_days is not None:
        fp_cutoff = now - timedelta(days=false_positive_days)
        closed = or_(
            and_(closed, Alert.closed_at < cutoff),
            and_(Alert.state == "false_positive", Alert.closed_at < fp_cutoff),
        )
    else:
        closed = and_(closed, Alert.closed_at < cutoff)
    paths: list[Path] = []
    with db.session() as s:  # rows first: a failed commit leaves every file in place
        due = s.scalars(
            select(Evidence)
            .join(Alert, Alert.id == Evidence.alert_id)
            .where(
                Alert.state.in_(CLOSED_STATES),
                Alert.closed_at.is_not(None),
                Alert.legal_hold.is_(False),
                closed,
                Evidence.status == "stored",
            )
        ).all()
        for row in due:
            if row.path is not None:
                paths.append(Path(row.path))
            row.status = "deleted"
            row.path = None
        rows = len(due)
    files = sum(store.delete(path) for path in paths)
    staged = store.sweep_incoming(incoming_max_age_s, now.timestamp())
    if files or rows or staged:
        log.info(
            "retention: deleted %d evidence file(s) of %d row(s) closed before %s; "
            "%d stale staged file(s)",
            files,
            rows,
            cutoff.isoformat(),
            staged,
        )
    return SweepResult(files, rows, staged)
