"""End to end, each test with its own edge worker: SIGTERM, broker loss, a site without video,
and a config the edge refuses. Real mosquitto, RTSP server, model and ffmpeg, as in
test_edge_e2e.py; the composed clip (tests/support/compose.py) shows a bare-headed man from 6 s to
15 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitewatch.contract import messages as m
from sitewatch.contract.signing import fingerprint, public_key_text
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.e2e_support import (
    PREFIX,
    SITE,
    Collector,
    EdgeProcess,
    InProcessWorker,
    Received,
    alerts,
    camera,
    camera_states,
    check_evidence_first,
    config_command,
    dedupe,
    edge_public_key,
    edge_states,
    poll,
    processes_mentioning,
    signed_by,
    write_config,
    zone,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture, persistent_broker_fixture  # noqa: F401
from tests.support.rtsp_server import RtspServer, _check_gstreamer

pytestmark = pytest.mark.slow

HEAD_ZONE = [[0.3, 0.0], [0.8, 0.0], [0.8, 0.6], [0.3, 0.6]]
POST_ROLL_S = 4.0
END_AFTER_S = (
    5.0  # sitewatch.edge.analysis.alerts.AlertTracker: no violation for this long ends an alert
)


@pytest.fixture
def camera_server() -> Iterator[RtspServer]:
    _check_gstreamer()
    server = RtspServer({"bare": compose_clip(BARE_HEAD, 24.0, (6.0, 15.0))})
    server.start()
    yield server
    server.close()


def head_camera(server: RtspServer) -> list[dict[str, object]]:
    return [camera("cam-head", server.url("bare"), [zone("work", "helmet_required", HEAD_ZONE)])]


def started(msgs: list[Received]) -> bool:
    return any(a.event == "start" for a in alerts(msgs))


def test_sigterm_ends_open_alerts_flushes_and_goes_offline(
    broker: Mosquitto, camera_server: RtspServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, broker.port, head_camera(camera_server))
    col = Collector(broker.port)
    edge = EdgeProcess(config)
    try:
        col.wait("an alert start", started, 60)
        code, took = edge.terminate(timeout_s=POST_ROLL_S + 30)  # the clip is still cut
        assert code == 0, edge.tail()
        received = col.snapshot()
    finally:
        edge.close()
        col.close()
    by_id = dedupe(alerts(received))
    assert len(by_id) == 1, list(by_id)
    ((alert_id, events),) = by_id.items()
    assert events[-1].event == "end", f"the open alert ended at exit: {[e.event for e in events]}"
    assert "clip" in {f.kind for f in events[-1].evidence}, "the clip in progress was finished"
    check_evidence_first(received, alert_id)
    assert edge_states(received)[-1].state == "offline"
    late = Collector(broker.port)
    try:
        late.wait("the retained edge status", lambda msgs: bool(edge_states(msgs)), 10)
        retained = [r for r in late.snapshot() if r.topic == m.edge_status(PREFIX, SITE)]
        assert retained[0].retain and edge_states(retained)[0].state == "offline"
    finally:
        late.close()
    assert took < POST_ROLL_S + 30
    assert processes_mentioning(str(tmp_path / "var" / "ring")) == [], "no recorder left behind"
    # the edge made its key on this first start, logged its public key, and signed everything
    key = edge_public_key(config)
    assert config.with_name("edge.key").stat().st_mode & 0o777 == 0o600
    logged = [line for line in edge.log.read_text().splitlines() if "public key" in line]
    assert len(logged) == 1 and public_key_text(key) in logged[0]
    assert fingerprint(key) in logged[0] and "(new)" in logged[0]
    assert signed_by(key, received) == []


def test_alert_raised_while_the_broker_is_away_arrives_once(
    persistent_broker: Mosquitto, camera_server: RtspServer, tmp_path: Path
) -> None:
    broker = persistent_broker
    config = write_config(tmp_path, broker.port, head_camera(camera_server))
    col = Collector(broker.port, persistent=True)  # its session and queue survive the restart
    edge = EdgeProcess(config)
    try:
        col.wait("the edge online", lambda msgs: bool(edge_states(msgs)), 30)
        broker.stop()
        snapshots = tmp_path / "var" / SITE
        poll("an alert with the broker away", lambda: any(snapshots.rglob("*_snapshot.jpg")), 60)
        assert alerts(col.snapshot()) == []
        time.sleep(1.0)
        broker.start()
        col.wait("the alert's end", lambda ms: any(a.event == "end" for a in alerts(ms)), 60)
        code, _ = edge.terminate(timeout_s=POST_ROLL_S + 30)
        assert code == 0, edge.tail()
        time.sleep(0.5)
        received = col.snapshot()
    finally:
        edge.close()
        col.close()
    raw = alerts(received)
    by_id = dedupe(raw)
    assert len(by_id) == 1, f"one alert, not a second id after the reconnect: {list(by_id)}"
    ((alert_id, events),) = by_id.items()
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.event for e in events].count("start") == 1 and events[-1].event == "end"
    kinds = {f.kind for f in events[-1].evidence}
    assert kinds == {"snapshot", "snapshot_clean", "clip", "still", "still_annotated"}
    check_evidence_first(received, alert_id)
    repeats = len(raw) - len(events)
    assert repeats <= 2, f"{repeats} repeated (id, seq): at-least-once, but not a flood"


def test_site_whose_only_camera_goes_down_still_ends_its_alert_and_takes_commands(
    broker: Mosquitto, camera_server: RtspServer, tmp_path: Path
) -> None:
    """The camera dies right after an alert starts, before its clip could be recorded: the
    main loop carries on without video (config commands, alert timers), and at exit the end
    that waited for the clip goes without it instead of being lost."""
    config = write_config(tmp_path, broker.port, head_camera(camera_server))
    col = Collector(broker.port)
    run = InProcessWorker(config)
    stopping = float("inf")
    try:
        col.wait("an alert start", started, 60)
        camera_server.stop()
        lost = time.time()
        col.wait(
            "cam-head not online",
            lambda ms: (
                bool(camera_states(ms, "cam-head"))
                and camera_states(ms, "cam-head")[-1].state != "online"
            ),
            15,
        )
        cmd = config_command("cam-head", "1", [zone("work", "helmet_required", HEAD_ZONE[::-1])])
        col.publish(m.config_command(PREFIX, SITE), m.encode(cmd))
        col.wait("the config result", lambda ms: bool(results(ms)), 15)
        assert results(col.snapshot())[0].status == "applied"
        poll("the alert timer", lambda: time.time() > lost + END_AFTER_S + 1.0, 10)
        sent = [a.event for a in alerts(col.snapshot())]
        assert sent == ["start", "update"], f"start, snapshots; the end waits for the clip: {sent}"
        stopping = time.time()
    finally:
        run.stop()
        col.close()
    events = list(dedupe(alerts(col.snapshot())).values())
    assert len(events) == 1 and events[0][-1].event == "end"
    end = events[0][-1]
    assert end.ended_at is not None and end.ended_at.timestamp() < stopping, (
        "ended by its timer while the camera was down, not by the shutdown"
    )
    assert {f.kind for f in end.evidence} == {"snapshot", "snapshot_clean"}, "no clip to give"


def results(received: list[Received]) -> list[m.ConfigResult]:
    return [
        m.decode(r.payload, m.ConfigResult)
        for r in received
        if r.topic == m.config_result(PREFIX, SITE)
    ]


BAD = """\
version: 1
site: {id: Bad Site, name: x}
mqtt: {host: 127.0.0.1, port: 1883}
detector: {model: missing.onnx}
evidence: {dir: var}
outbox: {path: var/outbox.sqlite}
cameras:
  - id: cam-1
    detect: rtsp://127.0.0.1:8554/a
    zones:
      - {id: z, kind: helmet_requierd, points: [[0, 0], [1, 0], [1, 1]]}
    colour: red
"""


def test_bad_config_refuses_to_start_listing_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    exe = Path(sys.executable).with_name("sitewatch")
    done = subprocess.run(
        [str(exe), "edge", "--config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    err = done.stderr
    assert f"{bad}:2:" in err and "site.id" in err  # the YAML line and the key path
    assert f"{bad}:11:" in err and "kind" in err
    assert f"{bad}:12:" in err and "colour" in err
    assert "refusing to start" in err and "3 problem(s)" in err
