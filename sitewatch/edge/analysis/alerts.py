"""Alert lifecycle per track and rule: start -> update -> end with a stable id, then cooldown.

:class:`AlertTracker` (one per camera) is fed the rules' observations once per processed frame
(an empty list too: the passing time is what ends alerts) and emits :class:`AlertTransition`
records: **start** on the first ``violating`` observation of a track and rule (a new uuid4
id) unless a cooldown blocks it; **update** at most every ``update_every_s`` and only when the
best score or the zone changed; **end** after ``end_after_s`` with no violating observation,
or on :meth:`close_all`. After an end, the same track and rule start nothing for the rule's
``cooldown_s``, counted from ``ended_at``.

A track whose box overlaps (:data:`REACQUIRE_IOU`) the last box of an open alert whose track
was not seen takes that alert over (an id switch is not a new violation); one that overlaps an
alert ended within the cooldown is held back. Timestamps are passed in (seconds, the frame's
capture time), never read from a clock. Why: docs/design/alerts.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from sitewatch.contract.messages import RuleName
from sitewatch.core.geometry import Box, box_iou
from sitewatch.edge.analysis.registry import RULES, rule
from sitewatch.edge.analysis.rules import Observation
from sitewatch.edge.config.schema import Rules

Event = Literal["start", "update", "end"]

REACQUIRE_IOU = 0.3
"""Box IoU above which a new track id is taken for the person of an open or recent alert."""


@dataclass(frozen=True)
class AlertTransition:
    """One step of an alert's life; ``id`` is the same for all steps of one alert."""

    id: str
    event: Event
    seq: int  # 0 for start, then 1, 2, ... per emitted transition
    camera: str
    rule: RuleName
    track_id: int
    zone_id: str
    label: str
    score: float  # best score so far
    box: Box  # best box so far, xyxy pixels
    box_norm: Box  # the same, normalised 0..1
    best_ts: float  # capture time of the best frame (the evidence stage snapshots it)
    started_at: float
    last_seen_at: float
    ended_at: float | None


@dataclass
class _Open:
    state: AlertTransition  # the last state, emitted or not
    last_box: Box
    emitted_at: float
    changed: bool = False


@dataclass(frozen=True)
class _Ended:
    rule: RuleName
    track_id: int
    box: Box
    ended_at: float


class AlertTracker:
    """The alert state machine of one camera."""

    def __init__(
        self,
        camera: str,
        rules: Rules,
        *,
        update_every_s: float = 10.0,
        end_after_s: float = 5.0,
        reacquire_iou: float = REACQUIRE_IOU,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if update_every_s < 0 or end_after_s <= 0 or not 0 < reacquire_iou <= 1:
            raise ValueError(
                "expected update_every_s >= 0, end_after_s > 0 and 0 < reacquire_iou <= 1, got "
                f"{update_every_s}, {end_after_s}, {reacquire_iou}"
            )
        self.camera, self.rules = camera, rules
        self.update_every_s, self.end_after_s = update_every_s, end_after_s
        self.reacquire_iou, self._new_id = reacquire_iou, new_id
        self._open: dict[tuple[int, RuleName], _Open] = {}
        self._ended: list[_Ended] = []

    def update(self, observations: Iterable[Observation], ts: float) -> list[AlertTransition]:
        """Feed one frame's observations; returns the transitions to publish, in order."""
        out: list[AlertTransition] = []
        observations = list(observations)
        seen = {(o.track_id, o.rule) for o in observations}
        for obs in (o for o in observations if o.violating):
            key = (obs.track_id, obs.rule)
            alert = self._open.get(key) or self._take_over(obs, seen)
            if alert is not None:
                _absorb(alert, obs)
            elif not self._cooling(obs):
                out.append(self._start(obs))
        for key, alert in list(self._open.items()):
            state = alert.state
            if ts - state.last_seen_at >= self.end_after_s:
                out.append(self._end(key, ts))
            elif alert.changed and ts - alert.emitted_at >= self.update_every_s:
                alert.state = replace(state, event="update", seq=state.seq + 1)
                alert.emitted_at, alert.changed = ts, False
                out.append(alert.state)
        self._forget(ts)
        return out

    def close_all(self, ts: float) -> list[AlertTransition]:
        """End every open alert (shutdown, camera removed)."""
        return [self._end(key, ts) for key in list(self._open)]

    @property
    def open_ids(self) -> list[str]:
        return [a.state.id for a in self._open.values()]

    def _start(self, obs: Observation) -> AlertTransition:
        best = obs.peak or obs  # the violation's strongest frame so far
        state = AlertTransition(
            id=self._new_id(),
            event="start",
            seq=0,
            camera=self.camera,
            rule=obs.rule,
            track_id=obs.track_id,
            zone_id=obs.zone_id,
            label=best.label,
            score=best.score,
            box=best.box,
            box_norm=best.box_norm,
            best_ts=best.ts,
            started_at=obs.ts,
            last_seen_at=obs.ts,
            ended_at=None,
        )
        self._open[(obs.track_id, obs.rule)] = _Open(state, obs.box, emitted_at=obs.ts)
        return state

    def _end(self, key: tuple[int, RuleName], ts: float) -> AlertTransition:
        alert = self._open.pop(key)
        state = replace(alert.state, event="end", seq=alert.state.seq + 1, ended_at=ts)
        self._ended.append(_Ended(state.rule, state.track_id, alert.last_box, ts))
        return state

    def _take_over(self, obs: Observation, seen: set[tuple[int, RuleName]]) -> _Open | None:
        """An open alert of a track not seen now whose last box overlaps ``obs``, re-keyed."""
        for key, alert in list(self._open.items()):
            if key[1] == obs.rule and key not in seen and self._overlaps(alert.last_box, obs.box):
                del self._open[key]
                alert.state = replace(alert.state, track_id=obs.track_id)
                alert.changed = True
                self._open[(obs.track_id, obs.rule)] = alert
                return alert
        return None

    def _cooling(self, obs: Observation) -> bool:
        cooldown = rule(obs.rule).config(self.rules).cooldown_s
        return any(
            e.rule == obs.rule
            and obs.ts - e.ended_at < cooldown
            and (e.track_id == obs.track_id or self._overlaps(e.box, obs.box))
            for e in self._ended
        )

    def _overlaps(self, a: Box, b: Box) -> bool:
        iou = box_iou(np.asarray([a], np.float32), np.asarray([b], np.float32))
        return bool(iou[0, 0] >= self.reacquire_iou)

    def _forget(self, ts: float) -> None:
        longest = max(r.config(self.rules).cooldown_s for r in RULES.values())
        self._ended = [e for e in self._ended if ts - e.ended_at < longest]


def _absorb(alert: _Open, obs: Observation) -> None:
    """Fold a violating observation into an open alert."""
    state = replace(alert.state, last_seen_at=max(alert.state.last_seen_at, obs.ts))
    alert.last_box = obs.box
    if obs.score > state.score:
        state = replace(
            state,
            score=obs.score,
            box=obs.box,
            box_norm=obs.box_norm,
            best_ts=obs.ts,
            label=obs.label,
        )
        alert.changed = True
    if obs.zone_id != state.zone_id:
        state = replace(state, zone_id=obs.zone_id)
        alert.changed = True
    alert.state = state
