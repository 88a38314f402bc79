"""Cameras added, edited and removed by signed CameraCommands: on a copy of the shipped
configs/cameras.yaml (the file keeps its comments; the whole config is validated as for a zone
change), and against a real running worker (real mosquitto, RTSP server, model, ffmpeg)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from sitewatch.console.schemas import CameraEditIn
from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from sitewatch.core.geometry import polygon_problem
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.commands import Check, Outcome, obey
from sitewatch.edge.config.load import load_config
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.publish.console_feed import camera_config_message
from tests.support.e2e_support import (
    CONSOLE_KEY,
    PREFIX,
    SITE,
    Collector,
    InProcessWorker,
    camera,
    camera_states,
    config_command,
    edge_states,
    poll,
    write_config,
)
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = Ed25519PrivateKey.generate()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The shipped config, commented throughout, taking commands signed by ``CONSOLE``."""
    target = tmp_path / "configs" / "cameras.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "configs" / "cameras.yaml", target)
    text = target.read_text().replace("  # console_public_key: ", "  console_public_key: ", 1)
    key = text.split("  console_public_key: ", 1)[1].split("\n", 1)[0]
    target.write_text(text.replace(key, public_key_text(CONSOLE), 1))
    return target


def camera_command(
    base: int | str,
    action: str,
    camera_id: str,
    key: Ed25519PrivateKey = CONSOLE,
    issued_at: datetime | None = None,
    site: str = "demo-site",
    **spec: Any,
) -> m.CameraCommand:
    cmd = m.CameraCommand(
        request_id=uuid.uuid4(),
        site_id=site,
        action=action,
        camera_id=camera_id,
        camera=m.CameraSpec(**spec) if action != "remove" else None,
        base_version=str(base),
        issued_by="admin1",
        issued_at=issued_at or datetime.now(UTC),
    )
    return sign(cmd, key)


def apply(config: SiteConfig, path: Path, cmd: m.Command, check: Check | None = None) -> Outcome:
    gate = CommandGate(path, config.trust.console_public_key, config.trust.command_max_age_s)
    return obey(gate, config, path, cmd, check)


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_a_camera_is_added_with_its_settings_and_every_comment_kept(config_file: Path) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    cmd = camera_command(
        config.version,
        "add",
        "cam-yard",
        name="Yard 堆场",
        detect="rtsp://10.0.0.9:554/sub",
        record="rtsp://10.0.0.9:554/main",
        detect_fps=3,
        input_size=544,
    )
    out = apply(config, config_file, cmd)
    assert out.applied, out.reason
    after = config_file.read_text()
    assert comments(after) == comments(before)
    assert after.startswith(before.split("version: 1", 1)[0] + "version: 2\n")
    added = after.split("rules:\n      smoking:\n        enabled: false       # no no_smoking zone "
                        "at the gate\n", 1)[1]  # fmt: skip
    assert added == (
        "  - id: cam-yard\n"
        "    name: Yard 堆场\n"
        "    detect: rtsp://10.0.0.9:554/sub\n"
        "    record: rtsp://10.0.0.9:554/main\n"
        "    detect_fps: 3\n"
        "    input_size: 544\n"
    )
    yard = load_config(config_file).camera("cam-yard")
    assert (yard.name, yard.detect_fps, yard.input_size, yard.zones) == ("Yard 堆场", 3.0, 544, [])
    assert out.config == load_config(config_file) and out.config.version == config.version + 1


def test_an_edit_changes_only_that_cameras_lines_and_keeps_a_masked_password(
    config_file: Path,
) -> None:
    text = config_file.read_text().replace(
        "rtsp://127.0.0.1:8554/gate-main", "rtsp://admin:s3cret@127.0.0.1:8554/gate-main", 1
    )
    config_file.write_text(text)
    config = load_config(config_file)
    shown = camera_config_message(config, config.camera("cam-gate")).camera
    assert shown is not None and shown.record == "rtsp://admin:***@127.0.0.1:8554/gate-main"
    assert (
        "s3cret" not in m.encode(camera_config_message(config, config.camera("cam-gate"))).decode()
    )
    cmd = camera_command(
        config.version,
        "edit",
        "cam-gate",
        name="Main gate 大门",
        detect="rtsp://127.0.0.1:8554/gate-sub2",
        record=shown.record,  # sent back as shown: the password stays
        detect_fps=1,
    )
    out = apply(config, config_file, cmd)
    assert out.applied, out.reason
    gate = out.config.camera("cam-gate")
    assert gate.record == "rtsp://admin:s3cret@127.0.0.1:8554/gate-main"
    assert (gate.name, gate.detect, gate.detect_fps) == (
        "Main gate 大门",
        "rtsp://127.0.0.1:8554/gate-sub2",
        1.0,
    )
    assert out.config.camera("cam-factory") == config.camera("cam-factory")
    assert out.config.camera("cam-smoking") == config.camera("cam-smoking")
    assert changed_lines(text, config_file.read_text()) == [
        "-version: 1",
        "+version: 2",
        "-    name: Site gate (composed from hard-hat photos)",
        "+    name: Main gate 大门",
        "-    detect: rtsp://127.0.0.1:8554/gate-sub",
        "+    detect: rtsp://127.0.0.1:8554/gate-sub2",
        "+    detect_fps: 1",
    ]


def test_a_cameras_looks_are_set_and_given_back_to_the_detector(config_file: Path) -> None:
    """On and off are written to the camera's entry; None takes the line away (the camera then
    follows detector.head_look / coarse_look / tile_look)."""
    text = config_file.read_text()
    config = load_config(config_file)
    gate = camera_config_message(config, config.camera("cam-gate")).camera
    looks = ("head_look", "coarse_look", "tile_look")
    assert gate is not None and [getattr(gate, k) for k in looks] == [None, None, None]
    spec = gate.model_dump(exclude=set(looks))
    on = apply(
        config,
        config_file,
        camera_command(
            config.version,
            "edit",
            "cam-gate",
            **spec,
            coarse_look=True,
            head_look=False,
            tile_look=True,
        ),
    )
    assert on.applied, on.reason
    assert changed_lines(text, config_file.read_text()) == [
        "-version: 1",
        "+version: 2",
        "+    head_look: false",
        "+    coarse_look: true",
        "+    tile_look: true",
    ]
    shown = camera_config_message(on.config, on.config.camera("cam-gate")).camera
    assert shown is not None and [getattr(shown, k) for k in looks] == [False, True, True]
    back = apply(
        on.config, config_file, camera_command(on.config.version, "edit", "cam-gate", **spec)
    )
    assert back.applied, back.reason
    assert changed_lines(text, config_file.read_text()) == ["-version: 1", "+version: 3"]
    assert back.config.camera("cam-gate").coarse_look is None
    assert back.config.camera("cam-gate").tile_look is None


def changed_lines(before: str, after: str) -> list[str]:
    import difflib

    return [
        d
        for d in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if d[:1] in "+-" and d[:3] not in ("+++", "---")
    ]


def test_a_removed_camera_leaves_with_its_lines_and_the_others_stay(config_file: Path) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    out = apply(config, config_file, camera_command(config.version, "remove", "cam-smoking"))
    assert out.applied, out.reason
    assert [c.id for c in out.config.cameras] == ["cam-factory", "cam-gate"]
    after = config_file.read_text()
    removed = before.split("  - id: cam-smoking\n", 1)[1].split("  - id: cam-gate\n", 1)[0]
    assert after == before.replace("version: 1\n", "version: 2\n", 1).replace(
        "  - id: cam-smoking\n" + removed, "", 1
    )
    assert out.config.camera("cam-gate") == config.camera("cam-gate")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda v: camera_command(v, "add", "cam-gate", detect="rtsp://h/s"), "already on this"),
        (lambda v: camera_command(v, "edit", "cam-nope", detect="rtsp://h/s"), "unknown camera"),
        (lambda v: camera_command(v, "remove", "cam-nope"), "unknown camera 'cam-nope'"),
        (lambda v: camera_command(v + 1, "remove", "cam-gate"), "against config version"),
        (  # the edge config's own words for a stream URL
            lambda v: camera_command(v, "add", "cam-new", detect="ftp://h/s"),
            "cameras[3].detect: expected a URL starting with rtsp://",
        ),
        (
            lambda v: camera_command(v, "edit", "cam-gate", detect="rtsp:///no-host"),
            "a URL with a host",
        ),
    ],
)
def test_a_camera_change_that_does_not_fit_is_refused_and_nothing_changes(
    config_file: Path, make: Any, words: str
) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    out = apply(config, config_file, make(config.version))
    assert not out.applied and out.reason is not None and words in out.reason, out.reason
    assert out.config is config and config_file.read_text() == before
    assert not config_file.with_name("cameras.yaml.prev").exists()


def test_the_last_camera_cannot_be_removed_and_the_workers_check_can_refuse(
    config_file: Path,
) -> None:
    config = load_config(config_file)
    for cam_id in ("cam-factory", "cam-smoking"):
        out = apply(config, config_file, camera_command(config.version, "remove", cam_id))
        assert out.applied, out.reason
        config = out.config
    before = config_file.read_text()
    last = apply(config, config_file, camera_command(config.version, "remove", "cam-gate"))
    assert last.reason is not None and "at least one camera" in last.reason
    no = apply(
        config,
        config_file,
        camera_command(config.version, "edit", "cam-gate", detect="rtsp://h/s", input_size=640),
        check=lambda new: f"input_size {new.camera('cam-gate').input_size} is not possible",
    )
    assert (no.applied, no.reason) == (False, "input_size 640 is not possible")
    assert config_file.read_text() == before


def test_the_contract_wants_settings_exactly_when_a_camera_is_added_or_edited() -> None:
    base = {
        "request_id": str(uuid.uuid4()),
        "site_id": "s1",
        "camera_id": "cam-1",
        "base_version": "3",
        "issued_by": "admin",
        "issued_at": datetime.now(UTC).isoformat(),
    }
    spec = {"detect": "rtsp://h/s"}
    m.CameraCommand.model_validate({**base, "action": "remove"})
    m.CameraCommand.model_validate({**base, "action": "add", "camera": spec})
    for bad in ({"action": "remove", "camera": spec}, {"action": "edit"}):
        with pytest.raises(ValidationError, match="camera settings on add and edit"):
            m.CameraCommand.model_validate({**base, **bad})
    with pytest.raises(ValidationError, match="multiple of 32"):
        m.CameraSpec(detect="rtsp://h/s", input_size=500)
    for look in ("yes", 1):  # a look is true, false or null (the detector's), nothing else
        with pytest.raises(ValidationError, match="valid boolean"):
            m.CameraSpec(detect="rtsp://h/s", coarse_look=look)
        with pytest.raises(ValidationError, match="valid boolean"):
            m.CameraSpec(detect="rtsp://h/s", tile_look=look)
        with pytest.raises(ValidationError, match="valid boolean"):
            CameraEditIn(base_version="1", head_look=look)
    assert m.masked_url("rtsp://u:p@h:554/s") == "rtsp://u:***@h:554/s"
    assert m.masked_url("rtsp://u@h/s") == "rtsp://u@h/s"  # no password: nothing to mask
    payload = m.encode(camera_command(1, "remove", "cam-1"))
    assert json.loads(payload)["schema"] == "sitewatch.camera_command/1"
    with pytest.raises(m.ContractError, match="sender uses the wrong topic"):
        m.decode(payload, m.ConfigCommand)  # what an edge that predates it answers


def test_the_applied_version_and_the_gate_survive_a_restart(config_file: Path) -> None:
    """A restart reads the version the last command wrote; the gate remembers what it took:
    a replay, or a command issued before the last one taken, is refused after it too."""
    config = load_config(config_file)
    first = camera_command(config.version, "edit", "cam-gate", detect="rtsp://h/a")
    out = apply(config, config_file, first)
    assert out.applied, out.reason
    restarted = load_config(config_file)  # what a new worker runs
    assert restarted == out.config and restarted.version == config.version + 1
    message = camera_config_message(restarted, restarted.camera("cam-gate"))
    assert message.version == str(restarted.version)  # the console sees it go up, never back
    replay = apply(restarted, config_file, first)
    assert replay.reason is not None and "a second time" in replay.reason
    earlier = camera_command(
        restarted.version,
        "edit",
        "cam-gate",
        detect="rtsp://h/b",
        issued_at=first.issued_at - timedelta(seconds=1),
    )
    late = apply(restarted, config_file, earlier)
    assert late.reason is not None and "after the last one taken" in late.reason
    assert load_config(config_file).version == restarted.version


# -- against a running worker -------------------------------------------------------------------


@pytest.fixture
def edge(
    tmp_path: Path,
    rtsp_server: RtspServer,  # noqa: F811
) -> Iterator[tuple[InProcessWorker, Collector]]:
    """A worker with two cameras (cam-a, cam-b) on a real RTSP server, and a collector."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    run: InProcessWorker | None = None
    collector: Collector | None = None
    try:
        cams = [
            camera("cam-a", rtsp_server.url("cam1"), []),
            camera("cam-b", rtsp_server.url("cam2"), []),
        ]
        config = write_config(tmp_path, broker.port, cams)
        collector = Collector(broker.port)
        run = InProcessWorker(config)
        yield run, collector
    finally:
        if run is not None:
            run.stop()
        if collector is not None:
            collector.close()
        broker.stop()


def send(col: Collector, cmd: m.Message | bytes) -> m.ConfigResult:
    """Publish a command as the console does and wait for the edge's answer to it."""
    payload = cmd if isinstance(cmd, bytes) else m.encode(cmd)
    request_id = json.loads(payload)["request_id"]
    topic = m.config_result(PREFIX, SITE)

    def results() -> list[m.ConfigResult]:
        got = (m.decode(r.payload, m.ConfigResult) for r in col.snapshot() if r.topic == topic)
        return [r for r in got if str(r.request_id) == request_id]

    col.publish(m.config_command(PREFIX, SITE), payload)
    col.wait(f"the result of {request_id}", lambda _: bool(results()), 30)
    return results()[0]


def fresh_frames(run: InProcessWorker, cam_id: str, after: int = 0) -> int:
    """Waits for a frame of ``cam_id`` newer than ``after``; its seq."""
    reader = run.worker.cameras[cam_id].reader
    poll(f"a frame from {cam_id}", lambda: reader.latest(after) is not None, 20)
    frame = reader.latest(after)
    return frame.seq if frame is not None else after


@pytest.mark.slow
def test_cameras_come_change_and_go_at_a_running_edge(
    edge: tuple[InProcessWorker, Collector],
    rtsp_server: RtspServer,  # noqa: F811
) -> None:
    run, col = edge
    worker = run.worker
    fresh_frames(run, "cam-a")
    seq_b = fresh_frames(run, "cam-b")
    reader_a, reader_b = worker.cameras["cam-a"].reader, worker.cameras["cam-b"].reader
    pipeline_a = worker.cameras["cam-a"].pipeline

    added = camera_command(
        1, "add", "cam-c", CONSOLE_KEY, site=SITE, name="Gate 大门", detect=rtsp_server.url("cam1")
    )
    result = send(col, added)
    assert (result.status, result.version, result.reason) == ("applied", "2", None)
    fresh_frames(run, "cam-c")
    col.wait(
        "cam-c online",
        lambda ms: any(s.state == "online" for s in camera_states(ms, "cam-c")),
        15,
    )
    config_topic = m.camera_config(PREFIX, SITE, "cam-c")
    col.wait("cam-c's config", lambda ms: any(r.topic == config_topic for r in ms), 10)
    shown = m.decode(
        [r for r in col.snapshot() if r.topic == config_topic][-1].payload, m.CameraConfig
    )
    assert shown.version == "2" and shown.camera is not None
    assert (shown.name, shown.camera.detect) == ("Gate 大门", rtsp_server.url("cam1"))

    edited = camera_command(
        2, "edit", "cam-a", CONSOLE_KEY, site=SITE, detect=rtsp_server.url("cam2"), detect_fps=1
    )
    result = send(col, edited)
    assert (result.status, result.version) == ("applied", "3")
    now_a = worker.cameras["cam-a"]
    assert now_a.reader is not reader_a and reader_a.stop(0.0), "cam-a's old reader stopped"
    assert now_a.pipeline is pipeline_a and now_a.config.detect_fps == 1.0
    fresh_frames(run, "cam-a")
    assert worker.cameras["cam-b"].reader is reader_b, "cam-b was not touched"
    fresh_frames(run, "cam-b", seq_b)
    assert worker.housekeeper.readers["cam-a"] is now_a.reader

    reader_c = worker.cameras["cam-c"].reader
    result = send(col, camera_command(3, "remove", "cam-c", CONSOLE_KEY, site=SITE))
    assert (result.status, result.version) == ("applied", "4")
    assert "cam-c" not in worker.cameras and "cam-c" not in worker.housekeeper.readers
    assert reader_c.stop(0.0), "cam-c's reader stopped"
    col.wait(
        "cam-c's status saying it was removed",
        lambda ms: any(
            s.state == "offline" and "removed" in (s.error or "")
            for s in camera_states(ms, "cam-c")
        ),
        10,
    )
    col.wait(
        "the edge status at version 4",
        lambda ms: any(s.config_version == "4" for s in edge_states(ms)),
        10,
    )
    assert [c.id for c in load_config(worker.path).cameras] == ["cam-a", "cam-b"]


@pytest.mark.slow
def test_a_bow_tie_from_the_console_is_refused_in_the_geometry_words(
    edge: tuple[InProcessWorker, Collector],
) -> None:
    """A console that sent a bow-tie (this one checks it too, so the JSON is made by hand): the
    edge cannot read the command and answers so, with the words a YAML zone would get."""
    run, col = edge
    bow_tie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    data = json.loads(m.encode(config_command("cam-a", "1", [])))
    data["zones"] = [{"id": "z", "kind": "helmet_required", "points": bow_tie}]
    result = send(col, json.dumps(data).encode())
    problem = polygon_problem(bow_tie)
    assert problem is not None
    assert result.status == "refused" and result.version == "1"
    assert result.reason is not None and problem in result.reason
    assert run.worker.config.version == 1


@pytest.mark.slow
def test_a_command_from_a_newer_console_is_refused_with_the_reason(
    edge: tuple[InProcessWorker, Collector],
) -> None:
    """What this edge answers a message version it does not know: what came, and to upgrade
    the edge (an edge older than CameraCommand could only log it)."""
    run, col = edge
    data = json.loads(m.encode(camera_command(1, "remove", "cam-b", CONSOLE_KEY, site=SITE)))
    data["schema"] = "sitewatch.camera_command/2"
    result = send(col, json.dumps(data).encode())
    assert (result.status, result.version) == ("refused", "1")
    assert result.reason is not None
    assert "cannot read the command" in result.reason
    assert "got newer sitewatch.camera_command/2" in result.reason
    assert "upgrade this reader" in result.reason
    assert set(run.worker.cameras) == {"cam-a", "cam-b"}
