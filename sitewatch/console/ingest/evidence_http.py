"""Whole evidence files uploaded over HTTP, into the same ingest as MQTT evidence
(docs/design/evidence-upload.md; the upload itself: sitewatch.console.api.routes.evidence_upload).

:meth:`EvidenceIntake.take` runs :func:`~sitewatch.console.ingest.alerts.on_evidence` on a
file as a job on the ingest worker, in order with the alert messages (so a listing and its
file never race), in its own transaction; its refusals go to ``ingest_rejects`` and its live
events out after the commit. Without ingest (no broker) the jobs run one at a time under a
lock. The outcome is a word the route maps to an answer (:data:`Outcome`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from sitewatch.console.ingest.alerts import on_evidence
from sitewatch.console.ingest.context import Context, IngestError
from sitewatch.console.ingest.service import Ingest, add_reject
from sitewatch.console.ingest.topics import Route, TopicError
from sitewatch.console.ingest.trust import edge_key
from sitewatch.console.state import AppState
from sitewatch.console.store.blob_backends import evidence_store
from sitewatch.console.store.evidence import OverQuota, Quota, UnsafePath
from sitewatch.console.store.models import Evidence
from sitewatch.contract import messages as m

log = logging.getLogger(__name__)

Outcome = Literal[
    "repeat", "deleted", "staged", "stored", "mismatch", "refused", "too_large", "retry"
]
"""What became of a file: those of :data:`~sitewatch.console.ingest.alerts.Taken`, or refused
(another site's alert, conflicting with the stored file), too large (a quota), retry (the
database failed)."""


class EvidenceIntake:
    """Takes whole uploaded files for the app of ``state`` (see the module)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        settings = state.settings
        ingest = state.ingest
        self._jobs: Callable[[Callable[[], None]], None] | None = None  # the ingest worker's
        if isinstance(ingest, Ingest):  # the ingest's store: its quotas and counters
            self.store, self._jobs = ingest.store, ingest.queue.put
        else:
            quota = Quota(
                file_bytes=settings.evidence_file_max_bytes,
                snapshot_bytes=settings.snapshot_max_bytes,
                alert_bytes=settings.evidence_alert_max_bytes,
                site_staged_bytes=settings.evidence_staged_site_max_bytes,
            )
            self.store = evidence_store(settings, quota)
        self._serial = threading.Lock()

    @property
    def file_max_bytes(self) -> int:
        """The largest evidence file the store takes (``evidence_file_max_bytes``)."""
        return self.store.quota.file_bytes

    def edge_key(self, site_id: str) -> str | None:
        """The registered edge key (base64) of ``site_id``, None if it has none."""
        with self.state.db.session() as s:
            return edge_key(s, site_id)

    def held_whole(self, site_id: str, alert_id: str, name: str, size: int, sha256: str) -> bool:
        """Whether the console holds the file whole: stored (or past retention) as listed with
        ``sha256``, or staged with it for the listing to come (read back from the store)."""
        with self.state.db.session() as s:
            row = s.scalar(
                select(Evidence).where(Evidence.alert_id == alert_id, Evidence.name == name)
            )
            if row is not None and row.status in ("stored", "deleted") and row.sha256 == sha256:
                return True
        staged = self.store.staged_key(site_id, alert_id, name)
        blobs = self.store.blobs
        return blobs.exists(staged) and blobs.digest(staged) == (size, sha256)

    def take(
        self, site_id: str, alert_id: str, name: str, path: Path, signed_by: str
    ) -> concurrent.futures.Future[tuple[Outcome, str]]:
        """Queue the finished upload in ``path`` as the file ``name`` of the alert (streamed
        into the store; ``path`` stays the caller's, untouched until the future is done); the
        future holds the outcome and the reason of a refusal ("" when none)."""
        job = _Take(self, site_id, alert_id, name, path, signed_by)
        if self._jobs is not None:
            self._jobs(job)
        else:
            threading.Thread(target=job, name="evidence-intake", daemon=True).start()
        return job.done


class _Take:
    """One file through :func:`on_evidence` (a job for the ingest worker)."""

    def __init__(
        self, intake: EvidenceIntake, site_id: str, alert_id: str, name: str, path: Path,
        signed_by: str,
    ) -> None:  # fmt: skip
        self.intake, self.path, self.signed_by = intake, path, signed_by
        self.site_id, self.alert_id, self.name = site_id, alert_id, name
        self.done: concurrent.futures.Future[tuple[Outcome, str]] = concurrent.futures.Future()

    def __call__(self) -> None:
        intake = self.intake
        if intake._jobs is None:
            with intake._serial:
                self.done.set_result(self._run())
        else:
            self.done.set_result(self._run())

    def _run(self) -> tuple[Outcome, str]:
        state = self.intake.state
        prefix = state.settings.topic_prefix
        topic = m.evidence(prefix, self.site_id, self.alert_id, self.name)
        route = Route("evidence", self.site_id, alert_id=self.alert_id, name=self.name)
        ctx = Context(self.intake.store, prefix, topic, route, datetime.now(UTC))
        ctx.signed_by = self.signed_by
        try:
            with state.db.session() as s:
                taken = on_evidence(s, ctx, self.path)
                for where, reason in ctx.rejects:
                    add_reject(s, where, reason)
        except (IngestError, TopicError, UnsafePath) as exc:
            return "refused", str(exc)
        except OverQuota as exc:
            return "too_large", str(exc)
        except Exception as exc:  # the database: the edge tries again
            log.warning("evidence %s of alert %s not taken: %s", self.name, self.alert_id, exc)
            return "retry", f"{type(exc).__name__}: {exc}"
        for event in ctx.events:
            state.hub.publish(event)
        return taken, ctx.rejects[0][1] if ctx.rejects else ""
