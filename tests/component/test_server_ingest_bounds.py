"""Bounds of the console's ingest, message by message, through its dispatcher on a real SQLite
file (and the evidence store on a real folder): times near the console's clock, evidence
quotas per file, alert and site, config results and edge statuses that cannot be forged by
age. The flood and in-flight bounds over a real mosquitto are in test_server_ingest_flood.py.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.console.ingest.bounds import Bounds
from sitewatch.console.ingest.context import Context
from sitewatch.console.ingest.queue import BoundedQueue
from sitewatch.console.ingest.service import REFUSED, dispatch
from sitewatch.console.ingest.topics import route
from sitewatch.console.store.db import Database
from sitewatch.console.store.evidence import EvidenceStore, OverQuota, Quota
from sitewatch.console.store.models import Alert, Camera, ConfigRequest, Evidence, Site
from sitewatch.contract import messages as m
from tests.support.console_support import Console, console_fixture  # noqa: F401
from tests.support.ingest_support import JPEG, PREFIX, alert, evidence_file

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def handle(db: Database, store: EvidenceStore, topic: str, payload: bytes) -> str | None:
    """Dispatch one message as ingest does: None if kept, else why it was refused."""
    ctx = Context(store, PREFIX, topic, route(PREFIX, topic), NOW)
    try:
        with db.session() as s:
            dispatch(s, ctx, payload, Bounds(600.0, store.quota))
    except REFUSED as exc:
        return str(exc)
    return None


def parts(console: Console, quota: Quota | None = None) -> tuple[Database, EvidenceStore]:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    return state.db, EvidenceStore(console.settings.evidence_dir, quota)


def status(at: datetime, **fields: object) -> bytes:
    values: dict[str, object] = {
        "site_id": "north",
        "camera_id": "gate",
        "state": "online",
        "fps_in": 10.0,
        "fps_analysed": 5.0,
        "frames_dropped": 0,
        "reconnects": 0,
        "last_frame_at": at,
        "at": at,
    }
    return m.encode(m.CameraStatus.model_validate(values | fields))


def test_a_status_dated_ahead_of_the_console_is_refused_and_does_not_freeze_its_camera(
    console: Console,
) -> None:
    db, store = parts(console)
    topic = m.camera_status(PREFIX, "north", "gate")
    why = handle(db, store, topic, status(datetime(9999, 1, 1, tzinfo=UTC), state="offline"))
    assert why is not None and "field at" not in why  # last_frame_at comes first
    assert "field last_frame_at: expected a time at most 600 s ahead" in why
    assert "9999-01-01" in why and "NTP" in why
    assert handle(db, store, topic, status(NOW + timedelta(minutes=11))) is not None
    assert handle(db, store, topic, status(NOW + timedelta(minutes=9))) is None  # within skew
    assert handle(db, store, topic, status(NOW + timedelta(minutes=10), state="stalled")) is None
    with db.session() as s:
        camera = s.get(Camera, ("north", "gate"))
        assert camera is not None and camera.state == "stalled"  # later statuses still apply
    assert handle(db, store, topic, status(datetime(1970, 1, 1, tzinfo=UTC))) is None  # kept
    with db.session() as s:
        camera = s.get(Camera, ("north", "gate"))
        assert camera is not None and camera.state == "stalled"  # but older: no change


def test_every_time_field_of_an_alert_is_checked(console: Console) -> None:
    db, store = parts(console)
    ahead = NOW + timedelta(hours=1)
    topic = m.alerts(PREFIX, "north")
    for name, late in (
        ("sent_at", alert(uuid.uuid4(), 0, sent_at=ahead)),
        ("last_seen_at", alert(uuid.uuid4(), 0, last_seen_at=ahead)),
    ):
        why = handle(db, store, topic, m.encode(late))
        assert why is not None and f"field {name}:" in why
    started = alert(uuid.uuid4(), 0, started_at=ahead, last_seen_at=ahead, sent_at=NOW)
    why = handle(db, store, topic, m.encode(started))
    assert why is not None and "field started_at:" in why
    with db.session() as s:
        assert s.query(Alert).count() == 0


def test_an_alert_lists_at_most_its_quota_of_files_and_bytes(console: Console) -> None:
    db, store = parts(console, Quota(file_bytes=4096, alert_bytes=9000))
    aid = uuid.uuid4()
    files = [evidence_file(f"s{i}.jpg", JPEG) for i in range(4)]  # 4 x 966 bytes
    assert (
        handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, 0, evidence=files)))
        is None
    )
    more = alert(aid, 1, evidence=[evidence_file(f"t{i}.jpg", JPEG) for i in range(6)])
    why = handle(db, store, m.alerts(PREFIX, "north"), m.encode(more))
    assert why is not None and "10 evidence files of 9660 bytes" in why
    assert "at most 16 files and 9000 bytes per alert" in why
    big = m.EvidenceFile.model_validate(
        evidence_file("clip.mp4", JPEG, "clip").model_dump() | {"size_bytes": 5000}
    )
    why = handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, 1, evidence=[big])))
    assert why is not None and "at most 4096 bytes per evidence file" in why
    with db.session() as s:
        assert s.query(Evidence).count() == 4


def test_the_sixteen_file_cap_holds_across_an_alerts_messages(console: Console) -> None:
    db, store = parts(console)
    aid = uuid.uuid4()
    for seq in range(4):
        files = [evidence_file(f"s{seq}-{i}.jpg", JPEG) for i in range(4)]
        assert (
            handle(db, store, m.alerts(PREFIX, "north"), m.encode(alert(aid, seq, evidence=files)))
            is None
        )
    extra = alert(aid, 4, evidence=[evidence_file("one-more.jpg", JPEG)])
    why = handle(db, store, m.alerts(PREFIX, "north"), m.encode(extra))
    assert why is not None and "17 evidence files" in why


def test_evidence_over_its_file_or_alert_quota_is_refused_before_it_is_written(
    tmp_path: Path,
) -> None:
    store = EvidenceStore(tmp_path, Quota(file_bytes=2048, alert_bytes=2500, alert_files=3))
    aid = str(uuid.uuid4())
    with pytest.raises(OverQuota, match="at most 2048 bytes per file, got 2049"):
        store.stage("north", aid, "big.jpg", b"x" * 2049)
    store.stage("north", aid, "a.jpg", JPEG)
    store.stage("north", aid, "a.jpg", JPEG)  # a repeat replaces, it does not add
    store.stage("north", aid, "b.jpg", JPEG)
    with pytest.raises(
        OverQuota, match="at most 2500 bytes per alert, it has 1932 and this file 966"
    ):
        store.stage("north", aid, "c.jpg", JPEG)
    store.stage("north", aid, "c.jpg", b"tiny")
    with pytest.raises(OverQuota, match="at most 3 files per alert"):
        store.stage("north", aid, "d.jpg", b"tiny")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.jpg",
        "b.jpg",
        "c.jpg",
    ]
    with pytest.raises(OverQuota, match="snapshot of at most 900 bytes, got 966"):
        EvidenceStore(tmp_path, Quota(snapshot_bytes=900)).write_snapshot("north", "gate", JPEG)
    assert not (tmp_path / "_cameras").exists()


def test_a_sites_unlisted_evidence_over_its_quota_loses_its_oldest_files(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, Quota(site_staged_bytes=3 * len(JPEG), site_staged_files=10))
    staged = []
    for n in range(3):
        path = store.stage("north", str(uuid.uuid4()), "snap.jpg", JPEG)
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))  # oldest first
        staged.append(path)
    other_site = store.stage("south", str(uuid.uuid4()), "snap.jpg", JPEG)
    newest = store.stage("north", str(uuid.uuid4()), "snap.jpg", JPEG)
    assert not staged[0].exists() and staged[1].exists() and staged[2].exists()
    assert newest.exists() and other_site.exists() and store.evicted == 1
    store.stage("north", str(uuid.uuid4()), "two.jpg", JPEG + JPEG)
    assert not staged[1].exists() and not staged[2].exists() and store.evicted == 3
    counted = EvidenceStore(tmp_path / "b", Quota(site_staged_files=2))
    paths = [counted.stage("east", str(uuid.uuid4()), "s.jpg", b"x") for _ in range(3)]
    assert [p.exists() for p in paths].count(True) == 2 and counted.evicted == 1


def config_request(db: Database, site: str = "north") -> str:
    request_id = str(uuid.uuid4())
    with db.session() as s:
        s.add(
            ConfigRequest(
                request_id=request_id,
                site_id=site,
                camera_id="gate",
                issued_by="ana",
                issued_at=NOW - timedelta(seconds=30),
                base_version="3",
                payload={},
            )
        )
    return request_id


def result(request_id: str, status: str = "applied", **fields: object) -> bytes:
    values: dict[str, object] = {
        "request_id": request_id,
        "site_id": "north",
        "status": status,
        "version": "4",
        "reason": None if status == "applied" else "zone outside the frame",
        "at": NOW,
    }
    return m.encode(m.ConfigResult.model_validate(values | fields))


def test_a_config_result_is_believed_only_once_for_a_pending_request_of_its_site(
    console: Console,
) -> None:
    db, store = parts(console)
    topic = m.config_result(PREFIX, "north")
    south = config_request(db, "south")
    why = handle(db, store, topic, result(south))
    assert why is not None and "went to site 'south'" in why
    unknown = handle(db, store, topic, result(str(uuid.uuid4())))
    assert unknown is not None and "unknown request" in unknown
    pending = config_request(db)
    old = handle(db, store, topic, result(pending, at=NOW - timedelta(hours=1)))
    assert old is not None and "expected an answer made after it" in old
    assert handle(db, store, topic, result(pending)) is None
    assert handle(db, store, topic, result(pending)) is None  # the same answer again: a repeat
    forged = handle(db, store, topic, result(pending, "refused"))
    assert forged is not None and "answered 'applied' (version 4) already" in forged
    with db.session() as s:
        row = s.get(ConfigRequest, pending)
        assert row is not None and (row.status, row.version, row.reason) == ("applied", "4", None)


def edge_status(state: str, started_at: datetime) -> bytes:
    return m.encode(
        m.EdgeStatus.model_validate(
            {
                "site_id": "north",
                "state": state,
                "software_version": "1.4.0",
                "config_version": "3",
                "started_at": started_at,
                "cameras": 1,
                "at": started_at,
            }
        )
    )


def test_an_offline_status_of_an_older_edge_run_is_refused(console: Console) -> None:
    db, store = parts(console)
    topic = m.edge_status(PREFIX, "north")
    run1, run2 = NOW - timedelta(hours=2), NOW - timedelta(minutes=5)
    assert handle(db, store, topic, edge_status("online", run2)) is None
    why = handle(db, store, topic, edge_status("offline", run1))  # a stale retained will
    assert why is not None and "expected the run the console knows" in why
    with db.session() as s:
        site = s.get(Site, "north")
        assert site is not None and site.edge_state == "online"
    assert handle(db, store, topic, edge_status("offline", run2)) is None  # its own will
    assert handle(db, store, topic, edge_status("online", run1)) is None  # a clock set back
    with db.session() as s:
        site = s.get(Site, "north")
        assert site is not None and (site.edge_state, site.edge_started_at) == ("online", run1)


def test_values_no_database_or_json_answer_could_hold_are_refused(console: Console) -> None:
    db, store = parts(console)
    topic = m.camera_status(PREFIX, "north", "gate")
    good = json.loads(status(NOW))
    for field, value, why in (
        ("frames_dropped", 2**63, "an integer of at most 64 bits, got one of 65 bits"),
        ("fps_in", float("inf"), "a finite number, got inf"),
        ("error", "stream\x00lost", "text without NUL characters"),
    ):
        refused = handle(db, store, topic, json.dumps(good | {field: value}).encode())
        assert refused is not None and f"field {field}: expected {why}" in refused
    deep: object = 1
    for _ in range(40):
        deep = {"x": deep}
    config = {
        "site_id": "north", "camera_id": "gate", "version": "3", "zones": [],
        "rules": {"no_helmet": {"min_score": deep}}, "at": NOW.isoformat(),
        "schema": "sitewatch.camera_config/1",
    }  # fmt: skip
    refused = handle(
        db, store, m.camera_config(PREFIX, "north", "gate"), json.dumps(config).encode()
    )
    assert refused is not None and "at most 32 levels of nesting" in refused
    assert handle(db, store, topic, json.dumps(good).encode()) is None


def test_the_queue_refuses_droppable_items_beyond_its_bytes_or_count() -> None:
    q: BoundedQueue[str] = BoundedQueue(max_bytes=100, max_items=3)
    assert q.offer("a", 60) and not q.offer("b", 41)  # 101 bytes: over
    assert q.offer("c", 40) and q.bytes == 100
    q.put("qos1", 500)  # never refused: the broker's window bounds those
    assert not q.offer("d", 0)  # 3 items already (the count bound)
    assert [q.get() for _ in range(3)] == ["a", "c", "qos1"] and q.bytes == 0
    assert q.offer("e", 100) and q.peak_bytes == 600
    with pytest.raises(ValueError, match="at least 1 byte and 1 item"):
        BoundedQueue(0, 10)
