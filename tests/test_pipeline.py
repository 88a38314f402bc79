"""Camera pipeline on literal detections: one alert, snapshots by time, hot zone changes."""

from __future__ import annotations

import numpy as np

from edge.config import CameraConfig, Zone
from edge.detections import Detections
from edge.pipeline import CameraPipeline

WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
CORNER = [(0.9, 0.9), (1.0, 0.9), (1.0, 1.0)]


def camera(points: list[tuple[float, float]]) -> CameraConfig:
    return CameraConfig(
        id="cam1",
        detect="rtsp://127.0.0.1:8554/cam1",
        detect_fps=2.0,
        zones=[Zone(id="floor", kind="helmet_required", points=points)],
    )


def bare_head(x: float) -> Detections:
    return Detections.from_lists([[x, 100, x + 40, 140]], [0.9], ["head"])


def run(pipe: CameraPipeline, start: float, seconds: float) -> list[str]:
    image = np.zeros((360, 640, 3), np.uint8)
    events = []
    for i in range(int(seconds * 2)):
        ts = start + i * 0.5
        events += [t.event for t in pipe.process(image, ts, bare_head(300 + i))]
    return events


def test_a_bare_head_in_the_zone_starts_one_alert() -> None:
    pipe = CameraPipeline(camera(WHOLE), "Asia/Shanghai")
    assert run(pipe, 1000.0, 5.0) == ["start"]
    frame = pipe.frame_at(1002.2)
    assert frame is not None and abs(frame.ts - 1002.0) < 0.26
    assert len(frame.detections) == 1


def test_moving_the_zone_away_stops_new_alerts_but_keeps_the_open_one() -> None:
    pipe = CameraPipeline(camera(CORNER), "Asia/Shanghai")
    assert run(pipe, 1000.0, 5.0) == []
    pipe.reconfigure(camera(WHOLE))
    assert run(pipe, 1005.0, 5.0) == ["start"]
    pipe.reconfigure(camera(CORNER))
    events = run(pipe, 1010.0, 10.0)
    assert events == ["end"]
