"""Alert ingest from a real mosquitto into a real SQLite file: idempotent upserts, timelines,
evidence verified on arrival, and refused messages that do not stop ingest."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sitewatch.console.store.models import (
    Alert,
    AlertEventRow,
    Camera,
    Evidence,
    IngestReject,
    Site,
)
from sitewatch.contract import messages as m
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
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


def test_start_update_end_is_one_alert_with_its_timeline_and_live_events(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        feed = console.listen()
        edge.alert(alert(aid, 0))
        first = console.next_event(feed)
        assert (first.kind, first.site_id) == ("alert", "north")
        assert first.data["id"] == str(aid) and first.data["state"] == "new"
        edge.alert(alert(aid, 1))
        edge.alert(alert(aid, 2, end=True))
        console.settle(3)
        assert [console.next_event(feed).data["seq"] for _ in range(2)] == [1, 2]
        [row] = console.rows(Alert)
        assert (row.id, row.seq, row.event, row.state) == (str(aid), 2, "end", "new")
        assert row.score == 0.7 and row.ended_at == alert(aid, 2, end=True).ended_at
        timeline = console.rows(AlertEventRow)
        assert sorted((t.seq, t.event) for t in timeline) == [
            (0, "start"),
            (1, "update"),
            (2, "end"),
        ]
        assert all(t.payload["schema"] == "sitewatch.alert/1" for t in timeline)
        assert [(s.id, s.edge_state) for s in console.rows(Site)] == [("north", "unknown")]
        assert [(c.site_id, c.camera_id) for c in console.rows(Camera)] == [("north", "gate")]
        assert console.ingest.rejected == 0 and console.ingest.received == 3


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite file), then a fresh PostgreSQL database."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


def test_repeats_and_reordering_change_nothing_and_the_newest_wins(
    tmp_path: Path, broker: Mosquitto, database_url: str | None
) -> None:
    aid, other = uuid.uuid4(), uuid.uuid4()
    db = {"database_url": database_url}
    with live_console(tmp_path, broker, **db) as console, edge_of(broker) as edge:
        for seq in (2, 0, 1, 2, 0, 1):  # the end first, then the rest, then all again
            edge.alert(alert(aid, seq, end=seq == 2))
        edge.alert(alert(other, 0, camera="yard"))
        edge.alert(alert(other, 0, camera="yard"))
        console.settle(edge.sent)
        rows = {row.id: row for row in console.rows(Alert)}
        assert set(rows) == {str(aid), str(other)}
        newest = rows[str(aid)]
        assert (newest.seq, newest.event, newest.score) == (2, "end", 0.7)
        assert newest.last_seen_at == alert(aid, 2).last_seen_at and newest.ended_at is not None
        assert newest.box == list(alert(aid, 2).box)
        seqs = sorted(
            t.seq for t in console.rows(AlertEventRow, AlertEventRow.alert_id == newest.id)
        )
        assert seqs == [0, 1, 2]
        assert rows[str(other)].seq == 0
        assert console.ingest.rejected == 0


def test_evidence_before_its_alert_is_verified_and_stored(
    tmp_path: Path, broker: Mosquitto, database_url: str | None
) -> None:
    aid = uuid.uuid4()
    files = [evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")]
    db = {"database_url": database_url}
    with live_console(tmp_path, broker, **db) as console, edge_of(broker) as edge:
        edge.evidence("north", aid, "snap.jpg", JPEG)
        edge.evidence("north", aid, "clip.mp4", CLIP)
        console.settle(2)
        incoming = console.settings.evidence_dir / "_incoming"
        assert sorted(p.name for p in incoming.rglob("*") if p.is_file()) == [
            "clip.mp4",
            "snap.jpg",
        ]
        feed = console.listen()
        edge.alert(alert(aid, 0, evidence=files))
        event = console.next_event(feed)
        assert event.data["snapshot_url"] == f"/api/alerts/{aid}/evidence/snap.jpg"
        edge.evidence("north", aid, "snap.jpg", JPEG)  # QoS 1 may deliver a file again
        console.settle(edge.sent)
        stored = {e.name: e for e in console.rows(Evidence)}
        assert {name: e.status for name, e in stored.items()} == {
            "snap.jpg": "stored",
            "clip.mp4": "stored",
        }
        folder = console.settings.evidence_dir / "north" / str(aid)
        assert (folder / "snap.jpg").read_bytes() == JPEG
        assert (folder / "clip.mp4").read_bytes() == CLIP
        assert stored["clip.mp4"].path == str((folder / "clip.mp4").resolve())
        assert stored["clip.mp4"].duration_s == 12.0 and stored["snap.jpg"].stored_at is not None
        assert not [p for p in incoming.rglob("*") if p.is_file()]
        assert console.ingest.rejected == 0


def test_evidence_after_the_alert_lists_it_is_stored_on_arrival(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        edge.alert(alert(aid, 0))
        edge.alert(alert(aid, 1, evidence=[evidence_file("clip.mp4", CLIP, "clip")]))
        console.settle(2)
        assert [e.status for e in console.rows(Evidence)] == ["expected"]
        edge.evidence("north", aid, "clip.mp4", CLIP)
        console.settle(3)
        [row] = console.rows(Evidence)
        assert row.status == "stored" and Path(str(row.path)).read_bytes() == CLIP


def test_evidence_with_other_bytes_is_refused_and_not_kept(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    listed = evidence_file("snap.jpg", JPEG)
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        edge.evidence("north", aid, "snap.jpg", JPEG[:-1] + b"\x00")  # one byte changed
        edge.alert(alert(aid, 0, evidence=[listed]))
        console.settle(2)
        [row] = console.rows(Evidence)
        assert row.status == "mismatch" and row.path is None
        assert not [p for p in console.settings.evidence_dir.rglob("*") if p.is_file()]
        [reject] = console.rows(IngestReject)
        assert reject.topic == m.evidence(PREFIX, "north", str(aid), "snap.jpg")
        assert listed.sha256 in reject.reason and "refused" in reject.reason
        assert console.ingest.rejected == 1
        [kept] = console.rows(Alert)
        assert kept.seq == 0  # the alert itself is kept


def test_refused_messages_are_counted_and_kept_and_ingest_goes_on(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    status = m.CameraStatus(
        site_id="north",
        camera_id="gate",
        state="online",
        fps_in=10.0,
        fps_analysed=5.0,
        frames_dropped=0,
        reconnects=0,
        last_frame_at=None,
        at=alert(aid, 0).sent_at,
    )
    newer = json.loads(m.encode(alert(aid, 0)))
    newer["schema"] = "sitewatch.alert/9"
    bad = [
        (m.alerts(PREFIX, "north"), b"not json at all", "not JSON"),
        (m.alerts(PREFIX, "north"), m.encode(status), "wrong topic"),
        (m.alerts(PREFIX, "north"), json.dumps(newer).encode(), "upgrade this reader"),
        (m.alerts(PREFIX, "north"), m.encode(alert(aid, 0, site="south")), "topic's site"),
        (m.stats(PREFIX, "north"), b'{"schema": "sitewatch.bogus/1"}', "sitewatch.stats/1"),
        (f"{PREFIX}/north/evidence/{aid}/..", b"x", "file name"),
        (f"{PREFIX}/North/alerts", m.encode(alert(aid, 0)), "site id"),
    ]
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        for topic, payload, _ in bad:
            edge.send(topic, payload)
        edge.alert(alert(aid, 0))
        console.settle(edge.sent)
        assert console.ingest.rejected == len(bad)
        assert console.ingest.received == len(bad) + 1
        rejects = console.rows(IngestReject)
        assert [r.topic for r in rejects] == [topic for topic, _, _ in bad]
        for reject, (_, _, why) in zip(rejects, bad, strict=True):
            assert why in reject.reason, reject.reason
        [row] = console.rows(Alert)
        assert row.id == str(aid) and row.site_id == "north"
