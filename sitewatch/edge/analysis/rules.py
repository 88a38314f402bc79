"""Per-camera rules: tracked detections in, per-track observations out (no alerts here).

Each rule keeps a short history per track and confirms a violation by the median of a
per-frame score over a sliding window. A violation *begins* at the track's first frame, in an
applicable zone, whose score reaches ``min_score``; it is *confirmed* once it has lasted
``dwell_s`` (read on the analysis grid: within ``frame_period_s / 2``) over at least
:data:`MIN_FRAMES` frames and the lower median of the score over the last
``max(dwell_s, MIN_WINDOW_S)`` seconds reaches ``min_score``; it *ends* when the track leaves
the zone or a whole window passes with no frame at ``min_score``. Times in seconds.

What each rule watches is its ``Rule`` in ``analysis.registry``; this engine runs every rule of
``registry.RULES``, in that order. A rule outside its ``active_hours`` (site time) or not
``enabled`` produces nothing and forgets its history. One :class:`Observation` per track, rule
and frame while the track's anchor is in an applicable zone (``violating`` once confirmed).
Why the median, the first sighting and the grid: docs/design/rules.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import numpy as np

from sitewatch.contract.messages import RuleName
from sitewatch.core.geometry import Box, FloatArray
from sitewatch.edge.analysis.registry import RULES
from sitewatch.edge.analysis.zones import CameraZones, check_zones
from sitewatch.edge.config.schema import RuleConfig, Rules, TimeWindow, Zone
from sitewatch.edge.detections import Detections

_NO_BOX: Box = (0.0, 0.0, 0.0, 0.0)

MIN_FRAMES = 3
"""Frames a violation must be seen on (besides lasting ``dwell_s``) before it is confirmed."""
MIN_WINDOW_S = 1.0
"""Shortest sliding window for the median, so a zero dwell still smooths over frames."""
FORGET_AFTER_S = 30.0
"""History of a track not seen for this long is dropped (the tracker never reuses ids)."""


@dataclass(frozen=True)
class Observation:
    """What one rule concluded about one track in one frame."""

    rule: RuleName
    track_id: int
    zone_id: str
    violating: bool
    score: float  # this frame's evidence: bare-head margin or cigarette score
    box: Box  # the tracked object's box (head or person), xyxy pixels
    box_norm: Box  # the same box normalised 0..1 by the frame size
    label: str  # label of ``box``
    ts: float
    peak: Observation | None = None
    """The best frame of the current violation so far (highest score at ``min_score``): what an
    alert starts with, so its score, box and snapshot are its strongest evidence, not the
    frame that happened to confirm it (which may score 0 after a median over the window)."""

    def located(self, xyxy: FloatArray, label: str, frame_hw: tuple[int, int]) -> Observation:
        """A copy with ``box``, ``box_norm`` and ``label`` set from a pixel box."""
        h, w = frame_hw
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        norm = (x1 / w, y1 / h, x2 / w, y2 / h)
        return replace(self, box=(x1, y1, x2, y2), box_norm=norm, label=label)


@dataclass
class _History:
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    since: float | None = None  # when the current violation began (a frame at min_score)
    frames: int = 0  # frames since then
    last_ts: float = 0.0
    peak: Observation | None = None  # best frame since ``since``

    def step(
        self, ts: float, score: float, in_zone: bool, cfg: RuleConfig, slack_s: float = 0.0
    ) -> bool:
        """Add a frame; True when the violation is confirmed at ``ts`` (the dwell counts as
        lasted ``slack_s`` early)."""
        self.last_ts = ts
        self.samples.append((ts, score))
        window = max(cfg.dwell_s, MIN_WINDOW_S)
        while self.samples and self.samples[0][0] < ts - window:
            self.samples.popleft()
        if not in_zone:
            self.since, self.frames, self.peak = None, 0, None
            return False
        over = score > 0.0 and score >= cfg.min_score
        if self.since is None:
            if not over:
                return False
            self.since, self.frames, self.peak = ts, 0, None
        elif not any(s > 0.0 and s >= cfg.min_score for _, s in self.samples):
            self.since, self.frames, self.peak = None, 0, None  # a whole window without
            return False
        self.frames += 1
        if ts - self.since < cfg.dwell_s - slack_s or self.frames < MIN_FRAMES:
            return False
        scores = np.fromiter((s for _, s in self.samples), dtype=np.float64)
        smoothed = float(np.quantile(scores, 0.5, method="lower"))
        return smoothed > 0.0 and smoothed >= cfg.min_score


def in_windows(windows: Sequence[TimeWindow] | None, ts: float, tz: tzinfo) -> bool:
    """Whether epoch time ``ts`` falls in one of the daily ``windows`` (None = always)."""
    if windows is None:
        return True
    local = datetime.fromtimestamp(ts, tz)
    now = local.hour * 60 + local.minute + local.second / 60
    for window in windows:
        start, end = _minutes(window.start), _minutes(window.end)
        if start <= now < end if start < end else now >= start or now < end:
            return True
    return False


class RuleEngine:
    """The rules of one camera; ``update`` once per processed frame, in time order."""

    def __init__(
        self, zones: Sequence[Zone], rules: Rules, tz: str | tzinfo, frame_period_s: float = 0.0
    ) -> None:
        """``frame_period_s``: the camera's analysis interval (1 / detect fps); 0 = the dwell
        is read exactly (see the module docstring)."""
        check_zones(zones)
        self.zones, self.rules = list(zones), rules
        self.slack_s = max(frame_period_s, 0.0) / 2
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._pixel_zones: dict[tuple[int, int], CameraZones] = {}
        self._history: dict[RuleName, dict[int, _History]] = {name: {} for name in RULES}

    def update(self, dets: Detections, ts: float, frame_hw: tuple[int, int]) -> list[Observation]:
        """Observations for tracked ``dets`` of the frame taken at epoch time ``ts``."""
        zones = self._pixel_zones.get(frame_hw)
        if zones is None:
            zones = self._pixel_zones[frame_hw] = CameraZones(self.zones, frame_hw)
        out: list[Observation] = []
        for name, rule in RULES.items():
            cfg = rule.config(self.rules)
            history = self._history[name]
            if not (cfg.enabled and in_windows(cfg.active_hours, ts, self.tz)):
                history.clear()
                continue
            for seen in rule.observe(dets, zones):
                where = (seen.box, seen.label, zones)
                obs = self._step(name, seen.track_id, seen.score, seen.zone_id, cfg, ts, where)
                if obs is not None:
                    out.append(obs)
            for tid in [t for t, h in history.items() if ts - h.last_ts > FORGET_AFTER_S]:
                del history[tid]
        return out

    def _step(
        self,
        rule: RuleName,
        tid: int,
        score: float,
        zone_id: str | None,
        cfg: RuleConfig,
        ts: float,
        where: tuple[FloatArray, str, CameraZones],
    ) -> Observation | None:
        """Advance the track's history; its observation (``where``: box, label) in a zone."""
        history = self._history[rule].setdefault(tid, _History())
        violating = history.step(ts, score, zone_id is not None, cfg, self.slack_s)
        if zone_id is None:
            return None
        box, label, zones = where
        obs = Observation(rule, tid, zone_id, violating, score, _NO_BOX, _NO_BOX, "", ts)
        obs = obs.located(box, label, zones.frame_hw)
        peak = history.peak
        strong = history.since is not None and score >= cfg.min_score and score > 0.0
        if strong and (peak is None or score > peak.score):
            history.peak = peak = obs
        return replace(obs, peak=peak)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
