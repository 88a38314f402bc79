"""A compact ByteTrack-style tracker for one camera: stable ids for heads and people.

Per group of labels (:data:`TRACK_GROUPS`), each frame: every track predicts its box at the
frame's time (a constant-velocity alpha-beta filter on the box centre, in seconds, bounded by
:data:`MIN_VELOCITY_DT`, :data:`MAX_SPEED` and :data:`MAX_PREDICT_S`); detections of at least
``high_score`` are matched to all tracks, those between ``low_score`` and ``high_score`` only
to confirmed tracks left over; unmatched high-score ones start tentative tracks, confirmed
after ``min_hits`` consecutive matches. A tentative track that misses a frame is dropped, a
confirmed one unmatched for ``max_age_s`` seconds is removed.

Matching is greedy, best IoU first, on boxes enlarged by :data:`BUFFER` (buffered IoU).
``head`` and ``helmet`` are one group; both found on one head (:data:`DUPLICATE_IOU`) share
one id. Invariants: a track has its id from its first sighting, and ids are never reused.
Boxes are xyxy pixels. Why: docs/design/tracker.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sitewatch.core.geometry import FloatArray, IntArray, box_iou
from sitewatch.edge.detections import Detections

TRACK_GROUPS: dict[str, tuple[str, ...]] = {"headwear": ("head", "helmet"), "person": ("person",)}
"""Labels tracked together; a label in no group (``cigarette``) is never tracked."""
BUFFER = 0.3
"""Boxes are enlarged by this share of their width/height on each side before IoU."""
DUPLICATE_IOU = 0.6
"""Two boxes of one group overlapping more than this in one frame are the same object."""
ALPHA = 0.7
"""Weight of a new measurement in the smoothed box (1 = trust the detector fully)."""
BETA = 0.3
"""Weight of a new measurement in the velocity estimate, for steps of NOMINAL_DT or longer."""
NOMINAL_DT = 0.5
"""The usual step between analysed frames (2 fps); shorter steps get a smaller velocity gain."""
MIN_VELOCITY_DT = 0.2
"""Shortest time over which a velocity is measured (the first one waits for it)."""
MAX_SPEED = 8.0
"""Fastest believable motion, in box sizes (width or height) per second: a head 25 cm wide
at a brisk 2 m/s."""
MAX_PREDICT_S = 1.0
"""Longest extrapolation: beyond this a lost track is looked for where it was heading then."""
BUFFER_GROWTH = 2.0
"""The matching buffer grows linearly up to this factor over a gap of 2 * NOMINAL_DT."""


@dataclass(eq=False)  # compared by identity
class _Track:
    group: str
    cx: float
    cy: float
    w: float
    h: float
    last_ts: float
    track_id: int
    vx: float = 0.0
    vy: float = 0.0
    hits: int = 1
    confirmed: bool = False
    anchor: tuple[float, float, float] | None = None  # (ts, cx, cy) the velocity is measured from

    def predict(self, ts: float) -> list[float]:
        dt = min(max(ts - self.last_ts, 0.0), MAX_PREDICT_S)
        cx, cy = self.cx + self.vx * dt, self.cy + self.vy * dt
        return [cx - self.w / 2, cy - self.h / 2, cx + self.w / 2, cy + self.h / 2]

    def buffer(self, ts: float) -> float:
        """Matching buffer at ``ts``: wider the longer the track has not been seen."""
        gap = max(ts - self.last_ts - NOMINAL_DT, 0.0) / NOMINAL_DT
        return BUFFER * min(1.0 + gap * (BUFFER_GROWTH - 1.0) / 2.0, BUFFER_GROWTH)

    def correct(self, box: FloatArray, ts: float) -> None:
        x1, y1, x2, y2 = (float(v) for v in box)
        zx, zy, zw, zh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        dt = ts - self.last_ts
        if dt <= 0:  # the same instant (or a clock step back): take the measurement
            self.cx, self.cy = zx, zy
        elif self.anchor is not None:  # no velocity yet: measure it once the base is long enough
            t0, x0, y0 = self.anchor
            self.cx, self.cy = zx, zy
            if ts - t0 >= MIN_VELOCITY_DT:
                self.vx, self.vy = (zx - x0) / (ts - t0), (zy - y0) / (ts - t0)
                self.anchor = None
        else:
            step = min(dt, MAX_PREDICT_S)
            px, py = self.cx + self.vx * step, self.cy + self.vy * step
            rx, ry = zx - px, zy - py
            gain = BETA * min(1.0, dt / NOMINAL_DT)
            base = max(dt, MIN_VELOCITY_DT)
            self.vx += gain * rx / base
            self.vy += gain * ry / base
            self.cx, self.cy = px + ALPHA * rx, py + ALPHA * ry
        self.w += ALPHA * (zw - self.w)
        self.h += ALPHA * (zh - self.h)
        limit_x, limit_y = MAX_SPEED * self.w, MAX_SPEED * self.h
        self.vx = min(max(self.vx, -limit_x), limit_x)
        self.vy = min(max(self.vy, -limit_y), limit_y)
        self.last_ts = max(ts, self.last_ts)
        self.hits += 1


class Tracker:
    """Multi-object tracker for one camera; ``update`` fills ``Detections.track_ids``."""

    def __init__(
        self,
        groups: Mapping[str, tuple[str, ...]] = TRACK_GROUPS,
        *,
        high_score: float = 0.4,
        low_score: float = 0.1,
        match_iou: float = 0.2,
        low_match_iou: float = 0.4,
        min_hits: int = 2,
        max_age_s: float = 3.0,
    ) -> None:
        """``high_score``/``low_score``: the two detection tiers; ``match_iou`` and
        ``low_match_iou``: the smallest buffered IoU that matches in each tier; ``min_hits``:
        consecutive sightings before a track is confirmed (before that, a miss ends it and weak
        boxes do not feed it); ``max_age_s``: seconds a confirmed track survives without a
        match."""
        owner: dict[str, str] = {}
        for group, labels in groups.items():
            for label in labels:
                if label in owner:
                    raise ValueError(
                        f"label {label!r} is in groups {owner[label]!r} and {group!r}; "
                        "each label may be tracked in one group only"
                    )
                owner[label] = group
        if not 0.0 <= low_score <= high_score <= 1.0:
            raise ValueError(
                f"expected 0 <= low_score <= high_score <= 1, got {low_score}, {high_score}"
            )
        for name, value in (("match_iou", match_iou), ("low_match_iou", low_match_iou)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if min_hits < 1 or max_age_s <= 0:
            raise ValueError(
                f"expected min_hits >= 1 and max_age_s > 0, got {min_hits}, {max_age_s}"
            )
        self.groups = {g: tuple(labels) for g, labels in groups.items()}
        self.high_score, self.low_score = high_score, low_score
        self.match_iou, self.low_match_iou = match_iou, low_match_iou
        self.min_hits, self.max_age_s = min_hits, max_age_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, dets: Detections, ts: float) -> Detections:
        """The same detections with ``track_ids`` set (``-1``: not tracked: a weak box that
        matched no confirmed track, or a label in no group).

        ``ts`` is the frame's capture time in seconds; a time going backwards is treated as
        no time passing.
        """
        track_ids = np.full(len(dets), -1, dtype=np.int64)
        for group, labels in self.groups.items():
            ids = [dets.labels.index(n) for n in labels if n in dets.labels]
            idx = np.flatnonzero(np.isin(dets.class_ids, ids) & (dets.scores >= self.low_score))
            self._update_group(group, dets, idx, ts, track_ids)
        return Detections(dets.xyxy, dets.scores, dets.class_ids, dets.labels, track_ids)

    def _update_group(
        self, group: str, dets: Detections, idx: npt.NDArray[np.intp], ts: float, out: IntArray
    ) -> None:
        idx = idx[np.argsort(-dets.scores[idx], kind="stable")]
        keepers, followers = _dedupe(dets.xyxy[idx], dets.class_ids[idx])
        kept = idx[keepers]
        self._tracks = [  # lost for longer than max_age_s: gone
            t for t in self._tracks if t.group != group or ts - t.last_ts <= self.max_age_s
        ]
        tracks = [t for t in self._tracks if t.group == group]
        high = [int(i) for i in kept if dets.scores[i] >= self.high_score]
        low = [int(i) for i in kept if dets.scores[i] < self.high_score]
        matched: dict[int, _Track] = {}  # detection index -> track
        pairs = _greedy_match(tracks, high, dets.xyxy, ts, self.match_iou)
        matched.update(pairs)
        left = [t for t in tracks if t not in pairs.values() and t.confirmed]
        matched.update(_greedy_match(left, low, dets.xyxy, ts, self.low_match_iou))
        for i, track in matched.items():
            track.correct(dets.xyxy[i], ts)
            track.confirmed |= track.hits >= self.min_hits
        born: list[_Track] = []
        for i in high:
            if i not in matched:
                x1, y1, x2, y2 = (float(v) for v in dets.xyxy[i])
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                track = _Track(group, cx, cy, x2 - x1, y2 - y1, ts, self._next_id)
                track.anchor, track.confirmed = (ts, cx, cy), self.min_hits <= 1
                self._next_id += 1
                matched[i] = track
                born.append(track)
        for track in tracks:  # a tentative track that missed a frame is dropped
            if not track.confirmed and track not in matched.values():
                self._tracks.remove(track)
        self._tracks.extend(born)
        for i, track in matched.items():
            out[i] = track.track_id
        for follower, keeper in followers.items():
            out[idx[follower]] = out[idx[keeper]]


def _dedupe(boxes: FloatArray, class_ids: IntArray) -> tuple[npt.NDArray[np.intp], dict[int, int]]:
    """Positions of boxes (sorted best first) to track, and each duplicate's keeper.

    Only boxes of different labels are duplicates (a head found as head and as helmet); two
    boxes of one label that survived the detector's NMS are two objects.
    """
    keepers: list[int] = []
    followers: dict[int, int] = {}
    if len(boxes):
        iou = box_iou(boxes, boxes)
        for i in range(len(boxes)):
            dup = [k for k in keepers if iou[i, k] > DUPLICATE_IOU and class_ids[i] != class_ids[k]]
            if dup:
                followers[i] = dup[0]
            else:
                keepers.append(i)
    return np.asarray(keepers, dtype=np.intp), followers


def _greedy_match(
    tracks: list[_Track], det_idx: list[int], xyxy: FloatArray, ts: float, min_iou: float
) -> dict[int, _Track]:
    """Detection index -> track, best buffered IoU first, pairs below ``min_iou`` left out."""
    if not tracks or not det_idx:
        return {}
    predicted = np.asarray([t.predict(ts) for t in tracks], dtype=np.float32)
    pads = np.asarray([t.buffer(ts) for t in tracks], dtype=np.float32)
    iou = box_iou(_buffered(xyxy[det_idx], BUFFER), _buffered(predicted, pads))
    pairs: dict[int, _Track] = {}
    used: set[int] = set()
    for flat in np.argsort(-iou, axis=None, kind="stable").tolist():
        d, t = divmod(flat, len(tracks))
        if iou[d, t] < min_iou:
            break
        if det_idx[d] in pairs or t in used:
            continue
        pairs[det_idx[d]] = tracks[t]
        used.add(t)
    return pairs


def _buffered(xyxy: FloatArray, share: float | FloatArray) -> FloatArray:
    """Boxes enlarged by ``share`` (one for all, or one per box) of their size on each side."""
    size = xyxy[:, 2:] - xyxy[:, :2]
    pad = np.concatenate([size, size], axis=1) * np.reshape(share, (-1, 1))
    out: FloatArray = (xyxy + pad * np.array([-1, -1, 1, 1], dtype=np.float32)).astype(np.float32)
    return out
