"""Camera pipeline on literal detections: one alert, snapshots by time, hot zone changes."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.edge.analysis.pipeline import CameraPipeline
from sitewatch.edge.config.schema import CameraSettings, Zone
from sitewatch.edge.detections import AnalysedFrame, Detections

WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
CORNER = [(0.9, 0.9), (1.0, 0.9), (1.0, 1.0)]


def camera(points: list[tuple[float, float]]) -> CameraSettings:
    return CameraSettings(
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
        events += [t.event for t in pipe.process(AnalysedFrame(ts, image, bare_head(300 + i)))]
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


def test_an_alert_starts_with_its_strongest_frame_not_the_confirming_one() -> None:
    """The QA's "head 0.00" alert: confirmed by the median over the dwell window at a frame
    where the head looked covered (margin 0), it must carry the best frame's score and box."""
    pipe = CameraPipeline(camera(WHOLE), "Asia/Shanghai")
    image = np.zeros((360, 640, 3), np.uint8)
    scores = [0.6, 0.95, 0.7, 0.8, None]  # None: at the confirming frame it looks covered
    starts = []
    for i, score in enumerate(scores):
        x = 300 + 4 * i
        if score is None:
            dets = Detections.from_lists([[x, 100, x + 40, 140]], [0.7], ["helmet"])
        else:
            dets = Detections.from_lists([[x, 100, x + 40, 140]], [score], ["head"])
        starts += [
            t
            for t in pipe.process(AnalysedFrame(1000.0 + 0.5 * i, image, dets))
            if t.event == "start"
        ]
    assert len(starts) == 1, starts
    start = starts[0]
    assert start.started_at == 1002.0, "confirmed at the covered-looking frame"
    assert start.score == pytest.approx(0.95) and start.best_ts == 1000.5
    assert start.box == (304.0, 100.0, 344.0, 140.0) and start.label == "head"
    snapshot = pipe.frame_at(start.best_ts)
    assert snapshot is not None and snapshot.ts == 1000.5
