"""Per-camera rules: tracked detections in, per-track observations out (no alerts here).

Each rule keeps a short history per track (the tracker gives a track its id at its first
sighting, so the history starts there) and confirms a violation the way Frigate confirms an
object, by the median of a per-frame score over a sliding window, once it has lasted the
rule's ``dwell_s``:

- a violation *begins* at the first frame of the track, in an applicable zone, whose score
  reaches ``min_score`` (for a head that is bare from the start: its first sighting);
- it is *confirmed* once it has lasted ``dwell_s`` from there over at least
  :data:`MIN_FRAMES` frames, and the lower median of the score over the last
  ``max(dwell_s, MIN_WINDOW_S)`` seconds reaches ``min_score`` (most recent frames look bare).
  "Lasted" is read on the camera's analysis grid: within half a frame interval
  (``frame_period_s / 2``), so that a frame taken a little early (frames are picked from a
  25 fps stream when due, and the pick's delay varies with load) does not push the alert a
  whole interval later: at 2 fps and a 2 s dwell, the frame due at 2.0 s confirms even if it
  was taken at 1.8 s, and the one at 1.5 s never does;
- it *ends* (and a later one begins anew) when the track leaves the zone, or when a whole
  window passes without a frame at ``min_score`` (the helmet is back on).

A head whose score hovers around ``min_score`` therefore confirms as soon as most of its last
window is over it, rather than restarting its dwell whenever the median dips below for a
frame; a head over it in only a minority of frames never confirms.

- ``no_helmet``: per ``head``/``helmet`` track and frame, the bare-head score is
  ``max(0, best head score - best helmet score)`` of that track's boxes (the tracker gives a
  head found as both labels in one frame one id, so an unsure frame scores near 0). A head
  must look bare in more than half of its recent frames, so a head that flickers
  head/helmet/head still counts and one that is mostly helmet does not.
  The anchor (``RULE_ANCHORS["no_helmet"]``, head centre) must lie in a ``helmet_required``
  zone and in no ``mask``.
- ``smoking``: each cigarette whose centre lies in a person's head-and-hands region (the top
  :data:`HANDS_TOP` of the person box, widened :data:`HANDS_WIDEN` times, plus a margin above)
  is attached to the one person whose head point is nearest; the per-frame score of a person
  track is its best attached cigarette (0 without). The person's feet must lie in a
  ``no_smoking`` zone, in no ``smoking_area`` and in no ``mask``; cigarettes inside a mask are
  dropped. A cigarette nearest to an untracked (not yet confirmed) person counts for nobody
  rather than for a tracked neighbour.

A rule outside its ``active_hours`` (site time; a window whose end is before its start crosses
midnight; an empty list is never) or not ``enabled`` produces nothing and forgets its history,
so its dwell restarts when it becomes active again.

One :class:`Observation` per track, rule and frame while the track's anchor is in an
applicable zone: ``violating`` once confirmed. Tracks outside every applicable zone produce
none; the alert stage ends an alert when its observations stop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from sitewatch.contract.messages import RuleName, ZoneKind
from sitewatch.edge.analysis.zones import RULE_ANCHORS, CameraZones, anchor_points, check_zones
from sitewatch.edge.config.schema import RuleConfig, Rules, TimeWindow, Zone
from sitewatch.edge.detections import Detections

Box = tuple[float, float, float, float]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
_NO_BOX: Box = (0.0, 0.0, 0.0, 0.0)

MIN_FRAMES = 3
"""Frames a violation must be seen on (besides lasting ``dwell_s``) before it is confirmed."""
MIN_WINDOW_S = 1.0
"""Shortest sliding window for the median, so a zero dwell still smooths over frames."""
FORGET_AFTER_S = 30.0
"""History of a track not seen for this long is dropped (the tracker never reuses ids)."""
HANDS_TOP = 0.6
"""Share of a person box, from its top, that holds the head, the mouth and a raised hand."""
HANDS_WIDEN = 1.6
"""Width factor of the head-and-hands region, for a hand held out to the side."""
HANDS_ABOVE = 0.05
"""Margin above the person box, as a share of its height, for a cigarette at the lips."""
HEAD_POINT = 0.1
"""Where a person's head is assumed, as a share of the box height from its top."""


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
        self._history: dict[RuleName, dict[int, _History]] = {"no_helmet": {}, "smoking": {}}

    def update(self, dets: Detections, ts: float, frame_hw: tuple[int, int]) -> list[Observation]:
        """Observations for tracked ``dets`` of the frame taken at epoch time ``ts``."""
        zones = self._pixel_zones.get(frame_hw)
        if zones is None:
            zones = self._pixel_zones[frame_hw] = CameraZones(self.zones, frame_hw)
        out: list[Observation] = []
        checks: tuple[tuple[RuleName, RuleConfig], ...] = (
            ("no_helmet", self.rules.no_helmet),
            ("smoking", self.rules.smoking),
        )
        for name, cfg in checks:
            if not (cfg.enabled and in_windows(cfg.active_hours, ts, self.tz)):
                self._history[name].clear()
                continue
            step = self._no_helmet if name == "no_helmet" else self._smoking
            out.extend(step(dets, ts, zones, cfg))
            history = self._history[name]
            for tid in [t for t, h in history.items() if ts - h.last_ts > FORGET_AFTER_S]:
                del history[tid]
        return out

    def _no_helmet(
        self, dets: Detections, ts: float, zones: CameraZones, cfg: RuleConfig
    ) -> list[Observation]:
        tracked = dets.with_label(*(n for n in ("head", "helmet") if n in dets.labels))
        tracked = tracked[tracked.track_ids >= 0]
        out: list[Observation] = []
        for tid in np.unique(tracked.track_ids).tolist():
            mine = tracked[tracked.track_ids == tid]
            is_head = np.asarray([n == "head" for n in mine.label_names()], dtype=bool)
            head = float(mine.scores[is_head].max(initial=0.0))
            helmet = float(mine.scores[~is_head].max(initial=0.0))
            best = int(np.lexsort((mine.scores, is_head))[-1])  # best head box, else best helmet
            box = mine.xyxy[best]
            point = anchor_points(box, RULE_ANCHORS["no_helmet"])
            zone_id = _zone_at(zones, point, "helmet_required", ("mask",))
            label = mine.labels[int(mine.class_ids[best])]
            margin = max(0.0, head - helmet)
            obs = self._step("no_helmet", tid, margin, zone_id, cfg, ts, (box, label, zones))
            if obs is not None:
                out.append(obs)
        return out

    def _smoking(
        self, dets: Detections, ts: float, zones: CameraZones, cfg: RuleConfig
    ) -> list[Observation]:
        if "person" not in dets.labels or "cigarette" not in dets.labels:
            return []
        people = dets.with_label("person")
        cigs = dets.with_label("cigarette")
        cigs = cigs[~zones.masked(anchor_points(cigs.xyxy, "centre"))]
        holder = attach_cigarettes(people.xyxy, cigs.xyxy)
        out: list[Observation] = []
        for p, tid in enumerate(people.track_ids.tolist()):
            if tid < 0:
                continue
            score = float(cigs.scores[holder == p].max(initial=0.0))
            point = anchor_points(people.xyxy[p], RULE_ANCHORS["smoking"])
            zone_id = _zone_at(zones, point, "no_smoking", ("mask", "smoking_area"))
            where = (people.xyxy[p], "person", zones)
            obs = self._step("smoking", tid, score, zone_id, cfg, ts, where)
            if obs is not None:
                out.append(obs)
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


def attach_cigarettes(people_xyxy: npt.ArrayLike, cig_xyxy: npt.ArrayLike) -> IntArray:
    """Per cigarette, the index of the person holding it, or -1 (see the module docstring)."""
    people = np.asarray(people_xyxy, dtype=np.float64).reshape(-1, 4)
    cigs = np.asarray(cig_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(people) == 0 or len(cigs) == 0:
        return np.full(len(cigs), -1, dtype=np.int64)
    x1, y1, x2, y2 = (people[:, i] for i in range(4))
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    px = ((cigs[:, 0] + cigs[:, 2]) / 2)[:, None]  # (C, 1)
    py = ((cigs[:, 1] + cigs[:, 3]) / 2)[:, None]
    inside = (
        (np.abs(px - cx) <= w * HANDS_WIDEN / 2)
        & (py >= y1 - HANDS_ABOVE * h)
        & (py <= y1 + HANDS_TOP * h)
    )
    dist = np.hypot(px - cx, py - (y1 + HEAD_POINT * h)) / np.maximum(h, 1e-6)
    dist = np.where(inside, dist, np.inf)
    holder: IntArray = np.where(np.isfinite(dist.min(axis=1)), dist.argmin(axis=1), -1)
    return holder.astype(np.int64)


def _zone_at(
    zones: CameraZones, point: npt.ArrayLike, kind: ZoneKind, excluded: tuple[ZoneKind, ...]
) -> str | None:
    """The first zone of ``kind`` holding ``point``, unless a zone of an ``excluded`` kind does."""
    if any(zones.in_any(k, point)[0] for k in excluded):
        return None
    return zones.first_containing(kind, point)[0]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
