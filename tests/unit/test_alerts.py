"""Alert lifecycles: the state machine on literal observations, then tracker -> rules -> alerts
on scripted 2 fps detections."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sitewatch.edge.analysis.alerts import AlertTracker, AlertTransition
from sitewatch.edge.analysis.rules import Box, Observation, RuleEngine, RuleName
from sitewatch.edge.analysis.tracker import Tracker
from sitewatch.edge.config.schema import RuleConfig, Rules, Zone
from sitewatch.edge.detections import Detections

FRAME = (1000, 1000)
TZ = ZoneInfo("Europe/Berlin")
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=TZ).timestamp()
BOX: Box = (100, 400, 140, 440)


def _ids() -> itertools.count[int]:
    return itertools.count()


def _tracker(cooldown_s: float = 60.0, **kwargs: float) -> AlertTracker:
    cfg = RuleConfig(cooldown_s=cooldown_s)
    counter = _ids()
    return AlertTracker(
        "cam1", Rules(no_helmet=cfg, smoking=cfg), new_id=lambda: f"a{next(counter)}", **kwargs
    )


def _obs(
    ts: float,
    track_id: int = 1,
    score: float = 0.8,
    box: Box = BOX,
    rule: RuleName = "no_helmet",
    zone_id: str = "site",
    violating: bool = True,
) -> Observation:
    norm = (box[0] / 1000, box[1] / 1000, box[2] / 1000, box[3] / 1000)
    return Observation(rule, track_id, zone_id, violating, score, box, norm, "head", ts)


def _feed(
    alerts: AlertTracker, frames: Sequence[tuple[float, list[Observation]]]
) -> list[AlertTransition]:
    return [t for ts, obs in frames for t in alerts.update(obs, ts)]


def _events(transitions: list[AlertTransition]) -> list[tuple[str, str, int]]:
    return [(t.id, t.event, t.seq) for t in transitions]


def _every(start: float, stop: float, step: float = 0.5) -> list[float]:
    return [start + k * step for k in range(round((stop - start) / step))]


def test_start_then_end_after_the_violation_stops() -> None:
    frames = [(t, [_obs(t)]) for t in _every(0, 3)] + [(t, []) for t in _every(3, 10)]
    out = _feed(_tracker(), frames)
    assert _events(out) == [("a0", "start", 0), ("a0", "end", 1)]
    start, end = out
    assert (start.started_at, start.last_seen_at, start.ended_at) == (0, 0, None)
    assert (end.started_at, end.last_seen_at, end.ended_at) == (0, 2.5, 7.5)  # 2.5 + 5 s
    assert (end.camera, end.rule, end.track_id, end.zone_id) == ("cam1", "no_helmet", 1, "site")


def test_non_violating_observations_start_nothing_and_do_not_keep_an_alert_open() -> None:
    frames = [(0.0, [_obs(0.0)])] + [(t, [_obs(t, violating=False)]) for t in _every(0.5, 8)]
    assert [t.event for t in _feed(_tracker(), frames)] == ["start", "end"]
    assert _feed(_tracker(), [(t, [_obs(t, violating=False)]) for t in _every(0, 8)]) == []


def test_updates_are_throttled_and_only_on_change() -> None:
    # the score improves every frame for 30 s: at most one update per 10 s; the change
    # pending since 20 s goes out at 30 s, when the throttle allows, though no frame came
    frames = [(t, [_obs(t, score=0.5 + t / 100)]) for t in _every(0, 30)]
    out = _feed(_tracker(), frames + [(t, []) for t in _every(30, 36)])
    assert _events(out) == [
        ("a0", e, k) for k, e in enumerate(["start", "update", "update", "update", "end"])
    ]
    assert [t.best_ts for t in out[1:4]] == [10.0, 20.0, 29.5]
    assert out[-1].score == pytest.approx(0.5 + 29.5 / 100)
    assert out[-1].best_ts == 29.5 and out[-1].ended_at == 34.5
    # the same 30 s with a constant score: no update at all
    steady = [(t, [_obs(t)]) for t in _every(0, 30)] + [(t, []) for t in _every(30, 36)]
    assert [t.event for t in _feed(_tracker(), steady)] == ["start", "end"]


def test_zone_change_is_an_update() -> None:
    frames = [(0.0, [_obs(0.0)]), (10.0, [_obs(10.0, zone_id="pit")])]
    out = _feed(_tracker(), frames)
    assert [(t.event, t.zone_id) for t in out] == [("start", "site"), ("update", "pit")]


@pytest.mark.parametrize(
    ("cooldown_s", "restart_at", "expected"),
    [
        (60.0, 20.0, ["a0 start", "a0 end"]),  # within cooldown: nothing new
        (10.0, 20.0, ["a0 start", "a0 end", "a1 start", "a1 end"]),  # after: a new id
    ],
)
def test_cooldown_after_an_end(cooldown_s: float, restart_at: float, expected: list[str]) -> None:
    # violating 0..2 s, ends at 6.5 s; violating again from restart_at for 2 s
    frames = [
        (t, [_obs(t)] if t < 2 or restart_at <= t < restart_at + 2 else []) for t in _every(0, 40)
    ]
    out = _feed(_tracker(cooldown_s), frames)
    assert [f"{t.id} {t.event}" for t in out] == expected


@pytest.mark.parametrize(
    ("box", "starts"),
    [
        ((102, 401, 142, 441), 1),  # a new track id where the ended alert was: held back
        ((600, 400, 640, 440), 2),  # a new track id elsewhere: a different person
    ],
)
def test_reacquired_track_within_cooldown(box: Box, starts: int) -> None:
    frames = [(t, [_obs(t)] if t < 2 else []) for t in _every(0, 10)]
    frames += [(t, [_obs(t, track_id=9, box=box)]) for t in _every(10, 12)]
    out = _feed(_tracker(), frames)
    assert [t.event for t in out].count("start") == starts


def test_new_track_id_takes_over_an_open_alert() -> None:
    # track 1 is lost at 2 s, track 2 appears in the same place at 3 s (an id switch)
    frames = [(t, [_obs(t, track_id=1)]) for t in _every(0, 2)]
    frames += [(t, [_obs(t, track_id=2, box=(104, 402, 144, 442))]) for t in _every(3, 14)]
    frames += [(t, []) for t in _every(14, 20)]
    out = _feed(_tracker(), frames)
    assert [(t.id, t.event, t.track_id) for t in out] == [
        ("a0", "start", 1),
        ("a0", "update", 2),  # 10 s after the start
        ("a0", "end", 2),
    ]


def test_two_people_side_by_side_get_two_alerts() -> None:
    frames = [(t, [_obs(t, 1), _obs(t, 2, box=(160, 400, 200, 440))]) for t in _every(0, 2)]
    out = _feed(_tracker(), frames)
    assert [(t.id, t.event, t.track_id) for t in out] == [("a0", "start", 1), ("a1", "start", 2)]


def test_rules_are_separate_alerts_and_close_all_ends_them() -> None:
    alerts = _tracker()
    out = alerts.update([_obs(0.0), _obs(0.0, rule="smoking")], 0.0)
    assert [(t.id, t.rule) for t in out] == [("a0", "no_helmet"), ("a1", "smoking")]
    assert sorted(alerts.open_ids) == ["a0", "a1"]
    ends = alerts.close_all(1.0)
    assert [(t.id, t.event, t.seq, t.ended_at) for t in ends] == [
        ("a0", "end", 1, 1.0),
        ("a1", "end", 1, 1.0),
    ]
    assert alerts.open_ids == [] and alerts.close_all(2.0) == []


def test_bad_settings_fail() -> None:
    with pytest.raises(ValueError, match="end_after_s > 0"):
        AlertTracker("cam1", Rules(), end_after_s=0)


# -- the whole chain: tracker -> rules -> alerts, 2 fps --------------------------------------

LEFT = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
TOP_LEFT = [(0.0, 0.0), (0.3, 0.0), (0.3, 0.3), (0.0, 0.3)]
HEAD_IN: list[float] = [100, 400, 140, 440]
HEAD_OUT: list[float] = [700, 400, 740, 440]
PERSON: list[float] = [80, 380, 180, 780]
CIG: list[float] = [125, 425, 140, 431]
Row = tuple[Sequence[float], float, str]
Script = list[tuple[float, Sequence[Row]]]


def _zone(zid: str, kind: str, points: list[tuple[float, float]]) -> Zone:
    return Zone.model_validate({"id": zid, "kind": kind, "points": points})


def _script(*segments: tuple[float, Sequence[Row]], t0: float = T0) -> Script:
    """Frames at 2 fps: each segment is (seconds, rows of every frame)."""
    frames: Script = []
    t = t0
    for seconds, rows in segments:
        for _ in range(round(seconds * 2)):
            frames.append((t, rows))
            t += 0.5
    return frames


def _chain(
    script: Script, zones: list[Zone], cooldown_s: float = 60.0, **rule: object
) -> list[AlertTransition]:
    cfg = RuleConfig.model_validate({"dwell_s": 2.0, "cooldown_s": cooldown_s, **rule})
    rules = Rules(no_helmet=cfg, smoking=cfg)
    tracker, engine, alerts = Tracker(), RuleEngine(zones, rules, TZ), AlertTracker("cam1", rules)
    out: list[AlertTransition] = []
    for ts, rows in script:
        dets = Detections.from_lists(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        )
        out += alerts.update(engine.update(tracker.update(dets, ts), ts, FRAME), ts)
    return out


HELMET = [_zone("site", "helmet_required", LEFT)]
SMOKE = [_zone("yard", "no_smoking", LEFT)]
BARE: list[Row] = [(HEAD_IN, 0.8, "head")]
GONE: tuple[float, list[Row]] = (10.0, [])


@pytest.mark.parametrize(
    ("zones", "script", "expected"),
    [
        (HELMET, _script((3.0, BARE), GONE), ["no_helmet start", "no_helmet end"]),
        (HELMET, _script((3.0, [(HEAD_OUT, 0.8, "head")]), GONE), []),  # outside the zone
        (HELMET, _script((1.0, BARE), GONE), []),  # 1 s in the zone, dwell 2 s
        (HELMET, _script((6.0, [(HEAD_IN, 0.9, "helmet")]), GONE), []),  # wears a hard hat
        (  # flickers head / helmet / head: one track, one alert
            HELMET,
            _script(*[(0.5, [(HEAD_IN, 0.8, n)]) for n in ["head", "helmet", "head"] * 4], GONE),
            ["no_helmet start", "no_helmet end"],
        ),
        (  # a head inside a mask drawn over the zone
            [*HELMET, _zone("crane", "mask", TOP_LEFT)],
            _script((6.0, [([100, 100, 140, 140], 0.8, "head")]), GONE),
            [],
        ),
        (
            SMOKE,
            _script((4.0, [(PERSON, 0.9, "person"), (CIG, 0.6, "cigarette")]), GONE),
            ["smoking start", "smoking end"],
        ),
        (  # the person stands in a smoking area inside the no-smoking yard
            [*SMOKE, _zone("point", "smoking_area", [(0, 0), (0.3, 0), (0.3, 0.9), (0, 0.9)])],
            _script((4.0, [(PERSON, 0.9, "person"), (CIG, 0.6, "cigarette")]), GONE),
            [],
        ),
        (  # a cigarette far from any person
            SMOKE,
            _script((4.0, [(PERSON, 0.9, "person"), ([400, 900, 410, 904], 0.6, "cigarette")])),
            [],
        ),
    ],
)
def test_chain(zones: list[Zone], script: Script, expected: list[str]) -> None:
    out = _chain(script, zones)
    assert [f"{t.rule} {t.event}" for t in out] == expected
    assert len({t.id for t in out}) == min(len(out), 1)


def test_chain_bare_head_timeline() -> None:
    out = _chain(_script((3.0, BARE), GONE), HELMET)
    start, end = out
    # confirmed 2 s (the dwell) after the first sighting; ends 5 s after the last frame
    assert start.started_at == T0 + 2.0
    assert end.last_seen_at == T0 + 2.5 and end.ended_at == T0 + 7.5
    assert start.box == (100, 400, 140, 440) and start.box_norm == pytest.approx(
        (0.1, 0.4, 0.14, 0.44)
    )


def test_chain_long_violation_gives_few_updates() -> None:
    # a worker bare-headed for 60 s, the score wandering 0.6..0.9
    rows = [[(HEAD_IN, 0.6 + 0.05 * (k % 7), "head")] for k in range(120)]
    out = _chain(_script(*[(0.5, r) for r in rows], GONE), HELMET)
    events = [t.event for t in out]
    assert events[0] == "start" and events[-1] == "end" and set(events[1:-1]) <= {"update"}
    assert len({t.id for t in out}) == 1
    assert len(events) <= 2 + 6  # at most one update per 10 s over 60 s
    assert [t.seq for t in out] == list(range(len(out)))


@pytest.mark.parametrize(("cooldown_s", "starts"), [(60.0, 1), (5.0, 2)])
def test_chain_cooldown(cooldown_s: float, starts: int) -> None:
    # bare 4 s, hard hat on for 12 s (the alert ends), bare again 4 s
    script = _script((4.0, BARE), (12.0, [(HEAD_IN, 0.8, "helmet")]), (4.0, BARE), GONE)
    out = _chain(script, HELMET, cooldown_s=cooldown_s)
    assert [t.event for t in out] == ["start", "end"] * starts
    assert len({t.id for t in out}) == starts  # a new alert has a new id
    assert len({t.track_id for t in out}) == 1  # the same track throughout


@pytest.mark.parametrize(
    ("window", "t0", "alerts"),
    [
        (("07:00", "11:00"), T0, 0),  # noon is outside the window
        (("07:00", "13:00"), T0, 1),
        (("22:00", "06:00"), T0, 0),
        (("22:00", "06:00"), T0 + 11.5 * 3600, 1),  # 23:30, the window crosses midnight
        (("22:00", "06:00"), T0 + 14 * 3600, 1),  # 02:00 the next day
    ],
)
def test_chain_active_hours(window: tuple[str, str], t0: float, alerts: int) -> None:
    hours = [{"start": window[0], "end": window[1]}]
    out = _chain(_script((4.0, BARE), GONE, t0=t0), HELMET, active_hours=hours)
    assert [t.event for t in out] == ["start", "end"] * alerts
