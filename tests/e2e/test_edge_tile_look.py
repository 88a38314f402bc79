"""The tile look on the edge, with nothing standing in: a real edge worker (mosquitto, the real
model, gst-rtsp-server) analyses a wide camera's 1920x1080 main stream twice, as two cameras on
the same mount: ``cam-tiles`` with ``tile_look: true``, ``cam-plain`` without. The frame is the
``wide1080`` frame with the most labelled bare heads (val photos pasted small into a 1080p
scene, bench/realistic_set.py), encoded as H.264 like a camera's; the camera with the tile look
finds far more of its bare heads, in frame pixels of the main stream. A third camera with the
tile look on a 640x360 sub-stream (too small for tiles) gets a warning saying what to do, in the
edge's log and in its retained status (which the console shows on the camera).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detections import Detections
from sitewatch.tools.dataset import read_labels
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.e2e_support import (
    Collector,
    InProcessWorker,
    camera,
    camera_states,
    poll,
    write_config,
)
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, _check_gstreamer

pytestmark = pytest.mark.slow

MORE = 15
"""Bare heads the tiled camera finds beyond the plain one, at least (of the frame's 27: 0 without
the tile look, 23-24 with it, two runs with the 7-bit model, 2026-12-07: bench/RESULTS.md, "The
tile look on the edge")."""


def _crowded_frame(folder: Path) -> tuple[Path, np.ndarray]:
    """The ``wide1080`` frame with the most labelled bare heads (chosen by the labels alone),
    and those heads' boxes in its pixels."""
    from bench.realistic_set import ROOT, build

    wide = build("wide1080", ROOT / "build" / "realistic")
    best: tuple[int, str, Path, np.ndarray] | None = None
    for path in sorted((wide / "images" / "val").iterdir()):
        ids, boxes = read_labels(wide / "labels" / "val" / f"{path.stem}.txt", 1920, 1080)
        key = (int((ids == 1).sum()), path.name, path, boxes[ids == 1])
        if best is None or key[0] > best[0]:
            best = key
    assert best is not None
    clip = folder / "wide-main.mp4"
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-loop", "1",
        "-i", str(best[2]), "-t", "4", "-r", "5", "-c:v", "libx264", "-preset", "veryfast",
        "-crf", "23", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "5", str(clip),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return clip, best[3]


@pytest.fixture(name="worker")
def worker_fixture(tmp_path: Path) -> Iterator[tuple[InProcessWorker, np.ndarray, Collector]]:
    _check_gstreamer()
    clip, heads = _crowded_frame(tmp_path)
    broker = Mosquitto(tmp_path / "mosquitto")
    rtsp = RtspServer({"wide": clip, "sub": compose_clip(BARE_HEAD, 24.0, (6.0, 15.0))})
    broker.start()
    try:
        rtsp.start()
        cams = [
            camera("cam-tiles", rtsp.url("wide"), [], detect_fps=0.5, tile_look=True),
            camera("cam-plain", rtsp.url("wide"), [], detect_fps=0.5),
            camera("cam-sub", rtsp.url("sub"), [], detect_fps=0.5, tile_look=True),
        ]
        collector = Collector(broker.port)
        run = InProcessWorker(write_config(tmp_path, broker.port, cams))
        try:
            yield run, heads, collector
        finally:
            run.stop()
            collector.close()
    finally:
        rtsp.close()
        broker.stop()


def _bare_found(dets: Detections, heads: np.ndarray) -> int:
    boxes = dets[dets.scores >= 0.3].with_label("head").xyxy
    return int((box_iou(heads, boxes) >= 0.5).any(axis=1).sum()) if len(boxes) else 0


def test_a_camera_with_the_tile_look_finds_more_bare_heads_of_its_main_stream(
    worker: tuple[InProcessWorker, np.ndarray, Collector], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sitewatch.edge.worker")
    run, heads, collector = worker
    slots = {c: run.worker.batcher.looks(c) for c in run.worker.cameras}
    looks = {c: s.tile_look for c, s in slots.items() if s}
    assert looks == {"cam-tiles": True, "cam-plain": False, "cam-sub": True}
    pipelines = {c: run.worker.cameras[c].pipeline for c in ("cam-tiles", "cam-plain")}
    poll(
        "an analysed frame of each wide camera",
        lambda: all(p.frame_at(time.time()) is not None for p in pipelines.values()),
        120,
    )
    found = {}
    for cam, pipeline in pipelines.items():
        frame = pipeline.frame_at(time.time())
        assert frame is not None and frame.image.shape == (1080, 1920, 3)  # the main stream
        found[cam] = _bare_found(frame.detections, heads)
    assert found["cam-tiles"] >= found["cam-plain"] + MORE, (len(heads), found)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "tile_look is on" in r.getMessage()]

    poll("the warning about cam-sub's small frames", lambda: bool(warnings()), 30)
    time.sleep(2.0)  # cam-sub analyses a frame every 2 s: a second warning would be here by now
    warned = warnings()
    assert len(warned) == 1 and warned[0].startswith("camera cam-sub: "), warned
    assert "640x360" in warned[0] and "main stream" in warned[0]
    collector.wait(
        "cam-sub's status with the warning",
        lambda got: any(s.warnings for s in camera_states(got, "cam-sub")),
        30,
    )
    got = collector.snapshot()
    shown = next(s.warnings for s in camera_states(got, "cam-sub") if s.warnings)
    assert [w.text for w in shown] == [warned[0].removeprefix("camera cam-sub: ")]
    size = {"width": "640", "height": "360", "input_size": "416"}
    assert [(w.code, w.params) for w in shown] == [("tile_look.small_frames", size)]
    assert not any(s.warnings for c in ("cam-tiles", "cam-plain") for s in camera_states(got, c))
