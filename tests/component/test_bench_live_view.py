"""The live-view benches' own parts against real ones: bench/live_watch.py's signed commands
over a real mosquitto start the edge's real video desk streaming a real gst-rtsp-server camera
(real ffmpeg) to the bench's sink process, whose counts come back, and bench/live_rig.py finds
that stream's ffmpeg and threads in /proc. Nothing is timed; only that the bench measures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.live_rig import cpu_spent, live_cpu
from bench.live_view import delays
from bench.live_watch import LiveWatch
from sitewatch.contract import messages as m
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.edge.video_desk import VideoDesk
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401

SITE = "bench-site"
TOPIC = m.video_command(m.DEFAULT_PREFIX, SITE)


def until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.1)


@pytest.fixture
def watched(
    tmp_path: Path,
    broker: Mosquitto,
    rtsp_server: RtspServer,  # noqa: F811
) -> Iterator[tuple[LiveWatch, VideoDesk]]:
    key = Ed25519PrivateKey.generate()
    console = broker.transport()
    watch = LiveWatch(console, key)
    config = SiteConfig.model_validate(
        {
            "version": 1,
            "site": {"id": SITE, "name": "bench", "timezone": "UTC"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "detector": {"model": str(tmp_path / "model.onnx")},
            "evidence": {"dir": str(tmp_path / "evidence")},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "trust": {"console_public_key": watch.console_key},
            "cameras": [{"id": "cam1", "detect": rtsp_server.url("cam1")}],
        }
    )
    desk = VideoDesk(config, Ed25519PrivateKey.generate(), lambda c, s: [], tmp_path / "cuts")
    edge = broker.transport(subscriptions={TOPIC: desk.receive})
    assert edge.wait_connected(10.0) and console.wait_connected(10.0)
    until("the desk's subscription", lambda: _probe(console, desk), 10.0)
    try:
        yield watch, desk
    finally:
        desk.stop()
        edge.close()
        watch.close()
        console.close()


def _probe(console: MqttTransport, desk: VideoDesk) -> bool:
    console.publish(TOPIC, b"probe").wait(1.0)
    return desk.refused > 0


def test_the_watch_streams_a_camera_to_the_sink_and_its_cost_is_found(
    watched: tuple[LiveWatch, VideoDesk],
) -> None:
    watch, desk = watched
    watch.start(SITE, ["cam1"])
    until("the init part and a fragment at the sink", lambda: watch.stats()["parts"] >= 2, 30.0)
    before = watch.snapshot()
    until("two more fragments", lambda: watch.stats()["parts"] >= before[2]["parts"] + 2, 15.0)
    found = live_cpu()
    spent = LiveWatch.spent(before, watch.snapshot())
    assert {k.split(":")[0] for k in found} == {"ffmpeg", "thread"}, found
    assert sum(k.startswith("thread:") for k in found) == 2  # the reader and the sender
    assert spent["parts"] >= 2 and spent["upstream_kB_per_min"] > 0, spent
    assert spent["errors"] == []
    watch.stop()
    until("the edge's live stream to end", lambda: desk.live_count() == 0, 10.0)


def test_cpu_and_delay_arithmetic() -> None:
    # seconds: ffmpeg 7 started before, a thread started in between, one ended (lost)
    before = {"ffmpeg:7": 1.0, "thread:9": 0.5, "ffmpeg:3": 2.0}
    after = {"ffmpeg:7": 1.5, "thread:9": 0.75, "thread:11": 0.25}
    assert cpu_spent(before, after) == (0.5, 0.5)
    # console took parts at 10.0 and 12.0 (their first frames at the edge: 8.0, 10.0);
    # a viewer got them at 10.01 and 12.02; one at 20.0 matches nothing within 1 s
    parts = {10.0: 8.0, 12.0: 10.0}
    got = delays([10.01, 12.02, 20.0], parts)
    assert [(round(a, 2), round(b, 2)) for a, b in got] == [(2.01, 0.01), (2.02, 0.02)]
