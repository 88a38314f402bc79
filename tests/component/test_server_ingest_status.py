"""Camera and edge status, stats, camera configs and snapshots from a real mosquitto; an edge
killed for real (its last will); a console that was away while the edge published."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from textwrap import dedent

from sitewatch.console.domain.live import camera_out
from sitewatch.console.store.models import Alert, AlertEventRow, Camera, IngestReject, Site
from sitewatch.contract import messages as m
from tests.support.ingest_support import JPEG, PREFIX, T0, alert, edge_of, live_console
from tests.support.mqtt_broker import HOST, Mosquitto, broker_fixture, persistent_broker_fixture  # noqa: F401


def camera_status(camera: str, state: str = "online", seconds: int = 0) -> m.CameraStatus:
    return m.CameraStatus.model_validate(
        {
            "site_id": "north",
            "camera_id": camera,
            "state": state,
            "fps_in": 12.5,
            "fps_analysed": 4.0,
            "frames_dropped": 3,
            "reconnects": 1,
            "last_frame_at": T0 + timedelta(seconds=seconds),
            "at": T0 + timedelta(seconds=seconds),
        }
    )


EDGE_STATUS = m.EdgeStatus(
    site_id="north",
    state="online",
    software_version="1.4.0",
    config_version="3",
    started_at=T0,
    cameras=2,
    at=T0,
)


def test_camera_status_config_snapshot_and_stats_update_their_rows(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = m.CameraConfig(
        site_id="north",
        camera_id="gate",
        name="Main gate",
        version="3",
        zones=[m.ZoneSpec(id="floor", kind="helmet_required", points=[(0, 0), (1, 0), (1, 1)])],
        rules={"no_helmet": {"min_score": 0.5, "dwell_s": 2.0}},
        at=T0,
    )
    stats = m.EdgeStats(
        site_id="north",
        at=T0,
        interval_s=60.0,
        cameras=[],
        batches=120,
        batch_size_mean=1.5,
        inference_ms_p50=40.0,
        inference_ms_p95=80.0,
        frames_dropped_stale=2,
        outbox_depth=0,
        disk_hours_left=None,
    )
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        feed = console.listen()
        edge.send(m.camera_status(PREFIX, "north", "gate"), m.encode(camera_status("gate")))
        event = console.next_event(feed)
        assert (event.kind, event.data["camera_id"], event.data["state"]) == (
            "camera",
            "gate",
            "online",
        )
        edge.send(m.camera_status(PREFIX, "north", "gate"), m.encode(camera_status("gate")))
        edge.send(m.camera_config(PREFIX, "north", "gate"), m.encode(config))
        edge.send(m.camera_snapshot(PREFIX, "north", "gate"), JPEG, retain=True)
        edge.send(m.camera_snapshot(PREFIX, "north", "yard"), b"GIF89a not a jpeg")
        edge.send(m.stats(PREFIX, "north"), m.encode(stats))
        console.settle(edge.sent)
        gate = next(c for c in console.rows(Camera) if c.camera_id == "gate")
        assert (gate.state, gate.fps_in, gate.frames_dropped) == ("online", 12.5, 3)
        assert (gate.name, gate.config_version) == ("Main gate", "3")
        assert gate.zones == [config.zones[0].model_dump(mode="json")]
        assert gate.rules == {"no_helmet": {"min_score": 0.5, "dwell_s": 2.0}}
        snapshot = console.settings.evidence_dir / "_cameras" / "north" / "gate.jpg"
        assert gate.snapshot_path == str(snapshot.resolve()) and snapshot.read_bytes() == JPEG
        [site] = console.rows(Site)
        assert site.stats is not None and site.stats["batches"] == 120 and site.stats_at == T0
        [reject] = console.rows(IngestReject)
        assert "expected JPEG bytes" in reject.reason and reject.topic.endswith("yard/snapshot")
        assert not (snapshot.parent / "yard.jpg").exists()
        assert console.ingest.rejected == 1


def test_warnings_of_a_camera_and_an_edge_are_shown_until_a_status_without_them(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """The edge's standing warnings about a camera's settings and its own reach their rows and
    the live feed, code, params and English text; the next status without them clears them (an
    older edge's carries none); a warning that came as plain text is kept as code ``other``."""
    said = m.edge_warning("tile_look.small_frames", width=640, height=360, input_size=416)
    warned = camera_status("gate", seconds=1).model_copy(update={"warnings": [said]})
    fixed = camera_status("gate", seconds=2)
    topic = m.camera_status(PREFIX, "north", "gate")
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        feed = console.listen()
        edge.send(topic, m.encode(warned))
        event = console.next_event(feed)
        assert (event.kind, event.data["warnings"]) == ("camera", [said.model_dump()])
        [gate] = console.rows(Camera)
        assert gate.warnings == [said.model_dump()]
        assert said.params == {"width": "640", "height": "360", "input_size": "416"}
        flood = json.loads(m.encode(fixed)) | {"warnings": ["<script>x</script>" * 100] * 9}
        edge.send(topic, json.dumps(flood).encode())  # too many, too long: refused, kept
        console.settle(edge.sent)
        [gate] = console.rows(Camera)
        assert gate.warnings == [said.model_dump()] and console.ingest.rejected == 1
        [reject] = console.rows(IngestReject)
        assert "warnings" in reject.reason
        old_edge = json.loads(m.encode(fixed))
        del old_edge["warnings"]  # as an edge from before the field sends it
        edge.send(topic, json.dumps(old_edge).encode())
        event = console.next_event(feed)
        assert (event.kind, event.data["warnings"]) == ("camera", [])
        [gate] = console.rows(Camera)
        assert gate.warnings is None

        plain = "model m.onnx: an INT8 model without metadata int8_weight_bits 7 ..."
        topic = m.edge_status(PREFIX, "north")
        as_text = json.loads(m.encode(EDGE_STATUS)) | {"warnings": [plain]}  # an edge before codes
        edge.send(topic, json.dumps(as_text).encode())
        event = console.next_event(feed)
        model = {"code": "other", "params": {}, "text": plain}
        assert (event.kind, event.data["warnings"]) == ("site", [model])
        [site] = console.rows(Site)
        assert site.warnings == [model]
        later = EDGE_STATUS.model_copy(update={"at": T0 + timedelta(seconds=5)})
        edge.send(topic, m.encode(later))
        event = console.next_event(feed)
        assert (event.kind, event.data["warnings"]) == ("site", None)


def test_the_edge_status_gives_the_site_its_time_zone(tmp_path: Path, broker: Mosquitto) -> None:
    """The zone in the edge's status is stored and goes out live; an older edge's status
    without a zone keeps the one the site has."""
    shanghai = EDGE_STATUS.model_copy(update={"timezone": "Asia/Shanghai"})
    older = EDGE_STATUS.model_copy(update={"software_version": "1.3.0", "at": T0 + timedelta(1)})
    old_edge = json.loads(m.encode(older))
    del old_edge["timezone"]  # as an edge from before the field sends it
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        feed = console.listen()
        topic = m.edge_status(PREFIX, "north")
        edge.send(topic, m.encode(shanghai), retain=True)
        event = console.next_event(feed)
        assert (event.kind, event.data["id"], event.data["timezone"]) == (
            "site",
            "north",
            "Asia/Shanghai",
        )
        [site] = console.rows(Site)
        assert site.timezone == "Asia/Shanghai"
        edge.send(topic, json.dumps(old_edge).encode(), retain=True)
        console.settle(edge.sent)
        [site] = console.rows(Site)
        assert (site.software_version, site.timezone) == ("1.3.0", "Asia/Shanghai")


EDGE_PROCESS = dedent(
    """
    import sys, time
    from sitewatch.edge.publish.transport import MqttTransport, Will
    host, port, prefix, online, offline, *cameras = sys.argv[1:]
    topic = prefix + "/north/edge/status"
    will = Will(topic, offline.encode())
    edge = MqttTransport(host, int(port), client_id="edge-north", will=will)
    assert edge.wait_connected(10)
    assert edge.publish(topic, online.encode(), retain=True).wait(10)
    for camera in cameras:
        name, payload = camera.split("=", 1)
        status = prefix + f"/north/cameras/{name}/status"
        assert edge.publish(status, payload.encode(), retain=True).wait(10)
    print("online", flush=True)
    time.sleep(120)
    """
)


def test_a_killed_edge_takes_its_site_and_cameras_offline(
    tmp_path: Path, broker: Mosquitto
) -> None:
    online, offline = m.encode(EDGE_STATUS), m.encode(m.last_will(EDGE_STATUS))
    cameras = [f"{c}={m.encode(camera_status(c)).decode()}" for c in ("gate", "yard")]
    args = [HOST, str(broker.port), PREFIX, online.decode(), offline.decode(), *cameras]
    with live_console(tmp_path, broker) as console:
        edge = subprocess.Popen(
            [sys.executable, "-c", EDGE_PROCESS, *args], stdout=subprocess.PIPE, text=True
        )
        with edge:
            try:
                assert edge.stdout is not None and edge.stdout.readline().strip() == "online"
                console.settle(3)
                assert [s.edge_state for s in console.rows(Site)] == ["online"]
                assert {c.state for c in console.rows(Camera)} == {"online"}
                edge.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sends the will
                edge.wait(10)
            finally:
                edge.kill()
        console.settle(4)
        [site] = console.rows(Site)
        assert (site.edge_state, site.software_version) == ("offline", "1.4.0")
        assert site.last_seen_at is not None and site.last_seen_at > T0  # received, not `at`
        assert {c.camera_id: c.state for c in console.rows(Camera)} == {
            "gate": "offline",
            "yard": "offline",
        }
    # a restarted console reads the retained statuses again: the cameras' 'online' is old news
    with live_console(tmp_path, broker) as console:
        console.settle(3)
        assert {c.state for c in console.rows(Camera)} == {"offline"}
        with console.state.db.session() as s:
            assert {camera_out(s, c).state for c in s.query(Camera)} == {"offline"}


def test_what_the_edge_publishes_while_the_console_is_away_arrives_on_restart(
    tmp_path: Path, persistent_broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    with live_console(tmp_path, persistent_broker, client_id="console-north"):
        pass  # subscribed once: the broker now keeps a session for this client id
    with edge_of(persistent_broker) as edge:
        edge.alert(alert(aid, 0))
        edge.alert(alert(aid, 1))
    persistent_broker.stop()  # the queued messages survive a broker restart too
    persistent_broker.start()
    with edge_of(persistent_broker) as edge:
        edge.alert(alert(aid, 2, end=True))
    with live_console(tmp_path, persistent_broker, client_id="console-north") as console:
        console.settle(3)
        [row] = console.rows(Alert)
        assert (row.seq, row.event) == (2, "end")
        assert sorted(t.seq for t in console.rows(AlertEventRow)) == [0, 1, 2]


def test_ingest_reconnects_and_subscribes_again_after_a_broker_restart(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    with live_console(tmp_path, broker) as console:
        broker.stop()  # without persistence: the broker forgets the console's subscriptions
        deadline = time.monotonic() + 20
        while console.ingest.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not console.ingest.connected
        broker.start()
        assert console.ingest.wait_ready(30.0), "ingest did not reconnect and subscribe"
        with edge_of(broker) as edge:
            edge.alert(alert(aid, 0))
        console.settle(1)
        assert [a.id for a in console.rows(Alert)] == [str(aid)]
