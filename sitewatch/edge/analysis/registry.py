"""The rule registry: one :class:`Rule` per contract ``RuleName``, looked up in :data:`RULES`.

A rule says, for one frame's tracked detections, which tracks it watches, where each one is
(the applicable zone its anchor lies in, if any) and how strongly this frame shows the
violation (:class:`Sighting`). What all rules share stays in ``rules.RuleEngine``: active
hours, the dwell and median confirmation, the best frame, forgetting old tracks; the alert
stage reads each rule's cooldown from its own config section (:meth:`Rule.config`).

Adding a rule touches the contract's ``RuleName``, its edge config section and ``RuleSpec``,
and one :class:`Rule` subclass here with its entry in :data:`RULES` (steps:
docs/design/rules.md). Nothing else compares rule names; ``tests/unit/test_rule_registry.py`` fails
until the contract, the config and this table agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from sitewatch.contract.messages import RuleName
from sitewatch.core.geometry import FloatArray, IntArray
from sitewatch.edge.analysis.zones import Anchor, CameraZones, anchor_points
from sitewatch.edge.config.rule_specs import RuleSpec, UnknownRule, rule_spec
from sitewatch.edge.config.schema import RuleConfig, Rules
from sitewatch.edge.detections import Detections

HANDS_TOP = 0.6
"""Share of a person box, from its top, that holds the head, the mouth and a raised hand."""
HANDS_WIDEN = 1.6
"""Width factor of the head-and-hands region, for a hand held out to the side."""
HANDS_ABOVE = 0.05
"""Margin above the person box, as a share of its height, for a cigarette at the lips."""
HEAD_POINT = 0.1
"""Where a person's head is assumed, as a share of the box height from its top."""


@dataclass(frozen=True)
class Sighting:
    """One tracked object in one frame, as a rule sees it."""

    track_id: int
    score: float  # this frame's evidence, 0..1 (0: nothing seen)
    zone_id: str | None  # the applicable zone holding the anchor; None: outside every one
    box: FloatArray  # the object's xyxy pixel box
    label: str  # the label of ``box``


class Rule(ABC):
    """One rule: its contract name, the anchor it tests against zones, and ``observe``."""

    name: ClassVar[RuleName]
    anchor: ClassVar[Anchor]

    @property
    def spec(self) -> RuleSpec:
        """The rule's static facts (zone kind, exempting kinds, evidence label)."""
        return rule_spec(self.name)

    def config(self, rules: Rules) -> RuleConfig:
        """This rule's own section of a camera's rules (dwell, cooldown, active hours...)."""
        return rules.of(self.name)

    def zone_at(self, zones: CameraZones, box: npt.ArrayLike) -> str | None:
        """The first zone of the rule's kind holding the anchor of ``box``, unless a ``mask``
        or an exempting zone holds it too."""
        point = anchor_points(box, self.anchor)
        if any(zones.in_any(k, point)[0] for k in ("mask", *self.spec.exempt)):
            return None
        return zones.first_containing(self.spec.zone, point)[0]

    @abstractmethod
    def observe(self, dets: Detections, zones: CameraZones) -> list[Sighting]:
        """The sightings of tracked ``dets`` (track ids set) in one frame, one per track."""


class NoHelmet(Rule):
    """Per ``head``/``helmet`` track, the bare-head score ``max(0, best head score - best
    helmet score)`` of its boxes (the tracker gives a head found as both labels in one frame
    one id, so an unsure frame scores near 0). Anchored at the centre of the head box (see
    ``zones``), in a ``helmet_required`` zone."""

    name = "no_helmet"
    anchor = "centre"

    def observe(self, dets: Detections, zones: CameraZones) -> list[Sighting]:
        tracked = dets.with_label(*(n for n in ("head", "helmet") if n in dets.labels))
        tracked = tracked[tracked.track_ids >= 0]
        out: list[Sighting] = []
        for tid in np.unique(tracked.track_ids).tolist():
            mine = tracked[tracked.track_ids == tid]
            is_head = np.asarray([n == "head" for n in mine.label_names()], dtype=bool)
            head = float(mine.scores[is_head].max(initial=0.0))
            helmet = float(mine.scores[~is_head].max(initial=0.0))
            best = int(np.lexsort((mine.scores, is_head))[-1])  # best head box, else best helmet
            box = mine.xyxy[best]
            label = mine.labels[int(mine.class_ids[best])]
            out.append(Sighting(tid, max(0.0, head - helmet), self.zone_at(zones, box), box, label))
        return out


class Smoking(Rule):
    """Each cigarette whose centre lies in a person's head-and-hands region (the top
    :data:`HANDS_TOP` of the person box, widened :data:`HANDS_WIDEN` times, plus a margin
    above) is attached to the one person whose head point is nearest; a person track's score
    is its best attached cigarette (0 without). Anchored at the person's feet, in a
    ``no_smoking`` zone and no ``smoking_area``; cigarettes inside a mask are dropped. A
    cigarette nearest to an untracked person counts for nobody rather than for a neighbour."""

    name = "smoking"
    anchor = "bottom_centre"

    def observe(self, dets: Detections, zones: CameraZones) -> list[Sighting]:
        if "person" not in dets.labels or "cigarette" not in dets.labels:
            return []
        people = dets.with_label("person")
        cigs = dets.with_label("cigarette")
        cigs = cigs[~zones.masked(anchor_points(cigs.xyxy, "centre"))]
        holder = attach_cigarettes(people.xyxy, cigs.xyxy)
        out: list[Sighting] = []
        for p, tid in enumerate(people.track_ids.tolist()):
            if tid < 0:
                continue
            score = float(cigs.scores[holder == p].max(initial=0.0))
            box = people.xyxy[p]
            out.append(Sighting(tid, score, self.zone_at(zones, box), box, "person"))
        return out


class RestrictedZone(Rule):
    """Each tracked person scores its own box's detector score: being seen is the violation.
    Anchored at the feet (bottom centre of the person box: where a person stands on the
    ground that operators outline under a crane's load or beside an excavator), in a
    ``restricted`` zone; feet in a mask count for nothing."""

    name = "restricted_zone"
    anchor = "bottom_centre"

    def observe(self, dets: Detections, zones: CameraZones) -> list[Sighting]:
        if "person" not in dets.labels:
            return []
        people = dets.with_label("person")
        out: list[Sighting] = []
        for p, tid in enumerate(people.track_ids.tolist()):
            if tid < 0:
                continue
            box = people.xyxy[p]
            score = float(people.scores[p])
            out.append(Sighting(tid, score, self.zone_at(zones, box), box, "person"))
        return out


RULES: Mapping[RuleName, Rule] = {
    rule.name: rule for rule in (NoHelmet(), Smoking(), RestrictedZone())
}
"""Every rule, keyed by its contract name, in the order the engine runs them."""


def rule(name: str) -> Rule:
    """The rule called ``name``; an unknown name is an ``UnknownRule`` listing the valid ones."""
    for key, found in RULES.items():
        if key == name:
            return found
    raise UnknownRule(name, RULES)


def attach_cigarettes(people_xyxy: npt.ArrayLike, cig_xyxy: npt.ArrayLike) -> IntArray:
    """Per cigarette, the index of the person holding it, or -1 (see :class:`Smoking`)."""
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
