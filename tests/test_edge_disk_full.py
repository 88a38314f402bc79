"""The edge on a full disk: a real 20 MB tmpfs holds the outbox, the evidence index and the
evidence, a filler file takes every byte left, and alerts go through AlertDelivery to a real
mosquitto. ``handle()`` never raises, the alert messages still reach the broker (the outbox keeps
what it cannot store in memory), evidence that cannot be written is counted; once the filler
is gone, later alerts arrive in full, files and all, and what waited in memory is stored."""

from __future__ import annotations

import errno
import hashlib
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from mqtt_broker import (  # noqa: F401
    Collector,
    Mosquitto,
    broker_fixture,
    persistent_broker_fixture,
    until_received,
)

from contract import messages as m
from edge.alerts import AlertTransition
from edge.delivery import AlertDelivery
from edge.detections import Detections
from edge.evidence_index import EvidenceStore
from edge.outbox import Outbox, Publisher
from edge.pipeline import AnalysedFrame

PREFIX, SITE = "sitewatch", "s1"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs mounted for the test (needs root: CAP_SYS_ADMIN)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(
            f"needs a small real filesystem: `{' '.join(cmd)}` failed ({done.stderr.strip()}); "
            "run the tests as root (or in a container with CAP_SYS_ADMIN)"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte; returns its path."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, f"expected ENOSPC filling {folder}, got {exc}"
    assert shutil.disk_usage(folder).free == 0, "the filler left space"
    return filler


def step(alert_id: str, event: str, now: float) -> AlertTransition:
    return AlertTransition(
        alert_id, event, 0, "cam1", "no_helmet", 7, "work", "head", 0.8,  # type: ignore[arg-type]
        (10.0, 10.0, 50.0, 50.0), (0.1, 0.1, 0.2, 0.2), now, now, now,
        now + 3 if event == "end" else None,
    )  # fmt: skip


def frame() -> AnalysedFrame:
    image = np.random.default_rng(1).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    return AnalysedFrame(time.time(), image, Detections.empty())


class Console:
    """What reached the broker: alert messages by (id, seq), evidence bytes by (id, name)."""

    def __init__(self, got: Collector) -> None:
        self.got = got

    def alerts(self) -> dict[tuple[str, int], m.AlertEvent]:
        out = {}
        for topic, payload in list(self.got.messages):
            if topic.endswith("/alerts") and payload != b"probe":
                msg = m.decode(payload, m.AlertEvent)
                out[(str(msg.id), msg.seq)] = msg
        return out

    def files(self) -> dict[tuple[str, str], bytes]:
        return {
            tuple(topic.rsplit("/", 2)[1:]): payload  # type: ignore[misc]
            for topic, payload in list(self.got.messages)
            if "/evidence/" in topic
        }

    def wait(self, what: str, done: Callable[[], bool], timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"expected {what} at the broker in {timeout_s} s, got {self.alerts()}")
            time.sleep(0.05)


def test_alerts_go_out_on_a_full_disk_and_in_full_once_it_has_room(
    small_disk: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    outbox = Outbox(small_disk / "outbox.db")
    store = EvidenceStore(small_disk / "evidence_index.db")
    delivery = AlertDelivery(
        site_id=SITE, prefix=PREFIX, outbox=outbox, store=store,
        evidence_dir=small_disk / "evidence", tz="UTC", pre_roll_s=1.0, post_roll_s=1.0,
        rings={}, config_version=lambda: "v1",
    ).start()  # fmt: skip
    got, listener, edge = Collector(), broker.transport(), broker.transport()
    listener.subscribe(f"{PREFIX}/{SITE}/#", got)
    until_received(got, edge, m.alerts(PREFIX, SITE))
    publisher = Publisher(outbox, edge, retry_min_s=0.1, retry_max_s=0.3).start()
    console = Console(got)
    early, full, later = (str(uuid.uuid4()) for _ in range(3))
    try:
        # an alert whose snapshots are written before the disk fills; it ends while full
        delivery.handle(step(early, "start", time.time()), frame(), None)
        console.wait(f"alert {early}'s snapshots", lambda: (early, 1) in console.alerts())

        filler = fill(small_disk)
        delivery.handle(step(full, "start", time.time()), frame(), None)
        delivery.handle(step(full, "update", time.time()), None, None)
        delivery.handle(step(full, "end", time.time()), None, None)
        delivery.handle(step(early, "end", time.time()), None, None)
        console.wait(
            "start, update and end of the alert raised on the full disk, the end of the other",
            lambda: {(full, 0), (full, 1), (full, 2), (early, 2)} <= console.alerts().keys(),
        )
        assert "cannot store rows" in caplog.text, "the outbox never met the full disk"
        assert delivery.evidence_dropped["snapshot: disk full"] == 1, delivery.evidence_dropped
        msgs = console.alerts()
        assert [msgs[(full, s)].event for s in range(3)] == ["start", "update", "end"]
        assert msgs[(full, 2)].evidence == [], "no snapshot could be written"
        early_end = msgs[(early, 2)]
        assert early_end.event == "end"
        assert {f.kind for f in early_end.evidence} == {"snapshot", "snapshot_clean"}
        assert {(early, f.name) for f in early_end.evidence} <= console.files().keys()

        filler.unlink()  # space returns
        delivery.handle(step(later, "start", time.time()), frame(), None)
        console.wait(f"alert {later}'s snapshots", lambda: (later, 1) in console.alerts())
        delivery.handle(step(later, "end", time.time()), None, None)
        console.wait(f"alert {later}'s end", lambda: (later, 2) in console.alerts())
        end = console.alerts()[(later, 2)]
        assert {f.kind for f in end.evidence} == {"snapshot", "snapshot_clean"}
        files = console.files()
        for f in end.evidence:
            data = files[(later, f.name)]
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f.size_bytes, f.sha256)

        assert publisher.flush(10.0), f"{outbox.depth()} rows still wait"
        assert not outbox.dropped, outbox.dropped
        index = store.alerts()
        assert not index[full].open and not index[early].open and not index[later].open
        assert len(index[later].files) == 2 and index[full].files == []
    finally:
        delivery.stop(timeout_s=5)
        publisher.stop()
        outbox.close()
        store.close()
        listener.close()
        edge.close()


def test_messages_kept_in_memory_are_stored_once_the_disk_has_room(
    small_disk: Path, persistent_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker is away while the disk is full: the alert waits in memory; once the filler
    is gone it is stored (a crash now would not lose it) and sent when the broker is back (it
    keeps the console's session, so nothing sent at once is missed)."""
    caplog.set_level(logging.WARNING)
    broker = persistent_broker
    got, listener = Collector(), broker.transport(client_id="console")
    listener.subscribe(m.alerts(PREFIX, SITE), got)
    outbox = Outbox(small_disk / "outbox.db")
    store = EvidenceStore(small_disk / "evidence_index.db")
    delivery = AlertDelivery(
        site_id=SITE, prefix=PREFIX, outbox=outbox, store=store,
        evidence_dir=small_disk / "evidence", tz="UTC", pre_roll_s=1.0, post_roll_s=1.0,
        rings={}, config_version=lambda: "v1",
    ).start()  # fmt: skip
    edge = broker.transport()
    publisher = Publisher(outbox, edge, retry_min_s=0.1, retry_max_s=0.3).start()
    alert_id = str(uuid.uuid4())
    try:
        until_received(got, edge, m.alerts(PREFIX, SITE))  # the console's session is in place
        broker.stop()
        filler = fill(small_disk)
        delivery.handle(step(alert_id, "start", time.time()), frame(), None)
        delivery.handle(step(alert_id, "end", time.time()), None, None)
        deadline = time.monotonic() + 10
        while outbox.depth() < 2:  # the start, then the end once the snapshot failed
            assert time.monotonic() < deadline, f"{outbox.depth()} rows wait, expected 2"
            time.sleep(0.05)
        assert [r.id < 0 for r in outbox.pending()] == [True, True], "both kept in memory"

        filler.unlink()
        deadline = time.monotonic() + 10
        while any(r.id < 0 for r in outbox.pending()):  # the publisher retries once a second
            assert time.monotonic() < deadline, "the rows in memory were never stored"
            time.sleep(0.05)
        assert "takes rows again" in caplog.text
        assert outbox.depth() == 2

        broker.start()
        console = Console(got)
        console.wait(
            "the start and the end",
            lambda: {(alert_id, 0), (alert_id, 1)} <= console.alerts().keys(),
        )
        assert console.alerts()[(alert_id, 1)].event == "end"
        assert publisher.flush(10.0)
    finally:
        delivery.stop(timeout_s=5)
        publisher.stop()
        outbox.close()
        store.close()
        edge.close()
        listener.close()


def test_rows_kept_in_memory_are_bounded_evidence_going_first(small_disk: Path) -> None:
    """While the disk is full at most ``spill_rows`` wait in memory: the oldest evidence row
    makes room first, then the oldest message, each counted."""
    outbox = Outbox(small_disk / "outbox.db", spill_rows=3)
    snapshot = small_disk / "a_snapshot.jpg"
    snapshot.write_bytes(b"jpeg")
    sha = hashlib.sha256(b"jpeg").hexdigest()
    alerts, evidence = m.alerts(PREFIX, SITE), m.evidence(PREFIX, SITE, "a", snapshot.name)
    try:
        fill(small_disk)
        outbox.put(alerts, b"start")
        outbox.put_file(evidence, snapshot, 4, sha)
        outbox.put(alerts, b"update")
        outbox.put(alerts, b"end")  # the evidence row makes room
        assert [r.payload for r in outbox.pending()] == [b"start", b"update", b"end"]
        assert all(r.id < 0 for r in outbox.pending()), "stored on a full disk?"
        outbox.put(alerts, b"next start")  # no evidence left: the oldest message goes
        assert [r.payload for r in outbox.pending()] == [b"update", b"end", b"next start"]
        assert outbox.dropped == {"memory full: evidence": 1, "memory full: message": 1}
    finally:
        outbox.close()
