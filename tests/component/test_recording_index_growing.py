"""A growing recording from the real edge's housekeeper to the real console's timeline, over a
real mosquitto and a real SQLite file: the edge sends its index once, not again while only the
last span's end grows; the console extends that end to the camera's last status; the edge
sends an index when recording stops, and the timeline ends where the recording did.

The ring is a folder of segments and their CSV list as the recorder leaves them (10 s each,
the newest ended 5 s ago); the housekeeper is asked at chosen times (Unix seconds).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pytest import approx

from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from sitewatch.edge.detect.batcher import BatchStats
from sitewatch.edge.evidence.files import DiskManager
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.housekeeping import Housekeeper
from sitewatch.edge.publish.outbox import Outbox
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.edge.video.recording import CameraRecording
from tests.support.ingest_support import PREFIX, edge_of, live_console
from tests.support.mqtt_broker import (  # noqa: F401  (the fixture)
    Collector,
    Mosquitto,
    broker_fixture,
    until_received,
)

SITE, CAMERA = "north", "gate"
SEGMENT_S = 10.0
HOUR = 3600.0


def write_segments(folder: Path, count: int, end: float) -> None:
    """``count`` segments of :data:`SEGMENT_S`, the last ending at ``end``, and their list."""
    folder.mkdir(parents=True)
    rows = []
    for i in range(count):
        name = f"r1-{i:06d}.ts"
        (folder / name).write_bytes(b"\x47" * 188)
        stamp = end - (count - 1 - i) * SEGMENT_S
        os.utime(folder / name, (stamp, stamp))
        rows.append(f"{name},{i * SEGMENT_S:.3f},{(i + 1) * SEGMENT_S:.3f}")
    (folder / "r1.csv").write_text("\n".join(rows) + "\n")
    os.utime(folder / "r1.csv", (end, end))


def housekeeper(tmp_path: Path, rec: CameraRecording, transport: MqttTransport) -> Housekeeper:
    """The edge's chores over one camera's recording, publishing unsigned on ``transport``."""
    rings = list(rec.rings.values())
    return Housekeeper(
        site_id=SITE, topic_prefix=PREFIX, readers={}, rings=rings,
        disk=DiskManager(tmp_path, rings, EvidenceIndex(tmp_path / "e.db")),
        batch_stats=BatchStats(), transport=transport, signer=Signer(None),
        outbox=Outbox(tmp_path / "outbox.db"), evidence_dropped={}, recordings={CAMERA: rec},
    )  # fmt: skip


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def test_the_growing_end_is_shown_until_the_edge_says_it_stopped(
    tmp_path: Path, broker: Mosquitto
) -> None:
    now = time.time()
    last_end = now - 5.0
    root = tmp_path / "ring" / CAMERA
    write_segments(root / "detect", 6, last_end)  # a minute, ended 5 s ago: still recording
    rec = CameraRecording(
        CAMERA, "rtsp://192.0.2.1/sub", None, root, segment_s=SEGMENT_S, keep_s={"detect": HOUR}
    )
    with live_console(tmp_path / "console", broker) as console, edge_of(broker) as edge:
        keeper = housekeeper(tmp_path, rec, edge.transport)
        [first] = keeper.publish_index(now)
        assert first.wait(10.0)
        assert keeper.publish_index(now + 10.0) == []  # nothing but the growing end: no message
        assert keeper.recording_turned(now + 20.0) == set()  # the newest segment 25 s old
        status = m.CameraStatus(
            site_id=SITE, camera_id=CAMERA, state="online", fps_in=12.5, fps_analysed=2.0,
            frames_dropped=0, reconnects=0, last_frame_at=utc(now), error=None, at=utc(now),
        )  # fmt: skip
        edge.send(m.camera_status(PREFIX, SITE, CAMERA), m.encode(status), retain=True)
        console.settle(2)
        console.add_user("ana", "manager", [SITE])
        ana = console.login("ana")
        where = f"/api/video/timeline/{SITE}/{CAMERA}?from={now - 600}&to={now + 600}"
        line = ana.get(where).json()
        # the listed end is 5 s ago; the camera's status (now) says it kept recording
        [span] = line["spans"]
        assert span["start"] == approx(last_end - 60.0) and span["end"] == approx(now), line

        # recording stopped: the edge notices (two segments and 5 s on) and says so
        assert keeper.recording_turned(now + 40.0) == {CAMERA}
        [stopped] = keeper.publish_index(now + 40.0, only={CAMERA})
        assert keeper.publish_index(now + 50.0) == []  # said once
        assert stopped.wait(10.0)
        console.settle(3)
        line = ana.get(where).json()
        assert line["spans"] == [{"start": approx(last_end - 60.0), "end": approx(last_end)}]
        assert line["index_at"] == approx(now + 40.0)


def test_the_running_housekeeper_sends_a_growing_index_once(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Real time, about 3 s: the chores' loop publishes the index at once, then nothing while
    the recording only grows (checked every half second, the growing look at once)."""
    root = tmp_path / "ring" / CAMERA
    write_segments(root / "detect", 6, time.time() - 1.0)
    rec = CameraRecording(
        CAMERA, "rtsp://192.0.2.1/sub", None, root, segment_s=SEGMENT_S, keep_s={"detect": HOUR}
    )
    with edge_of(broker) as edge, edge_of(broker) as console:
        got = Collector()
        console.transport.subscribe(m.recording_index(PREFIX, SITE, CAMERA, m.ANY), got)
        until_received(got, edge.transport, m.recording_index(PREFIX, SITE, CAMERA, "detect"))
        keeper = housekeeper(tmp_path, rec, edge.transport)
        stop = threading.Event()
        chores = threading.Thread(target=keeper.run, args=(stop,), daemon=True)
        chores.start()
        [(_, payload)] = got.wait_for(1)
        time.sleep(2.5)
        stop.set()
        chores.join(5.0)
        assert not chores.is_alive()
    assert len(got.messages) == 1, got.messages
    index = m.decode(payload, m.RecordingIndex)
    assert index.recording and len(index.spans) == 1
