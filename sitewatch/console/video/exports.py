"""Range exports: a recorded range kept as evidence (docs/design/live-video.md, "Export").

:func:`create` records the request (row ``pending`` and its ``video.export`` audit row, both
committed before anything is sent); :func:`start` runs it in the background: the edge's
upload is stored under ``video_dir/exports/`` and the row becomes ``ready`` with the SHA-256
and size the console computed from the file, or ``failed`` with a code and a reason. Nothing
accepted is lost silently: a row left ``pending`` by a console that stopped is marked failed
(:func:`settle_stale`) with a reason the page shows. Retention (:func:`sweep`) deletes the
file of an old export no alert keeps; its row stays, ``deleted``. An export naming an alert
is audited on that alert (its custody) and goes into the alert's police package
(:mod:`sitewatch.console.domain.export`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import sha256_file
from sitewatch.console.domain.errors import ConsoleError, Invalid
from sitewatch.console.state import AppState
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import Alert, User, VideoExport
from sitewatch.console.video.ranges import EXPORT_WAIT_S, LATE_S, RangeRequests
from sitewatch.contract import messages as m

log = logging.getLogger(__name__)
RUN_MAX = timedelta(seconds=EXPORT_WAIT_S + LATE_S)
"""Longer than any export stays pending on a running console (its wait, then it fails)."""
RETENTION_REASON = (
    "deleted by retention on {at}: asked for more than {days:g} days before, and no open, "
    "held or recently closed alert keeps it"
)
STALE_REASON = (
    "the console stopped before the edge's upload arrived, so this export was not finished: "
    "ask for it again"
)


def subject(row: VideoExport) -> tuple[str, str]:
    """The audit object of an export: its alert's (so the alert's custody lists it), else
    its camera's."""
    if row.alert_id:
        return "alert", row.alert_id
    return "camera", f"{row.site_id}/{row.camera_id}"


def create(
    s: Session,
    user: User,
    site_id: str,
    camera_id: str,
    stream: m.VideoStream,
    start: datetime,
    end: datetime,
    alert_id: str | None,
    client: str | None,
) -> VideoExport:
    """Record a pending export and its audit row (committed); :class:`Invalid` for a range
    not in (0, MAX_VIDEO_RANGE_S] or an alert not of this camera."""
    length = (end - start).total_seconds()
    if not 0 < length <= m.MAX_VIDEO_RANGE_S:
        problem = (
            f"expected end after start and at most {m.MAX_VIDEO_RANGE_S:g} s later, got "
            f"{length:g} s: export shorter pieces"
        )
        raise Invalid(problem, code="video.range_invalid", params={"problem": problem})
    if alert_id is not None:
        alert = s.get(Alert, alert_id)
        if alert is None or (alert.site_id, alert.camera_id) != (site_id, camera_id):
            raise Invalid(
                f"alert {alert_id!r} is not of camera {camera_id!r} at site {site_id!r}: "
                "export from the alert's own camera, or leave alert_id out",
                code="video.alert_mismatch",
                params={"alert": alert_id, "site": site_id, "camera": camera_id},
            )
    row = VideoExport(
        id=str(uuid4()),
        site_id=site_id,
        camera_id=camera_id,
        stream=stream,
        start=start,
        end=end,
        alert_id=alert_id,
        state="pending",
        requested_by=user.username,
        requested_at=datetime.now(UTC),
    )
    s.add(row)
    object_type, object_id = subject(row)
    audit.record(
        s, user, "video.export", object_type, object_id, site_id=site_id, camera_id=camera_id,
        detail=f"video export {row.id}: {camera_id} {stream} {start.isoformat()} to "
        f"{end.isoformat()}", client=client,
    )  # fmt: skip
    s.commit()
    return row


def start(state: AppState, ranges: RangeRequests, export_id: str, fallback_url: str) -> None:
    """Run export ``export_id`` in the background on the running loop; the task always
    leaves the row ready or failed (unless the console stops meanwhile: :func:`settle_stale`)."""
    ranges.keep(
        asyncio.get_running_loop().create_task(_run(state, ranges, export_id, fallback_url))
    )


async def _run(state: AppState, ranges: RangeRequests, export_id: str, fallback: str) -> None:
    with state.db.session() as s:
        row = s.get(VideoExport, export_id)
        assert row is not None, f"export {export_id} vanished"
        args = (row.site_id, row.camera_id, row.stream, row.start, row.end, row.requested_by)
    site_id, camera_id, stream, begin, end, by = args
    try:
        got = await ranges.fetch(
            site_id, camera_id, stream, begin.timestamp(), end.timestamp(),  # type: ignore[arg-type]
            "export", by, fallback_url=fallback,
        )  # fmt: skip
        digest = await asyncio.to_thread(sha256_file, got.path)
        size = got.path.stat().st_size
    except ConsoleError as exc:
        _finish(state, export_id, error=(exc.code, str(exc)))
        return
    except Exception as exc:  # a bug or the disk: the row says so rather than stay pending
        log.exception("video export %s failed", export_id)
        _finish(state, export_id, error=("video.failed", f"console error: {exc}"))
        return
    with state.db.session() as s:
        row = s.get(VideoExport, export_id)
        assert row is not None
        row.state, row.sha256, row.size_bytes = "ready", digest, size
        row.path = str(got.path.resolve())
        row.actual_start = datetime.fromtimestamp(got.start, UTC)
        row.actual_end = datetime.fromtimestamp(got.end, UTC)
        row.finished_at = datetime.now(UTC)


def _finish(state: AppState, export_id: str, *, error: tuple[str, str]) -> None:
    with state.db.session() as s:
        row = s.get(VideoExport, export_id)
        if row is not None:
            row.state, (row.error_code, row.error) = "failed", error
            row.finished_at = datetime.now(UTC)


def settle_stale(s: Session, started_at: datetime) -> int:
    """Mark failed every export still pending that was asked for before ``started_at`` (when
    this console started; with replicas, the longest-running live one: the one that ran it
    stopped) or longer ago than any export runs (:data:`RUN_MAX`: the replica that ran it
    restarted). Returns how many; the caller commits."""
    before = max(started_at, datetime.now(UTC) - RUN_MAX)
    stale = s.scalars(
        select(VideoExport).where(VideoExport.state == "pending", VideoExport.requested_at < before)
    ).all()
    for row in stale:
        row.state, row.error_code, row.error = "failed", "video.failed", STALE_REASON
        row.finished_at = datetime.now(UTC)
    return len(stale)


def sweep(
    db: Database,
    retention_days: float,
    now: datetime | None = None,
    false_positive_days: float | None = None,
) -> int:
    """Delete the files of ready exports asked for more than ``retention_days`` before
    ``now``, unless an alert keeps them: an export of an alert goes with its alert's evidence
    (:mod:`sitewatch.console.domain.retention`'s rule: not while the alert is open or on legal
    hold, a resolved one ``retention_days`` after it closed, a false positive's only given
    ``false_positive_days``). The row stays, ``deleted``, with its SHA-256, size and why;
    rows are committed before any file goes. Safe to run in two replicas at once (a file
    already gone is skipped). Returns how many files were deleted."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    alert_done = and_(Alert.state == "resolved", Alert.closed_at < cutoff)
    if false_positive_days is not None:
        fp_cutoff = now - timedelta(days=false_positive_days)
        fp_done = and_(Alert.state == "false_positive", Alert.closed_at < fp_cutoff)
        alert_done = or_(alert_done, fp_done)
    released = or_(
        VideoExport.alert_id.is_(None),
        Alert.id.is_(None),  # the alert itself is gone
        and_(Alert.closed_at.is_not(None), Alert.legal_hold.is_(False), alert_done),
    )
    paths: list[Path] = []
    with db.session() as s:
        due = s.scalars(
            select(VideoExport)
            .outerjoin(Alert, Alert.id == VideoExport.alert_id)
            .where(VideoExport.state == "ready", VideoExport.requested_at < cutoff, released)
        ).all()
        for row in due:
            if row.path is not None:
                paths.append(Path(row.path))
            row.state, row.path = "deleted", None
            row.error = RETENTION_REASON.format(days=retention_days, at=now.isoformat())
    deleted = 0
    for path in paths:
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("video export file %s not deleted by retention: %s", path, exc)
    if due:
        log.info(
            "retention: %d video export(s) asked for before %s deleted (%d file(s))",
            len(due), cutoff.isoformat(), deleted,
        )  # fmt: skip
    return deleted


def view(row: VideoExport) -> dict[str, Any]:
    """The API's answer for an export (times Unix seconds)."""

    def ts(t: datetime | None) -> float | None:
        return t.timestamp() if t is not None else None

    return {
        "id": row.id,
        "state": row.state,
        "site_id": row.site_id,
        "camera_id": row.camera_id,
        "stream": row.stream,
        "start": ts(row.start),
        "end": ts(row.end),
        "actual_start": ts(row.actual_start),
        "actual_end": ts(row.actual_end),
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "error": row.error,
        "error_code": row.error_code,
        "url": f"/api/video/exports/{row.id}/file" if row.state == "ready" else None,
        "alert_id": row.alert_id,
        "requested_by": row.requested_by,
        "requested_at": ts(row.requested_at),
    }
