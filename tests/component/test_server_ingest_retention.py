"""Evidence retention, staged files that no alert lists, the topic router and the store's path
checks; messages are handed to ingest's dispatcher directly, on a real SQLite file and a real
PostgreSQL database (the ``console`` fixture runs each test on both)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sitewatch.console.domain import retention
from sitewatch.console.ingest.context import Context
from sitewatch.console.ingest.service import REJECTS_KEPT, add_reject, dispatch
from sitewatch.console.ingest.topics import Route, TopicError, route
from sitewatch.console.store.db import Database
from sitewatch.console.store.evidence import EvidenceStore, UnsafePath
from sitewatch.console.store.models import Alert, Evidence, IngestReject
from sitewatch.contract import messages as m
from tests.support.console_support import Console
from tests.support.ingest_support import (
    CLIP,
    JPEG,
    PREFIX,
    alert,
    edge_of,
    evidence_file,
    live_console,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def handle(db: Database, store: EvidenceStore, topic: str, payload: bytes) -> Context:
    ctx = Context(store, PREFIX, topic, route(PREFIX, topic), NOW)
    with db.session() as s:
        dispatch(s, ctx, payload)
    return ctx


def stored_alert(
    db: Database, store: EvidenceStore, state: str, closed_days_ago: float | None
) -> str:
    """An alert with a stored snapshot and clip, then moved to ``state`` by hand."""
    aid = uuid.uuid4()
    for name, data in (("snap.jpg", JPEG), ("clip.mp4", CLIP)):
        handle(db, store, m.evidence(PREFIX, "north", str(aid), name), data)
    files = [evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")]
    handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, 0, evidence=files)))
    with db.session() as s:
        row = s.get(Alert, str(aid))
        assert row is not None
        row.state = state
        if closed_days_ago is not None:
            row.closed_at = NOW - timedelta(days=closed_days_ago)
    return str(aid)


def statuses(db: Database, alert_id: str) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(Evidence.status).where(Evidence.alert_id == alert_id)))


def test_retention_deletes_only_evidence_of_alerts_resolved_long_enough(console: Console) -> None:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    db, store = state.db, EvidenceStore(console.settings.evidence_dir)
    expired = stored_alert(db, store, "resolved", closed_days_ago=31)
    false_positive = stored_alert(db, store, "false_positive", closed_days_ago=45)
    recent = stored_alert(db, store, "resolved", closed_days_ago=29)
    still_open = stored_alert(db, store, "assigned", closed_days_ago=None)
    reopened = stored_alert(db, store, "acknowledged", closed_days_ago=90)  # closed_at kept
    assert all(statuses(db, a) == {"stored"} for a in (expired, recent, still_open))

    result = retention.sweep(db, store, retention_days=30, now=NOW)

    assert (result.files_deleted, result.rows_marked) == (2, 2)
    assert statuses(db, expired) == {"deleted"}
    assert not (store.root / "north" / expired).exists()
    # false positives keep their evidence by default: the data for the next model
    for kept in (false_positive, recent, still_open, reopened):
        assert statuses(db, kept) == {"stored"}
        assert (store.root / "north" / kept / "clip.mp4").read_bytes() == CLIP
    with db.session() as s:
        assert s.get(Alert, expired) is not None  # the record stays, only the files go
    assert retention.sweep(db, store, retention_days=30, now=NOW).rows_marked == 0
    # unless a site sets a limit for them too
    fp = retention.sweep(db, store, retention_days=30, now=NOW, false_positive_days=60)
    assert fp.rows_marked == 0 and statuses(db, false_positive) == {"stored"}
    fp = retention.sweep(db, store, retention_days=30, now=NOW, false_positive_days=40)
    assert (fp.files_deleted, fp.rows_marked) == (2, 2)
    assert statuses(db, false_positive) == {"deleted"}
    assert statuses(db, recent) == {"stored"}


def test_staged_files_no_alert_lists_are_removed_after_an_hour(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    old = store.stage("north", str(uuid.uuid4()), "snap.jpg", JPEG)
    fresh = store.stage("north", str(uuid.uuid4()), "snap.jpg", JPEG)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert store.sweep_incoming(3600.0) == 1
    assert not old.exists() and not old.parent.exists() and fresh.read_bytes() == JPEG


def test_a_repeated_alert_message_changes_nothing(console: Console) -> None:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    db, store = state.db, EvidenceStore(console.settings.evidence_dir)
    aid = uuid.uuid4()
    first = handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, 0)))
    again = handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, 0)))
    assert [e.kind for e in first.events] == ["alert", "incident"]  # the alert and its incident
    assert again.events == [] and again.rejects == []


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("sitewatch/north/alerts", Route("alert", "north")),
        ("sitewatch/north/edge/status", Route("edge_status", "north")),
        ("sitewatch/north/stats", Route("stats", "north")),
        ("sitewatch/north/config/result", Route("config_result", "north")),
        ("sitewatch/north/cameras/gate/status", Route("camera_status", "north", "gate")),
        ("sitewatch/north/cameras/gate/config", Route("camera_config", "north", "gate")),
        ("sitewatch/north/cameras/gate/snapshot", Route("snapshot", "north", "gate")),
        (
            "sitewatch/north/evidence/0b7e4b8e-7c1a-4a57-9a55-3f3a1c1e2d4f/clip.mp4",
            Route("evidence", "north", None, "0b7e4b8e-7c1a-4a57-9a55-3f3a1c1e2d4f", "clip.mp4"),
        ),
    ],
)
def test_contract_topics_route_to_their_kind(topic: str, expected: Route) -> None:
    assert route(PREFIX, topic) == expected


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("other/north/alerts", "under sitewatch/"),
        ("sitewatch/north/config/set", "contract's topics"),  # the console's own commands
        ("sitewatch/../alerts", "site id"),
        ("sitewatch/north/cameras/../status", "camera id"),
        ("sitewatch/north/evidence/not-a-uuid/clip.mp4", "UUID"),
        ("sitewatch/north/evidence/0B7E4B8E7C1A4A579A553F3A1C1E2D4F/clip.mp4", "hyphenated"),
        ("sitewatch/north/evidence/0b7e4b8e-7c1a-4a57-9a55-3f3a1c1e2d4f/.hidden", "file name"),
    ],
)
def test_other_topics_and_unsafe_ids_are_refused(topic: str, why: str) -> None:
    with pytest.raises(TopicError, match=why):
        route(PREFIX, topic)


def test_store_paths_never_leave_the_evidence_directory(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    aid = str(uuid.uuid4())
    assert store.final_path("north", aid, "clip.mp4") == store.root / "north" / aid / "clip.mp4"
    for site, name in (("..", "x.jpg"), ("north", "../../etc/passwd"), ("north", "a/b")):
        with pytest.raises(ValueError):
            store.stage(site, aid, name, b"x")
    with pytest.raises(UnsafePath):
        store.delete(tmp_path / "outside.txt")
    assert not any(tmp_path.rglob("*.jpg"))


def test_only_the_newest_rejects_are_kept(console: Console) -> None:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    for n in range(REJECTS_KEPT + 5):
        with state.db.session() as s:
            add_reject(s, "sitewatch/north/alerts", f"reject {n}")
    with state.db.session() as s:
        reasons = list(s.scalars(select(IngestReject.reason).order_by(IngestReject.id)))
    assert len(reasons) == REJECTS_KEPT
    assert reasons[0] == "reject 5" and reasons[-1] == f"reject {REJECTS_KEPT + 4}"


def test_ingest_sweeps_staged_files_after_its_setting_not_a_day(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """SITEWATCH_EVIDENCE_STAGED_MAX_AGE_S decides how long unlisted evidence waits."""
    aids = [uuid.uuid4() for _ in range(2)]
    with (
        live_console(tmp_path, broker, evidence_staged_max_age_s=3600) as console,
        edge_of(broker) as edge,
    ):
        for aid in aids:
            edge.evidence("north", aid, "snap.jpg", JPEG)
        console.settle(2)
        staged = sorted((console.settings.evidence_dir / "_incoming").rglob("snap.jpg"))
        assert len(staged) == 2
        two_hours_ago = time.time() - 7200  # within the old day, past the setting's hour
        os.utime(staged[0], (two_hours_ago, two_hours_ago))
        console.ingest.sweep()  # on the worker, in order with the messages
        edge.alert(alert(uuid.uuid4(), 0))
        console.settle(3)
        assert [p.exists() for p in staged] == [False, True]
