"""End to end: one edge worker, real mosquitto, real RTSP cameras, the real model, real ffmpeg.

One worker (in this process) runs for the whole module with these cameras, all fed composed,
deterministic clips (tests/support/compose.py) that loop every 24 s: the scene is empty for 6 s, a
person stands in it from 6 s to 15 s, then it is empty again.

- ``cam-head``: a bare-headed man inside a ``helmet_required`` zone: one alert, with evidence;
- ``cam-corner``: the same clip, its zone in a corner where no head is: no alert; with the
  coarse look (a second pass at 256 per frame) that still finds and tracks the same head;
- ``cam-smoke`` / ``cam-smoke-area``: a smoker in a ``no_smoking`` zone, the second also in a
  ``smoking_area`` (only with a model that has the ``cigarette`` label);
- ``cam-ghost``: a mount the RTSP server does not have (down from the start);
- ``cam-flaky``: the bare-head clip on a second RTSP server that tests kill, restart and
  freeze (SIGSTOP).

Tests run in file order and share the worker; each waits only as long as its own evidence
needs. The whole module takes about a minute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import verify
from sitewatch.edge.command_gate import ANSWERED_PER_MINUTE
from sitewatch.edge.config.load import load_config
from sitewatch.edge.detect.detector import Detector
from tests.support.compose import BARE_HEAD, SMOKER, background, compose_clip, still_frame
from tests.support.e2e_support import (
    PREFIX,
    SITE,
    WHOLE,
    Collector,
    InProcessWorker,
    Received,
    alerts,
    camera,
    camera_states,
    check_evidence_first,
    config_command,
    dedupe,
    e2e_model,
    edge_public_key,
    edge_states,
    model_labels,
    needs_cigarette,
    poll,
    probe_clip,
    signed_by,
    write_config,
    zone,
)
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, _check_gstreamer

pytestmark = pytest.mark.slow

HEAD_ZONE = [[0.3, 0.0], [0.8, 0.0], [0.8, 0.6], [0.3, 0.6]]  # holds the head (centre 0.53, 0.22)
CORNER = [[0.0, 0.75], [0.2, 0.75], [0.2, 1.0], [0.0, 1.0]]  # bottom left: nobody there
CORNER_2 = [[0.8, 0.0], [1.0, 0.0], [1.0, 0.2], [0.8, 0.2]]  # top right: nobody there either
SMOKING_AREA = [[0.2, 0.6], [0.8, 0.6], [0.8, 1.0], [0.2, 1.0]]  # holds the smoker's feet
LOOP_S, VISIBLE = 24.0, (6.0, 15.0)
PRE_ROLL_S = POST_ROLL_S = 4.0  # as e2e_support.write_config sets them
CLIP_S = PRE_ROLL_S + POST_ROLL_S


@dataclass
class Site:
    folder: Path
    config: Path
    broker: Mosquitto
    flaky: RtspServer
    collector: Collector
    run: InProcessWorker
    smoking: bool


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _check_gstreamer()
    folder = tmp_path_factory.mktemp("edge-e2e")
    model = e2e_model()
    smoking = "cigarette" in model_labels(model)
    check_bare_head(model)
    bare = compose_clip(BARE_HEAD, LOOP_S, VISIBLE)
    mounts = {"bare": bare}
    if smoking:
        mounts["smoke"] = compose_clip(SMOKER, LOOP_S, VISIBLE)
    with ExitStack() as stack:  # whatever was started is stopped, whatever fails
        broker = Mosquitto(folder / "mosquitto")
        stack.callback(broker.stop)
        broker.start()
        main, flaky = RtspServer(mounts), RtspServer({"bare": bare})
        stack.callback(main.close)
        stack.callback(flaky.close)
        main.start()
        flaky.start()
        cams = [
            camera("cam-head", main.url("bare"), [zone("work", "helmet_required", HEAD_ZONE)]),
            camera(
                "cam-corner",
                main.url("bare"),
                [zone("corner", "helmet_required", CORNER)],
                coarse_look=True,
            ),
            camera("cam-ghost", main.url("no-such-mount"), []),
            camera("cam-flaky", flaky.url("bare"), []),
        ]
        if smoking:
            no_smoking = zone("all", "no_smoking", WHOLE)
            cams.append(camera("cam-smoke", main.url("smoke"), [no_smoking]))
            area = zone("smoke-point", "smoking_area", SMOKING_AREA)
            cams.append(camera("cam-smoke-area", main.url("smoke"), [no_smoking, area]))
        config = write_config(folder, broker.port, cams)
        collector = Collector(broker.port)
        stack.callback(collector.close)
        run = InProcessWorker(config)
        yield Site(folder, config, broker, flaky, collector, run, smoking)
        run.stop()
        # at exit the retained edge status is offline, with the config version it ran last
        offline = "the edge's offline status"
        collector.wait(offline, lambda ms: edge_states(ms)[-1].state == "offline", 5)
        last = edge_states(collector.snapshot())[-1]
        assert (last.state, last.config_version) == ("offline", str(run.worker.config.version))
        assert verify(last, edge_public_key(config)), "the last will is signed too"
        # ...and so is every camera's retained status, for a console that connects later
        ids = [str(cam["id"]) for cam in cams]
        late = Collector(broker.port)
        try:
            late.wait(
                "every camera's retained status",
                lambda ms: all(camera_states(ms, c) for c in ids),
                10,
            )
            got = late.snapshot()
        finally:
            late.close()
        assert {c: camera_states(got, c)[-1].state for c in ids} == dict.fromkeys(ids, "offline")


def check_bare_head(model: Path) -> None:
    """The composed clip is only valid if this model sees one bare head and no helmet in it."""
    dets = Detector(model, conf=0.25, second_look=False).detect([still_frame(BARE_HEAD)])[0]
    names = dets.label_names()
    found = list(zip(names, dets.scores.tolist(), strict=True))
    heads = [s for n, s in found if n == "head"]
    assert len(heads) == 1 and heads[0] >= 0.5 and "helmet" not in names, (
        f"{model.name} on the composed bare-head frame: {found};"
        " expected one head >= 0.5 and no helmet: pick another still in tests/support/compose.py"
    )


def ended(camera_id: str) -> Callable[[list[Received]], bool]:
    return lambda msgs: any(a.event == "end" for a in alerts(msgs, camera_id))


def test_camera_down_at_start_is_offline_while_the_others_work(site: Site) -> None:
    col = site.collector
    col.wait(
        "cam-head online and a status of cam-ghost",
        lambda msgs: (
            any(s.state == "online" for s in camera_states(msgs, "cam-head"))
            and bool(camera_states(msgs, "cam-ghost"))
        ),
        20,
    )
    late = Collector(site.broker.port)  # a console that connects now sees the retained states
    try:
        late.wait(
            "cam-ghost's status with its error",
            lambda msgs: any(s.error for s in camera_states(msgs, "cam-ghost")),
            15,
        )
        got = late.snapshot()
    finally:
        late.close()
    ghosts, head = camera_states(got, "cam-ghost"), camera_states(got, "cam-head")[-1]
    first = next(r for r in got if r.topic == m.camera_status(PREFIX, SITE, "cam-ghost"))
    assert first.retain, "a console that connects later learns the state at once (retained)"
    assert [(g.state, g.last_frame_at) for g in ghosts] == [("offline", None)] * len(ghosts)
    assert head.state == "online", head
    # fps_in counts frames received (the window is still filling), not the frames analysed
    # (25 fps sent, 2 analysed; on a loaded 2-core box the window has seen as few as 5 fps)
    assert head.fps_in > head.fps_analysed + 1.0 and head.fps_analysed < 5, head


def test_bare_head_in_zone_raises_one_alert_with_evidence(site: Site) -> None:
    col = site.collector
    col.wait("the end of cam-head's alert", ended("cam-head"), 60)
    received = col.snapshot()
    by_id = dedupe(alerts(received, "cam-head"))
    assert len(by_id) == 1, f"one person, one alert: got ids {list(by_id)}"
    ((alert_id, events),) = by_id.items()
    assert [e.seq for e in events] == list(range(len(events))), "no seq missing"
    assert events[0].event == "start" and events[-1].event == "end"
    assert all(e.event == "update" for e in events[1:-1])
    assert len(events) <= 6, f"a few updates, not a storm: {[e.event for e in events]}"
    start, end = events[0], events[-1]
    assert (start.rule, start.zone_id, start.label) == ("no_helmet", "work", "head")
    x1, y1, x2, y2 = start.box
    assert x1 < 0.53 < x2 and y1 < 0.22 < y2, f"the box is on the head: {start.box}"
    assert end.ended_at is not None and end.ended_at > start.started_at

    files = check_evidence_first(received, alert_id)  # bytes before the message listing them
    kinds = {f.kind: f for f in end.evidence}
    assert set(kinds) == {"snapshot", "snapshot_clean", "clip", "still", "still_annotated"}
    assert start.evidence == [], "the start goes first; its snapshots follow in an update"
    first = next(e for e in events if e.evidence)
    assert {f.kind for f in first.evidence} == {"snapshot", "snapshot_clean"}
    images = {}
    for kind in ("snapshot", "snapshot_clean", "still", "still_annotated"):  # record = detect
        image = cv2.imdecode(np.frombuffer(files[kinds[kind].name], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (360, 640, 3)
        images[kind] = image
    # the box is drawn on the annotated still's copy, along the alert's normalised box
    ym, xl = round((y1 + y2) / 2 * 360), round(x1 * 640)
    moved = np.abs(images["still_annotated"].astype(int) - images["still"].astype(int)).max(axis=2)
    assert moved[ym - 2 : ym + 3, xl - 2 : xl + 3].max() > 60, "no box line on the annotated still"
    codec, duration, clip = probe_clip(files[kinds["clip"].name], site.folder)
    assert codec == "h264"
    assert abs(duration - CLIP_S) <= 1.0, f"clip of {duration:.2f} s, expected {CLIP_S} +- 1"
    assert kinds["clip"].duration_s is not None and abs(kinds["clip"].duration_s - duration) < 0.1
    # the clip is of the right moment: the man is in view PRE_ROLL_S into it, when it fired
    video = cv2.VideoCapture(str(clip))
    video.set(cv2.CAP_PROP_POS_MSEC, PRE_ROLL_S * 1000)
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (360, 640, 3)
    x, y, h = BARE_HEAD.at[0], BARE_HEAD.at[1], BARE_HEAD.height
    person = np.s_[y + 20 : y + h - 20, x + 20 : x + 140]
    diff = np.abs(frame[person].astype(np.int16) - background()[person]).mean()
    assert diff > 20, f"the clip's frame at the alert shows the empty scene (diff {diff:.1f})"


def test_zone_where_no_head_is_raises_nothing(site: Site) -> None:
    col = site.collector
    col.wait("the end of cam-head's alert", ended("cam-head"), 60)
    start = next(a for a in alerts(col.snapshot(), "cam-head") if a.event == "start")
    assert alerts(col.snapshot(), "cam-corner") == []
    # the corner camera did see the same head at the same time, outside its zone
    seen = site.run.worker.cameras["cam-corner"].pipeline.frame_at(start.started_at.timestamp())
    assert seen is not None
    tracked = seen.detections[seen.detections.track_ids >= 0]
    assert "head" in tracked.label_names(), "the corner camera tracked the bare head"
    heads = tracked.with_label("head")
    assert len(heads) == 1, f"one head, with the coarse look too: {heads.xyxy.tolist()}"
    batcher = site.run.worker.batcher
    looks = {c: getattr(batcher.looks(c), "coarse_look", None) for c in ("cam-corner", "cam-head")}
    assert looks == {"cam-corner": True, "cam-head": False}


@needs_cigarette()
def test_smoking_area_silences_smoking_and_no_smoking_zone_alerts(site: Site) -> None:
    col = site.collector
    col.wait("the end of cam-smoke's alert", ended("cam-smoke"), 60)
    by_id = dedupe(alerts(col.snapshot(), "cam-smoke"))
    assert len(by_id) == 1, f"one smoker, one alert: got {list(by_id)}"
    ((alert_id, events),) = by_id.items()
    assert (events[0].rule, events[0].zone_id) == ("smoking", "all")
    check_evidence_first(col.snapshot(), alert_id)
    assert alerts(col.snapshot(), "cam-smoke-area") == [], "no alert in the smoking area"
    # the other camera did see the smoker, with the cigarette, when the first one fired
    area = site.run.worker.cameras["cam-smoke-area"].pipeline
    seen = area.frame_at(events[0].started_at.timestamp())
    assert seen is not None
    tracked = seen.detections[seen.detections.track_ids >= 0].label_names()
    assert "cigarette" in seen.detections.label_names() and "person" in tracked


def test_rtsp_server_restart_goes_offline_then_online_by_itself(site: Site) -> None:
    col = site.collector
    col.wait(
        "cam-flaky online",
        lambda msgs: any(s.state == "online" for s in camera_states(msgs, "cam-flaky")),
        20,
    )
    mark = len(col.snapshot())
    site.flaky.stop()
    col.wait(
        "cam-flaky offline or stalled",
        lambda msgs: any(s.state != "online" for s in camera_states(msgs[mark:], "cam-flaky")),
        15,
    )
    time.sleep(2.0)
    mark = len(col.snapshot())
    site.flaky.start()
    col.wait(
        "cam-flaky back online",
        lambda msgs: any(s.state == "online" for s in camera_states(msgs[mark:], "cam-flaky")),
        40,
    )
    stats = site.run.worker.cameras["cam-flaky"].reader.stats()
    assert stats.reconnects >= 1 and stats.state == "online"
    assert site.run.worker.cameras["cam-head"].reader.stats().state == "online"


def test_frozen_rtsp_server_is_stalled_then_online_again(site: Site) -> None:
    """SIGSTOP: the connection stays open and no data flows (a hung camera, no EOF)."""
    col = site.collector
    reader = site.run.worker.cameras["cam-flaky"].reader
    poll("cam-flaky online", lambda: reader.stats().state == "online", 40)
    mark = len(col.snapshot())
    site.flaky.pause()
    try:
        col.wait(
            "cam-flaky stalled",
            lambda msgs: any(s.state == "stalled" for s in camera_states(msgs[mark:], "cam-flaky")),
            15,
        )
    finally:
        site.flaky.resume()
    mark = len(col.snapshot())
    col.wait(
        "cam-flaky online after the freeze",
        lambda msgs: any(s.state == "online" for s in camera_states(msgs[mark:], "cam-flaky")),
        40,
    )
    assert reader.stats().stalls >= 1


def test_config_command_moves_a_zone_and_a_stale_one_is_refused(site: Site) -> None:
    col, worker = site.collector, site.run.worker
    head = worker.cameras["cam-head"]
    poll("a frame from cam-head", lambda: head.reader.latest() is not None, 20)
    pipeline_before, frame_before = head.pipeline, head.reader.latest()
    assert frame_before is not None
    topic = m.config_command(PREFIX, SITE)

    cmd = config_command("cam-corner", "1", [zone("corner", "helmet_required", CORNER_2)])
    col.publish(topic, m.encode(cmd))
    result = wait_result(col, str(cmd.request_id))
    assert (result.status, result.version, result.reason) == ("applied", "2", None)
    on_disk = load_config(site.config)
    assert on_disk.version == 2
    assert [list(map(list, z.points)) for z in on_disk.camera("cam-corner").zones] == [CORNER_2]
    prev = load_config(site.config.with_name(site.config.name + ".prev"))
    assert prev.version == 1 and [
        list(map(list, z.points)) for z in prev.camera("cam-corner").zones
    ] == [CORNER]
    assert [list(map(list, z.points)) for z in worker.cameras["cam-corner"].pipeline.zones] == [
        CORNER_2
    ]
    col.wait(
        "the edge status with config version 2",
        lambda msgs: any(s.config_version == "2" for s in edge_states(msgs)),
        10,
    )
    # the console's zone editor sees the new zones (retained CameraConfig) over a snapshot
    corner_topic = m.camera_config(PREFIX, SITE, "cam-corner")
    col.wait(
        "cam-corner's config at version 2",
        lambda msgs: any(
            r.topic == corner_topic and m.decode(r.payload, m.CameraConfig).version == "2"
            for r in msgs
        ),
        10,
    )
    latest = [r for r in col.snapshot() if r.topic == corner_topic][-1]
    shown = m.decode(latest.payload, m.CameraConfig)
    assert [list(map(list, z.points)) for z in shown.zones] == [CORNER_2]
    assert (
        shown.rules["no_helmet"]["dwell_s"] == on_disk.camera("cam-corner").rules.no_helmet.dwell_s
    )
    snap_topic = m.camera_snapshot(PREFIX, SITE, "cam-head")
    col.wait("a snapshot of cam-head", lambda ms: any(r.topic == snap_topic for r in ms), 10)
    jpeg = next(r.payload for r in col.snapshot() if r.topic == snap_topic)
    assert jpeg[:3] == b"\xff\xd8\xff"
    # the other camera never stopped: same pipeline, new frames
    assert head.pipeline is pipeline_before
    poll("new frames on cam-head", lambda: head.reader.latest(frame_before.seq) is not None, 5)

    written = site.config.read_bytes()
    stale = config_command("cam-corner", "1", [zone("corner", "helmet_required", CORNER)])
    col.publish(topic, m.encode(stale))
    refused = wait_result(col, str(stale.request_id))
    assert refused.status == "refused" and refused.version == "2"
    assert refused.reason is not None and "version 1" in refused.reason
    assert site.config.read_bytes() == written
    assert [list(map(list, z.points)) for z in worker.cameras["cam-corner"].pipeline.zones] == [
        CORNER_2
    ]


def test_an_unsigned_command_is_refused_and_a_console_signed_one_applied(site: Site) -> None:
    """The attack of issue 12: anyone who can publish reads the version from the edge's
    retained status and sends config/set to mask the whole frame and turn the rules off."""
    col, worker = site.collector, site.run.worker
    attacker = Collector(site.broker.port)
    try:
        attacker.wait("the retained edge status", lambda ms: bool(edge_states(ms)), 10)
        version = edge_states(attacker.snapshot())[-1].config_version
    finally:
        attacker.close()
    topic = m.config_command(PREFIX, SITE)
    off = {"no_helmet": {"enabled": False}, "smoking": {"enabled": False}}
    mask = [zone("all", "mask", WHOLE)]
    written, zones = site.config.read_bytes(), worker.cameras["cam-head"].pipeline.zones
    unsigned = config_command("cam-head", version, mask, rules=off, key=None)
    forged = config_command("cam-head", version, mask, rules=off, key=Ed25519PrivateKey.generate())
    for cmd, reason in ((unsigned, "got an unsigned one"), (forged, "does not match")):
        col.publish(topic, m.encode(cmd))
        result = wait_result(col, str(cmd.request_id))
        assert (result.status, result.version) == ("refused", version)
        assert result.reason is not None and reason in result.reason, result.reason
        assert verify(result, edge_public_key(site.config)), "the answer is the edge's"
    assert site.config.read_bytes() == written
    assert worker.cameras["cam-head"].pipeline.zones == zones
    assert worker.cameras["cam-head"].config.rules.no_helmet.enabled

    # 300 chained commands rewrote the YAML 300 times in 9 s; now none does, few are answered,
    # and the console's command that follows them still goes through
    flood = [config_command("cam-head", version, mask, rules=off, key=None) for _ in range(300)]
    for cmd in flood:
        col.publish(topic, m.encode(cmd))
    signed = config_command("cam-corner", version, [zone("corner", "helmet_required", CORNER)])
    col.publish(topic, m.encode(signed))
    result = wait_result(col, str(signed.request_id))
    assert (result.status, result.version) == ("applied", str(int(version) + 1)), result.reason
    prev = load_config(site.config.with_name(site.config.name + ".prev"))
    assert str(prev.version) == version, "the YAML was written once, by the console's command"
    answered = [r for cmd in flood for r in results_of(col, str(cmd.request_id))]
    assert {r.status for r in answered} <= {"refused"}
    assert len(answered) <= ANSWERED_PER_MINUTE, f"{len(answered)} refusals answered"
    history = site.config.with_name(site.config.name + ".commands.jsonl").read_text()
    last = json.loads(history.splitlines()[-1])
    assert (last["request_id"], last["issued_by"]) == (str(signed.request_id), "e2e-test")
    col.publish(topic, m.encode(signed))  # replayed as it was
    wait_result(col, str(signed.request_id), count=2)
    replayed = results_of(col, str(signed.request_id))[1]
    assert replayed.status == "refused" and replayed.reason is not None
    assert "a second time" in replayed.reason


def test_everything_the_edge_published_is_signed_by_its_key(site: Site) -> None:
    received = site.collector.snapshot()
    topics = {r.topic.split("/", 2)[2] for r in received}
    kinds = {"alerts", "edge/status", "config/result", "cameras/cam-head/status"}
    assert kinds | {"cameras/cam-head/config"} <= topics, topics
    assert signed_by(edge_public_key(site.config), received) == []


def test_no_second_alert_when_the_person_comes_back(site: Site) -> None:
    """By now the clip has looped: the same man came back within the cooldown."""
    poll(
        "the person's second appearance",
        lambda: time.monotonic() - site.run.started > LOOP_S + VISIBLE[0] + 6.0,
        LOOP_S + VISIBLE[1],
        every_s=0.5,
    )
    assert len(dedupe(alerts(site.collector.snapshot(), "cam-head"))) == 1
    assert alerts(site.collector.snapshot(), "cam-corner") == []


def results_of(col: Collector, request_id: str) -> list[m.ConfigResult]:
    topic = m.config_result(PREFIX, SITE)
    decoded = (m.decode(x.payload, m.ConfigResult) for x in col.snapshot() if x.topic == topic)
    return [r for r in decoded if str(r.request_id) == request_id]


def wait_result(col: Collector, request_id: str, count: int = 1) -> m.ConfigResult:
    col.wait(f"the result of {request_id}", lambda _: len(results_of(col, request_id)) >= count, 15)
    return results_of(col, request_id)[0]
