"""Detector watchdog: a hung detector session stops the worker with a clear error.

A hung ONNX Runtime session (a driver or hardware fault) cannot be produced for real, so this
test alone replaces ``Detector.detect`` with a call that blocks until the test ends: a FAKE
for that one fault. Everything else is real: mosquitto, a gst-rtsp-server camera, the real
model loaded by the worker, ffmpeg recording.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from sitewatch.edge.detect.letterbox import UInt8Array as Image
from sitewatch.edge.detections import Detections
from sitewatch.edge.worker import DetectorStalled, EdgeWorker
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.e2e_support import Collector, camera, edge_states, write_config
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, _check_gstreamer

pytestmark = pytest.mark.slow
STALL_S = 5.0


def test_a_hung_detector_stops_the_worker_with_the_reason(tmp_path: Path) -> None:
    _check_gstreamer()
    release = threading.Event()
    calls: list[int] = []

    def hang(
        frames: Sequence[Image],
        look: Sequence[bool],
        sizes: Sequence[int | None],
        heads: Sequence[bool],
        coarse: Sequence[bool],
        tiles: Sequence[bool],
    ) -> list[Detections]:
        calls.append(len(frames))
        release.wait(120)  # the fault: the session never returns (until the test ends)
        raise RuntimeError("released by the test")

    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    server = RtspServer({"bare": compose_clip(BARE_HEAD, 8.0, (2.0, 6.0))})
    server.start()
    collector: Collector | None = None
    try:
        config = write_config(tmp_path, broker.port, [camera("cam-a", server.url("bare"), [])])
        data = yaml.safe_load(config.read_text())
        data["detector"]["stall_s"] = STALL_S
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        collector = Collector(broker.port)
        worker = EdgeWorker(config)
        for detector in worker.detectors:
            setattr(detector, "detect", hang)  # noqa: B010  (the fake, see the docstring)
        worker.start()
        began = time.monotonic()
        with pytest.raises(DetectorStalled) as raised:
            worker.main_loop()
        took = time.monotonic() - began
        worker.shutdown()
        message = str(raised.value)
        assert calls, "the camera's frames reached the detector"
        assert "hung" in message and "detector.stall_s is 5 s" in message, message
        assert "supervisor" in message, "it says what happens next"
        assert STALL_S < took < STALL_S + 15, f"stopped {took:.1f} s after start"
        collector.wait(
            "the edge's offline status",
            lambda ms: bool(edge_states(ms)) and edge_states(ms)[-1].state == "offline",
            10,
        )
    finally:
        release.set()
        if collector is not None:
            collector.close()
        server.close()
        broker.stop()
