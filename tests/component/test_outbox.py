"""The SQLite outbox: nothing lost while the broker is away or the edge process dies."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent
from uuid import UUID

import pytest

from sitewatch.contract import messages as m
from sitewatch.edge.publish.outbox import Outbox, Publisher
from sitewatch.edge.publish.transport import MqttTransport
from tests.support.mqtt_broker import (  # noqa: F401
    Collector,
    Mosquitto,
    broker_fixture,
    persistent_broker_fixture,
    until_received,
)
from tests.support.slow_link import slow_replies

TOPIC = m.alerts("sitewatch", "s1")


def _alert(seq: int) -> bytes:
    started = "2025-05-01T08:00:00Z"
    return m.encode(
        m.AlertEvent.model_validate(
            {
                "id": str(UUID(int=1)),
                "seq": seq,
                "event": "start" if seq == 0 else "update",
                "site_id": "s1",
                "camera_id": "c1",
                "rule": "smoking",
                "track_id": 4,
                "zone_id": "z1",
                "label": "cigarette",
                "score": 0.7,
                "box": [0.1, 0.1, 0.2, 0.2],
                "started_at": started,
                "last_seen_at": started,
                "sent_at": started,
                "config_version": "c1",
            }
        )
    )


def _seqs(collector: Collector) -> list[int]:
    return [m.decode(p, m.AlertEvent).seq for p in collector.payloads()]


def _wait_depth(outbox: Outbox, depth: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while outbox.depth() != depth and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox.depth() == depth


def test_put_keeps_order_and_refuses_qos0(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    ids = [outbox.put(TOPIC, _alert(seq)) for seq in range(3)]
    assert ids == sorted(ids) and outbox.depth() == 3
    assert [row.payload for row in outbox.pending()] == [_alert(s) for s in range(3)]
    outbox.remove(ids[:1])
    assert [row.id for row in outbox.pending(limit=5)] == ids[1:]
    with pytest.raises(ValueError, match="QoS 1 or 2"):
        outbox.put(TOPIC, b"x", qos=0)
    with pytest.raises(ValueError, match="concrete topic"):
        outbox.put("sitewatch/+/alerts", b"x")
    assert outbox.depth() == 2
    outbox.close()
    again = Outbox(tmp_path / "outbox.db")
    assert [row.id for row in again.pending()] == ids[1:]
    again.put(TOPIC, b"later")
    assert again.pending()[-1].id > ids[-1]  # AUTOINCREMENT: ids never go back
    again.close()


def test_nothing_lost_while_broker_away(persistent_broker: Mosquitto, tmp_path: Path) -> None:
    console, got = persistent_broker.transport(client_id="console"), Collector()
    edge = persistent_broker.transport()
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = Publisher(outbox, edge, retry_min_s=0.1, retry_max_s=0.3).start()
    try:
        console.subscribe(m.alerts("sitewatch", m.ANY), got)
        until_received(got, edge, TOPIC)  # the console's persistent session is in place
        persistent_broker.stop()
        for seq in range(3):
            outbox.put(TOPIC, _alert(seq))
        time.sleep(1.0)  # the publisher retries against no broker
        assert outbox.depth() == 3
        assert got.payloads() == []
        persistent_broker.start()  # keeps the console's session: it queues for the console
        got.wait_for(3)
        _wait_depth(outbox, 0)
        time.sleep(0.3)
        assert _seqs(got) == [0, 1, 2]
    finally:
        publisher.stop()
        outbox.close()
        console.close()
        edge.close()


CRASHING_EDGE = dedent(
    """
    import sys, time
    from sitewatch.edge.publish.outbox import Outbox
    outbox = Outbox(sys.argv[1])
    for payload in sys.argv[3:]:
        outbox.put(sys.argv[2], payload.encode())
    print("stored", flush=True)
    time.sleep(60)
    """
)


def test_rows_of_a_killed_process_are_published_by_the_next(
    broker: Mosquitto, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.db"
    payloads = [_alert(seq).decode() for seq in range(3)]
    with subprocess.Popen(
        [sys.executable, "-c", CRASHING_EDGE, str(path), TOPIC, *payloads],
        stdout=subprocess.PIPE,
        text=True,
    ) as crashing:
        assert crashing.stdout is not None and crashing.stdout.readline().strip() == "stored"
        crashing.kill()  # SIGKILL: no clean close of the database
    outbox = Outbox(path)
    assert outbox.depth() == 3
    console, got, edge = broker.transport(), Collector(), broker.transport()
    publisher = Publisher(outbox, edge, retry_min_s=0.1, retry_max_s=0.3)
    try:
        console.subscribe(TOPIC, got)
        until_received(got, edge, TOPIC)
        publisher.start()
        assert publisher.flush(10.0)
        got.wait_for(3)
        time.sleep(0.3)
        assert _seqs(got) == [0, 1, 2]
    finally:
        publisher.stop()
        outbox.close()
        console.close()
        edge.close()


def test_flush_without_broker_times_out_and_keeps_rows(broker: Mosquitto, tmp_path: Path) -> None:
    broker.stop()
    edge = broker.transport()
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = Publisher(outbox, edge, retry_min_s=0.05, retry_max_s=0.2).start()
    try:
        outbox.put(TOPIC, _alert(0))
        outbox.put(TOPIC, _alert(1))
        started = time.monotonic()
        assert publisher.flush(0.6) is False
        assert time.monotonic() - started >= 0.6
        assert [row.payload for row in outbox.pending()] == [_alert(0), _alert(1)]
    finally:
        publisher.stop()
        outbox.close()
        edge.close()


def test_flush_returns_true_once_the_broker_has_everything(
    broker: Mosquitto, tmp_path: Path
) -> None:
    edge: MqttTransport = broker.transport()
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = Publisher(outbox, edge).start()
    try:
        assert edge.wait_connected(5)
        for seq in range(40):  # more than one window
            outbox.put(TOPIC, _alert(seq))
        assert publisher.flush(10.0)
        assert outbox.depth() == 0
    finally:
        publisher.stop()
        outbox.close()
        edge.close()


def test_a_row_put_while_others_wait_for_their_ack_goes_out_at_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """The broker's acknowledgements reach the edge 0.9 s late (a real proxy holds its replies,
    tests/support/slow_link.py). A row put meanwhile is published at once: it reaches the broker
    while the earlier row still waits for its PUBACK, rather than after it (as it did until
    2026-11-23: up to 0.4 s of an alert's latency at 36 cameras)."""
    outbox = Outbox(tmp_path / "outbox.db")
    depth_on_arrival: list[int] = []
    collector = Collector()

    def arrived(topic: str, payload: bytes) -> None:
        depth_on_arrival.append(outbox.depth())
        collector(topic, payload)

    watcher = broker.transport()
    watcher.subscribe(TOPIC, arrived)
    with slow_replies(broker.port, delay_s=0.9) as proxy:
        edge = MqttTransport("127.0.0.1", proxy.port, client_id="slow-edge", reconnect_max_s=1)
        publisher = Publisher(outbox, edge).start()
        try:
            assert edge.wait_connected(5)
            until_received(collector, watcher, TOPIC)
            depth_on_arrival.clear()
            outbox.put(TOPIC, _alert(0))
            collector.wait_for(1, timeout_s=5)
            outbox.put(TOPIC, _alert(1))
            collector.wait_for(2, timeout_s=5)
            assert _seqs(collector) == [0, 1]
            assert depth_on_arrival[1] == 2, "the second row went out only after the first's ack"
            _wait_depth(outbox, 0)
        finally:
            publisher.stop()
            edge.close()
            watcher.close()
            outbox.close()


def _evidence(folder: Path, name: str, size: int) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_evidence_row_refers_to_its_file_instead_of_copying_it(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """The row holds the path, size and SHA-256 (read back from the SQLite file itself); the
    publisher reads the bytes when it sends; a file deleted before its turn is dropped, counted,
    and the alert after it still goes."""
    outbox = Outbox(tmp_path / "outbox.db")
    kept, kept_sha = _evidence(tmp_path, "a_snapshot.jpg", 300_000)
    gone, gone_sha = _evidence(tmp_path, "b_snapshot.jpg", 1000)
    topic = m.evidence("sitewatch", "s1", str(UUID(int=1)), kept.name)
    outbox.put_file(topic, kept, 300_000, kept_sha)
    outbox.put_file(
        m.evidence("sitewatch", "s1", str(UUID(int=1)), gone.name), gone, 1000, gone_sha
    )
    outbox.put(TOPIC, _alert(1))
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        stored = db.execute(
            "SELECT length(payload), file_path, size_bytes, sha256 FROM outbox ORDER BY id LIMIT 1"
        ).fetchone()
    assert stored == (0, str(kept), 300_000, kept_sha), "the row copied the file"
    assert (tmp_path / "outbox.db").stat().st_size < 300_000
    gone.unlink()
    console, got, edge = broker.transport(), Collector(), broker.transport()
    publisher = Publisher(outbox, edge, retry_min_s=0.1, retry_max_s=0.3)
    try:
        console.subscribe("sitewatch/s1/#", got)
        until_received(got, edge, TOPIC)
        got.clear()
        publisher.start()
        assert publisher.flush(10.0)
        got.wait_for(2)
        time.sleep(0.3)
        sent = [(t, len(p)) for t, p in got.messages if p != b"probe"]
        assert sent == [(topic, 300_000), (TOPIC, len(_alert(1)))]
        assert got.messages[-2][1] == kept.read_bytes()
        assert outbox.dropped == {"evidence gone": 1}
    finally:
        publisher.stop()
        outbox.close()
        console.close()
        edge.close()


def test_the_cap_drops_the_oldest_evidence_and_never_an_alert(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_evidence_bytes=2500)
    files = [_evidence(tmp_path, f"f{i}.jpg", 1000) for i in range(4)]

    def put_file(i: int) -> None:
        path, sha = files[i]
        outbox.put_file(m.evidence("sitewatch", "s1", str(UUID(int=1)), path.name), path, 1000, sha)

    outbox.put(TOPIC, _alert(0))
    put_file(0)
    put_file(1)
    outbox.put(TOPIC, _alert(1))
    assert outbox.depth() == 4 and not outbox.dropped
    put_file(2)  # 3000 bytes waiting > 2500: f0 goes
    put_file(3)  # f1 goes
    names = [r.topic.rsplit("/", 1)[1] for r in outbox.pending()]
    assert names == ["alerts", "alerts", "f2.jpg", "f3.jpg"]
    assert [r.payload for r in outbox.pending() if r.file is None] == [_alert(0), _alert(1)]
    assert outbox.dropped == {"evidence over the cap": 2}
    outbox.close()


def test_an_outbox_file_from_before_evidence_by_reference_is_read_and_extended(
    tmp_path: Path,
) -> None:
    """A file made by the previous version (no file columns, evidence as bytes) keeps its rows
    and their payloads, and takes evidence references from then on."""
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, qos INTEGER NOT NULL CHECK (qos IN (1, 2)), "
            "retain INTEGER NOT NULL, created_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO outbox VALUES (NULL, ?, ?, 1, 0, 0.0)", (TOPIC, _alert(0)))
    outbox = Outbox(path)
    snapshot, sha = _evidence(tmp_path, "c_snapshot.jpg", 500)
    outbox.put_file(
        m.evidence("sitewatch", "s1", str(UUID(int=1)), snapshot.name), snapshot, 500, sha
    )
    old, new = outbox.pending()
    assert (old.payload, old.file) == (_alert(0), None)
    assert (new.payload, new.file, new.load()) == (b"", snapshot, snapshot.read_bytes())
    outbox.close()
