"""Exported video ranges swept by retention (issue 15), on a real migrated SQLite file and real
files: an old export goes unless its alert keeps it (open, on legal hold, closed recently, a
false positive without its own retention); the row stays ``deleted`` with its SHA-256."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.console.store.db import Database, migrate
from sitewatch.console.store.models import Alert, VideoExport
from sitewatch.console.video import exports

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS = 30.0  # the evidence retention of these tests


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'console.db'}")
    migrate(database.engine)
    return database


def add_alert(db: Database, state: str, closed_days_ago: float | None, hold: bool = False) -> str:
    aid = str(uuid.uuid4())
    t0 = NOW - timedelta(days=60)
    with db.session() as s:
        s.add(Alert(
            id=aid, seq=1, site_id="north", camera_id="gate", rule="no_helmet", label="head",
            zone_id="floor", state=state, started_at=t0, last_seen_at=t0, received_at=t0,
            score=0.9, track_id=1, box=[0.0, 0.0, 1.0, 1.0], legal_hold=hold, event="end",
            config_version="1",
            closed_at=NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None
            else None,
        ))  # fmt: skip
    return aid


def add_export(
    db: Database, folder: Path, days_ago: float, alert_id: str | None, state: str = "ready"
) -> tuple[str, Path]:
    """An export asked for ``days_ago`` days before NOW, with its file when ready."""
    eid = str(uuid.uuid4())
    path = folder / f"{eid}.mp4"
    at = NOW - timedelta(days=days_ago)
    if state == "ready":
        path.write_bytes(b"mp4 " + eid.encode())
    with db.session() as s:
        s.add(VideoExport(
            id=eid, site_id="north", camera_id="gate", stream="detect", start=at, end=at,
            alert_id=alert_id, state=state, requested_by="ana", requested_at=at,
            sha256="ab" * 32 if state == "ready" else None, size_bytes=40,
            path=str(path) if state == "ready" else None,
        ))  # fmt: skip
    return eid, path


def test_old_exports_go_unless_their_alert_keeps_them(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    gone = {
        "no alert, old": add_export(db, folder, 31, None),
        "alert resolved long ago": add_export(db, folder, 40, add_alert(db, "resolved", 31)),
        "alert deleted": add_export(db, folder, 40, str(uuid.uuid4())),
    }
    kept = {
        "no alert, recent": add_export(db, folder, 29, None),
        "alert open": add_export(db, folder, 40, add_alert(db, "assigned", None)),
        "alert on legal hold": add_export(db, folder, 40, add_alert(db, "resolved", 90, True)),
        "alert closed recently": add_export(db, folder, 40, add_alert(db, "resolved", 10)),
        "false positive, kept": add_export(db, folder, 40, add_alert(db, "false_positive", 90)),
    }
    failed, _ = add_export(db, folder, 90, None, state="failed")

    assert exports.sweep(db, DAYS, now=NOW) == len(gone)
    with db.session() as s:
        for what, (eid, path) in gone.items():
            row = s.get(VideoExport, eid)
            assert row is not None and not path.exists(), what
            assert (row.state, row.path, row.sha256) == ("deleted", None, "ab" * 32), what
            assert row.error is not None and "retention" in row.error
            assert exports.view(row)["url"] is None
        for what, (eid, path) in kept.items():
            row = s.get(VideoExport, eid)
            assert row is not None and row.state == "ready" and path.exists(), what
        assert s.get(VideoExport, failed).state == "failed"  # type: ignore[union-attr]

    assert exports.sweep(db, DAYS, now=NOW) == 0  # nothing twice
    # a false-positive retention of its own releases that one too
    assert exports.sweep(db, DAYS, now=NOW, false_positive_days=60) == 1
    assert not kept["false positive, kept"][1].exists()
