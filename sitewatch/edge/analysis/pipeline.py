"""Per-camera analysis after the detector: tracker → rules → alert state machine.

One ``CameraPipeline`` per camera holds that camera's tracker, rule engine, alert tracker and
a short history of analysed frames (so the evidence stage can snapshot the best frame of an
alert after it has been confirmed). Zones and rules are swapped in place by ``reconfigure``
when the console changes them; tracks and open alerts survive the change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from sitewatch.edge.analysis.alerts import AlertTracker, AlertTransition
from sitewatch.edge.analysis.rules import RuleEngine
from sitewatch.edge.analysis.tracker import Tracker
from sitewatch.edge.config.schema import CameraSettings
from sitewatch.edge.detections import AnalysedFrame

HISTORY_S = 30.0
"""Seconds of analysed frames kept for snapshots; longer than any dwell plus update period."""


class CameraPipeline:
    def __init__(self, camera: CameraSettings, tz: str) -> None:
        self.camera_id = camera.id
        self._tz = tz
        self.tracker = Tracker()
        self.rules = RuleEngine(camera.zones, camera.rules, tz, 1.0 / camera.detect_fps)
        self.alerts = AlertTracker(camera.id, camera.rules)
        self.zones = list(camera.zones)
        self._history: deque[AnalysedFrame] = deque()

    def process(self, frame: AnalysedFrame) -> list[AlertTransition]:
        """Track, apply the rules and advance the alerts for one analysed frame."""
        ts, image = frame.ts, frame.image
        tracked = self.tracker.update(frame.detections, ts)
        self._remember(replace(frame, detections=tracked))
        observations = self.rules.update(tracked, ts, (image.shape[0], image.shape[1]))
        return self.alerts.update(observations, ts)

    def tick(self, ts: float) -> list[AlertTransition]:
        """Advance alert timers without a frame (camera offline: open alerts still end)."""
        return self.alerts.update([], ts)

    def close_all(self, ts: float) -> list[AlertTransition]:
        return self.alerts.close_all(ts)

    def reconfigure(self, camera: CameraSettings) -> None:
        """New zones/rules from the console; the tracker and open alerts carry on."""
        self.rules = RuleEngine(camera.zones, camera.rules, self._tz, 1.0 / camera.detect_fps)
        self.alerts.rules = camera.rules
        self.zones = list(camera.zones)

    def frame_at(self, ts: float) -> AnalysedFrame | None:
        """The remembered analysed frame closest to ``ts``."""
        if not self._history:
            return None
        return min(self._history, key=lambda f: abs(f.ts - ts))

    def _remember(self, frame: AnalysedFrame) -> None:
        self._history.append(frame)
        while self._history and frame.ts - self._history[0].ts > HISTORY_S:
            self._history.popleft()
