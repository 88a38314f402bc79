"""The edge on a full disk: a real 20 MB tmpfs holds the outbox, the evidence index and the
evidence, a filler file takes every byte left, and alerts go through AlertDelivery to a real
mosquitto. ``handle()`` never raises, the alert messages still reach the broker (the outbox keeps
what it cannot store in memory), evidence that cannot be written is counted; once the filler
is gone, later alerts arrive in full, files and all, and what waited in memory is stored.

The whole worker too (:func:`test_the_whole_edge_keeps_detecting_on_a_full_disk`): a real
RTSP camera, the real model, its evidence, ring and outbox on the tmpfs, kept full while one
alert runs; its stats count the evidence dropped (:func:`sitewatch.edge.housekeeping.since`)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import yaml

from sitewatch.contract import messages as m
from sitewatch.edge import housekeeping
from sitewatch.edge.analysis.alerts import AlertTransition
from sitewatch.edge.detections import AnalysedFrame, Detections
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.publish.delivery import AlertDelivery
from sitewatch.edge.publish.outbox import Outbox, Publisher
from tests.support import e2e_support as e2e
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.mqtt_broker import (  # noqa: F401
    Collector,
    Mosquitto,
    broker_fixture,
    persistent_broker_fixture,
    until_received,
)
from tests.support.rtsp_server import RtspServer, _check_gstreamer

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
    take_the_rest(filler, "wb")
    assert shutil.disk_usage(folder).free == 0, "the filler left space"
    return filler


def take_the_rest(filler: Path, mode: str = "ab") -> None:
    """Append to ``filler`` until the filesystem refuses another byte."""
    with filler.open(mode, buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, f"expected ENOSPC filling {filler}, got {exc}"


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
    store = EvidenceIndex(small_disk / "evidence_index.db")
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
    store = EvidenceIndex(small_disk / "evidence_index.db")
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


# -- the drop counters in the stats -------------------------------------------------------------


def test_stats_report_the_drops_of_the_interval_only() -> None:
    before = {"snapshot: disk full": 2, "clip: failed": 1}
    now = {"snapshot: disk full": 5, "clip: failed": 1, "clip: disk full": 1}
    assert housekeeping.since(now, before) == {"clip: disk full": 1, "snapshot: disk full": 3}
    assert housekeeping.since(now, now) == {}
    assert housekeeping.since({"memory full: message": 1}, {}) == {"memory full: message": 1}


def test_drop_counts_are_optional_in_the_stats_message() -> None:
    """An older edge's stats (without the counts) still parse; counts are bounded."""
    old = {
        "schema": "sitewatch.stats/1", "site_id": "s1", "at": "2026-12-05T01:00:00Z",
        "interval_s": 60.0, "cameras": [], "batches": 3, "batch_size_mean": 1.0,
        "inference_ms_p50": 10.0, "inference_ms_p95": 12.0, "frames_dropped_stale": 0,
        "outbox_depth": 0, "disk_hours_left": None,
    }  # fmt: skip
    stats = m.decode(json.dumps(old).encode(), m.EdgeStats)
    assert (stats.evidence_dropped, stats.outbox_dropped) == (None, None)
    drops = {"evidence_dropped": {"clip: disk full": 2}, "outbox_dropped": {}}
    new = m.decode(json.dumps(old | drops).encode(), m.EdgeStats)
    assert m.decode(m.encode(new), m.EdgeStats) == new
    assert new.evidence_dropped == {"clip: disk full": 2} and new.outbox_dropped == {}
    for bad in ({"x": -1}, {"": 1}, {"r" * 101: 1}, {f"r{i}": 1 for i in range(65)}):
        with pytest.raises(m.ContractError, match="evidence_dropped"):
            m.decode(json.dumps(old | {"evidence_dropped": bad}).encode(), m.EdgeStats)


# -- the whole worker -----------------------------------------------------------------------------

LOOP_S, VISIBLE = 14.0, (2.0, 8.0)  # the bare head shows 2-8 s of every 14 s


class KeepFull:
    """Takes every byte the filesystem frees (the ring's pruning, a deleted file) every 0.1 s,
    as a runaway log of another program would; ``stop`` deletes the filler."""

    def __init__(self, folder: Path) -> None:
        self.filler = fill(folder)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keep-full", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            take_the_rest(self.filler)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.filler.unlink(missing_ok=True)


def stats_of(received: list[e2e.Received]) -> list[tuple[float, m.EdgeStats]]:
    topic = m.stats(e2e.PREFIX, e2e.SITE)
    return [(r.at, m.decode(r.payload, m.EdgeStats)) for r in received if r.topic == topic]


def alert_starts(received: list[e2e.Received]) -> dict[str, float]:
    """Alert id -> when its first message arrived (monotonic)."""
    out: dict[str, float] = {}
    for r in received:
        if r.topic.endswith("/alerts"):
            out.setdefault(str(m.decode(r.payload, m.AlertEvent).id), r.at)
    return out


def ended_alert(alert_id: str) -> Callable[[list[e2e.Received]], bool]:
    return lambda ms: any(str(a.id) == alert_id and a.event == "end" for a in e2e.alerts(ms))


@pytest.mark.slow
def test_the_whole_edge_keeps_detecting_on_a_full_disk(
    small_disk: Path, broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edge worker whose evidence, ring segments and outbox live on the 20 MB tmpfs: while
    it is full an alert still reaches the broker (its evidence dropped and counted in the
    stats) and frames are still analysed; once the filler is gone the next alert arrives with
    its evidence, every file's bytes matching the SHA-256 listed."""
    _check_gstreamer()
    monkeypatch.setattr(housekeeping, "STATS_EVERY_S", 2.0)  # read when the worker starts
    with ExitStack() as stack:  # whatever was started is stopped, whatever fails
        rtsp = RtspServer({"bare": compose_clip(BARE_HEAD, LOOP_S, VISIBLE)})
        stack.callback(rtsp.close)
        rtsp.start()
        head_zone = [[0.3, 0.0], [0.8, 0.0], [0.8, 0.6], [0.3, 0.6]]  # holds the head
        cam = e2e.camera(
            "cam-head", rtsp.url("bare"), [e2e.zone("work", "helmet_required", head_zone)]
        )
        config = e2e.write_config(tmp_path, broker.port, [cam])
        data = yaml.safe_load(config.read_text())
        data["evidence"]["dir"] = str(small_disk)
        data["outbox"]["path"] = str(small_disk / "outbox.sqlite")
        for rule in data["defaults"]["rules"].values():
            rule["cooldown_s"] = 1  # the person comes back every 14 s: a new alert each time
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        col = e2e.Collector(broker.port)
        stack.callback(col.close)
        run = e2e.InProcessWorker(config)
        stack.callback(run.stop)
        col.wait("cam-head online", lambda ms: bool(e2e.camera_states(ms, "cam-head")), 20)
        keep = KeepFull(small_disk)
        stack.callback(keep.stop)
        full_since = time.monotonic()
        frames0 = run.worker.batcher.stats.frames
        col.wait("an alert raised on the full disk", lambda ms: bool(alert_starts(ms)), 30)
        first = next(iter(alert_starts(col.snapshot())))
        col.wait(
            "stats counting a snapshot dropped on the full disk",
            lambda ms: any(dropped_on_full_disk(s) for at, s in stats_of(ms) if at > full_since),
            10,
        )
        got = col.snapshot()
        assert shutil.disk_usage(small_disk).free < 1 << 16, "the disk was not kept full"
        assert run.thread.is_alive() and run.error is None, f"the main loop died: {run.error!r}"
        assert run.worker.batcher.stats.frames > frames0, "no frame analysed on the full disk"
        full = [s for at, s in stats_of(got) if at > full_since]
        assert sum(s.batches for s in full) > 0, f"detection stopped: {full}"
        assert all(s.outbox_dropped == {} for s in full), "nothing waits long enough to drop"
        # its end waits for the clip, which waits (post_roll_s + 60 s at most) for recording

        keep.stop()  # space returns
        back = time.monotonic()
        col.wait(f"the end of alert {first}, raised on the full disk", ended_alert(first), 40)
        events = e2e.dedupe(e2e.alerts(col.snapshot()))[first]
        assert [e.seq for e in events] == list(range(len(events))), "a message of it is missing"
        col.wait("an alert raised after space returned", lambda ms: later(ms, back) is not None, 30)
        second = later(col.snapshot(), back)
        assert second is not None
        col.wait(f"the end of alert {second}", ended_alert(second), 30)
        got = col.snapshot()
        files = e2e.check_evidence_first(got, second)  # bytes match the listed SHA-256 and size
        end = e2e.dedupe(e2e.alerts(got))[second][-1]
        kinds = {f.kind for f in end.evidence}
        assert {"snapshot", "snapshot_clean", "clip"} <= kinds, f"evidence in full? {end.evidence}"
        assert {f.name for f in end.evidence} <= files.keys()
        assert run.thread.is_alive() and run.error is None


def dropped_on_full_disk(stats: m.EdgeStats) -> int:
    return sum(n for k, n in (stats.evidence_dropped or {}).items() if k.endswith("disk full"))


def later(received: list[e2e.Received], after: float) -> str | None:
    """The first alert whose first message arrived after ``after`` (monotonic), if any."""
    return next((k for k, at in alert_starts(received).items() if at > after), None)
