"""The third rule, ``restricted_zone`` (危险区域闯入): a tracked person whose feet are inside a
``restricted`` zone. Unit tests on literal tracked detections (feet in and out, dwell, score,
mask, active hours, cooldown through the alert stage), its config section and warnings, and one
end-to-end run: a real edge (RTSP camera, model, mosquitto) sees a composed worker walk into a
danger zone, and a real console ingests the alert and shows it in its feed and statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sitewatch.edge.analysis.alerts import AlertTracker, AlertTransition
from sitewatch.edge.analysis.registry import RULES, RestrictedZone
from sitewatch.edge.analysis.rules import Observation, RuleEngine
from sitewatch.edge.analysis.tracker import Tracker
from sitewatch.edge.config.load import parse_config
from sitewatch.edge.config.schema import RestrictedZoneConfig, RuleConfig, Rules, Zone
from sitewatch.edge.detections import Detections
from tests.support.browser_support import browser_fixture, mqtt_fixture, served_fixture  # noqa: F401
from tests.support.compose import BARE_HEAD, compose_clip, still_frame
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401   (the fixture "broker")

FRAME = (1000, 1000)  # height, width
TZ = ZoneInfo("Europe/Berlin")
NOON = datetime(2025, 6, 2, 12, 0, tzinfo=TZ).timestamp()
# a band across the right half, y 0.2..0.6: under a crane's load
DANGER = [(0.5, 0.2), (1.0, 0.2), (1.0, 0.6), (0.5, 0.6)]
FEET_IN = [600, 150, 700, 550]  # feet (650, 550): inside
BODY_OVER = [600, 300, 700, 800]  # body across the zone, feet (650, 800) below it: outside
BESIDE = [200, 150, 300, 550]  # feet (250, 550): left of the zone

Row = tuple[Sequence[float], float, str]


def _zone(zid: str, kind: str, points: list[tuple[float, float]]) -> Zone:
    return Zone.model_validate({"id": zid, "kind": kind, "points": points})


ZONES = [_zone("crane", "restricted", DANGER)]


def _rules(**section: object) -> Rules:
    return Rules(restricted_zone=RestrictedZoneConfig.model_validate({"enabled": True, **section}))


def _run(
    zones: list[Zone], rules: Rules, frames: Sequence[Sequence[Row]], t0: float = NOON
) -> list[list[Observation]]:
    """At 2 fps through the real tracker and the rule engine."""
    tracker, engine = Tracker(), RuleEngine(zones, rules, TZ)
    out = []
    for k, rows in enumerate(frames):
        ts = t0 + k / 2
        dets = Detections.from_lists(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        )
        out.append(engine.update(tracker.update(dets, ts), ts, FRAME))
    return out


def _flags(out: list[list[Observation]]) -> list[bool]:
    return [any(o.violating for o in obs if o.rule == "restricted_zone") for obs in out]


def test_feet_inside_confirmed_after_the_default_one_second_dwell() -> None:
    out = _run(ZONES, _rules(), [[(FEET_IN, 0.8, "person")]] * 5)
    assert _flags(out) == [False, False, True, True, True]  # t = 1.0 s, and 3 frames
    obs = out[-1][0]
    assert (obs.rule, obs.zone_id, obs.label) == ("restricted_zone", "crane", "person")
    assert obs.box == (600, 150, 700, 550) and obs.score == pytest.approx(0.8)


@pytest.mark.parametrize("box", [BODY_OVER, BESIDE], ids=["body-over-feet-below", "beside"])
def test_feet_outside_are_not_observed(box: list[int]) -> None:
    assert _run(ZONES, _rules(), [[(box, 0.9, "person")]] * 6) == [[]] * 6


def test_walking_in_starts_the_dwell_at_the_zone() -> None:
    # 50 px a frame, left to right: the feet (x 360, 410, ...) cross x = 500 at the 4th frame
    walk = [[([310 + 50 * k, 150, 410 + 50 * k, 550], 0.9, "person")] for k in range(7)]
    out = _run(ZONES, _rules(), walk + walk[-1:] * 3)
    assert [len(obs) for obs in out] == [0] * 3 + [1] * 7
    assert _flags(out) == [False] * 5 + [True] * 5  # 1 s after it entered
    assert len({o.track_id for obs in out for o in obs}) == 1


def test_a_weak_person_box_is_observed_but_never_violates() -> None:
    out = _run(ZONES, _rules(), [[(FEET_IN, 0.4, "person")]] * 6)  # under min_score 0.5
    assert [len(obs) for obs in out] == [1] * 6 and _flags(out) == [False] * 6


def test_feet_in_a_mask_and_other_labels_count_for_nothing() -> None:
    masked = [*ZONES, _zone("cab", "mask", [(0.6, 0.5), (0.7, 0.5), (0.7, 0.6), (0.6, 0.6)])]
    assert _run(masked, _rules(), [[(FEET_IN, 0.9, "person")]] * 5) == [[]] * 5
    heads = [[(FEET_IN, 0.9, "head")]] * 5  # a head box in the zone is not a person
    assert not any(_flags(_run(ZONES, _rules(), heads)))


def test_off_unless_enabled_and_gated_by_active_hours() -> None:
    rows = [[(FEET_IN, 0.9, "person")]] * 5
    assert _run(ZONES, Rules(), rows) == [[]] * 5  # off by default
    hours = [{"start": "07:00", "end": "12:01"}]
    out = _run(ZONES, _rules(active_hours=hours), [rows[0]] * 8, t0=NOON + 57)
    assert [len(obs) for obs in out] == [1] * 6 + [0] * 2  # 12:01:00 closes the window
    assert _flags(out) == [False, False, True, True, True, True, False, False]


def _alerts(cooldown_s: float, frames: Sequence[Sequence[Row]]) -> list[AlertTransition]:
    rules = _rules(cooldown_s=cooldown_s)
    tracker, engine, alerts = Tracker(), RuleEngine(ZONES, rules, TZ), AlertTracker("c", rules)
    out: list[AlertTransition] = []
    for k, rows in enumerate(frames):
        ts = NOON + k / 2
        dets = Detections.from_lists(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        )
        out += alerts.update(engine.update(tracker.update(dets, ts), ts, FRAME), ts)
    return out


@pytest.mark.parametrize(("cooldown_s", "starts"), [(60.0, 1), (5.0, 2)])
def test_cooldown_reads_the_rules_own_section(cooldown_s: float, starts: int) -> None:
    # in the zone 3 s, stepped out (feet below it) for 10 s: the alert ends; back in 3 s
    inside, out = [(FEET_IN, 0.9, "person")], [([600, 200, 700, 640], 0.9, "person")]
    frames = [inside] * 6 + [out] * 20 + [inside] * 6 + [[]] * 20
    got = _alerts(cooldown_s, frames)
    assert [f"{t.rule} {t.event}" for t in got] == [
        "restricted_zone start",
        "restricted_zone end",
    ] * starts
    assert got[0].label == "person"


def test_the_rule_is_registered_with_its_facts() -> None:
    rule = RULES["restricted_zone"]
    assert isinstance(rule, RestrictedZone) and rule.anchor == "bottom_centre"
    assert (rule.spec.zone, rule.spec.exempt, rule.spec.evidence) == ("restricted", (), "person")
    own = Rules().restricted_zone
    assert (own.enabled, own.min_score, own.dwell_s, own.cooldown_s) == (False, 0.5, 1.0, 60.0)
    assert isinstance(own, RuleConfig)


# -- config ---------------------------------------------------------------------------------

HEAD = """\
version: 1
site: {id: site-a, name: Site A}
mqtt: {host: broker.local}
detector: {model: ../models/m.onnx}
evidence: {dir: ../var/evidence}
outbox: {path: ../var/outbox.sqlite}
defaults: {rules: {no_helmet: {enabled: false}, smoking: {enabled: false}}}
cameras:
  - id: cam-1
    detect: rtsp://192.0.2.10/sub
"""
RESTRICTED = "    zones: [{id: pit, kind: restricted, points: [[0, 0], [1, 0], [1, 1]]}]\n"


@pytest.mark.parametrize(
    ("tail", "warned"),
    [
        ("", []),  # off by default: nothing to say
        ("    rules: {restricted_zone: {enabled: true}}\n", ["cameras[0].zones"]),
        (RESTRICTED, ["cameras[0].rules.restricted_zone.enabled"]),  # a zone, the rule off
        (RESTRICTED + "    rules: {restricted_zone: {enabled: true}}\n", []),
    ],
    ids=["off", "on-without-zone", "zone-rule-off", "armed"],
)
def test_config_warnings(tmp_path: Path, tail: str, warned: list[str]) -> None:
    config, problems = parse_config(HEAD + tail, tmp_path / "configs" / "site.yaml")
    paths = [p.path for p in problems if p.path != "detector.model"]  # m.onnx is absent
    assert paths == warned, [str(p) for p in problems]
    assert all(p.severity == "warning" for p in problems)
    if warned == ["cameras[0].zones"]:
        assert "add a restricted zone" in str(problems[-1])
    assert config.cameras[0].rules.restricted_zone.dwell_s == 1.0


# -- end to end -----------------------------------------------------------------------------

SITE_CAM = "cam-crane"
# A worker (the bare-head still's man, a full person box) walks from the left (feet x 0.14)
# to the right (feet x 0.78) from 1 s to 5 s, stands there until 9 s; the zone is the right
# part of the ground, so the feet enter it at about 3.6 s.
WALKER = dataclasses.replace(BARE_HEAD, at=(10, 30))
WALK_TO, WALK_S, VISIBLE, LOOP_S = (420, 30), 4.0, (1.0, 9.0), 12.0
GROUND = [[0.55, 0.7], [1.0, 0.7], [1.0, 1.0], [0.55, 1.0]]


def _check_person(model: Path) -> None:
    from sitewatch.edge.detect.detector import Detector

    dets = Detector(model, conf=0.25, second_look=False).detect([still_frame(WALKER)])[0]
    people = [
        s for n, s in zip(dets.label_names(), dets.scores.tolist(), strict=True) if n == "person"
    ]
    assert len(people) == 1 and people[0] >= 0.6, (
        f"{model.name} on the composed walker: person scores {people}; expected one >= 0.6: "
        "pick another still in tests/support/compose.py"
    )


@pytest.fixture(name="edge_and_console")
def edge_and_console_fixture(tmp_path: Path, broker: Mosquitto) -> Iterator[Any]:
    from sitewatch.console.store.models import BrokerAccount
    from sitewatch.contract.signing import load_or_create_key, public_key_text
    from tests.support.e2e_support import (
        SITE,
        InProcessWorker,
        camera,
        e2e_model,
        write_config,
        zone,
    )
    from tests.support.ingest_support import live_console
    from tests.support.rtsp_server import RtspServer, _check_gstreamer

    _check_gstreamer()
    model = e2e_model()
    _check_person(model)
    clip = compose_clip(WALKER, LOOP_S, VISIBLE, walk=(WALK_TO, WALK_S))
    for folder in ("edge", "console"):
        (tmp_path / folder).mkdir()
    edge_key = load_or_create_key(tmp_path / "edge" / "edge.key")
    with live_console(tmp_path / "console", broker) as console:
        with console.state.db.session() as s:  # registered: the console verifies what it sends
            s.add(
                BrokerAccount(
                    username=f"edge-{SITE}", role="edge", site_id=SITE,
                    password_hash="$7$unused", public_key=public_key_text(edge_key),
                )
            )  # fmt: skip
        console.add_user("wang.mgr", "manager", [SITE], "zh-CN")
        rtsp = RtspServer({"crane": clip})
        rtsp.start()
        try:
            rules = {"restricted_zone": {"enabled": True, "cooldown_s": 300}}
            cam = camera(SITE_CAM, rtsp.url("crane"), [zone("ground", "restricted", GROUND)])
            config = write_config(tmp_path / "edge", broker.port, [{**cam, "rules": rules}])
            worker = InProcessWorker(config)
            try:
                yield console
            finally:
                worker.stop()
        finally:
            rtsp.stop()


@pytest.mark.slow
def test_a_worker_walking_into_a_danger_zone_is_an_alert_at_the_console(
    edge_and_console: Any,
) -> None:
    from tests.support.e2e_support import SITE, poll

    console = edge_and_console
    manager = console.login("wang.mgr")
    feed = f"/api/alerts?rule=restricted_zone&site={SITE}"

    def listed() -> bool:
        return bool(manager.get(feed).json()["items"])

    poll("the restricted_zone alert in the console's feed", listed, 30, every_s=0.5)
    (item,) = manager.get(feed).json()["items"]
    assert (item["camera_id"], item["zone_id"], item["label"]) == (SITE_CAM, "ground", "person")
    assert item["score"] >= 0.5
    # the box's feet are in the zone: x in 0.55..1, y at the bottom
    x1, _, x2, y2 = item["box"]
    assert 0.55 <= (x1 + x2) / 2 <= 1.0 and y2 >= 0.7, item["box"]
    assert console.ingest.rejected == 0, "the console refused the registered edge's messages"
    stats = manager.get(f"/api/stats?site={SITE}").json()
    by_rule = {(d["camera_id"], d["rule"]): d["count"] for d in stats["per_day"]}
    assert by_rule == {(SITE_CAM, "restricted_zone"): 1}, stats
    other = manager.get(f"/api/alerts?rule=no_helmet&site={SITE}").json()
    assert other["items"] == []


# -- the console's pages --------------------------------------------------------------------


def test_console_pages_show_the_rule_and_zone_kind_in_chinese(browser: Any, served: Any) -> None:
    """The feed's filter and row, the statistics table and the zone editor's colour, in a real
    browser with a zh-CN user (the words come from enums.js, their text from lang/zh-CN.json)."""
    from tests.support.browser_support import login, open_page
    from tests.support.console_support import seed_alert

    served.add_user("zhou.mgr", "manager", ["dock"], "zh-CN")
    seed_alert(served, "dock", "crane", rule="restricted_zone")
    context = browser.new_context()
    page, errors = open_page(context)
    login(page, served.url, "zhou.mgr")

    page.goto(f"{served.url}/#/alerts?rule=restricted_zone")
    page.wait_for_selector("td.c-rule .rule-restricted_zone")
    assert page.locator("td.c-rule .rule-restricted_zone").inner_text() == "危险区域闯入"
    option = page.locator('#f-rule option[value="restricted_zone"]')
    assert option.inner_text() == "危险区域闯入"

    page.goto(f"{served.url}/#/stats")
    page.wait_for_selector("td:has-text('危险区域闯入')")

    stroke = page.evaluate(
        """() => { const e = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
        e.setAttribute("class", "zone kind-restricted"); document.body.append(e);
        return getComputedStyle(e).stroke; }"""
    )
    assert stroke == "rgb(245, 158, 11)", "kind-restricted has its own colour in style.css"
    context.close()
    assert errors == [], "the pages logged script errors"
