"""The edge config: literal YAML in, a validated tree or every problem with its line out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from sitewatch.contract.messages import Label
from sitewatch.edge.config.load import (
    ConfigError,
    ConfigProblem,
    dump_config,
    load_config,
    parse_config,
)
from sitewatch.edge.config.schema import SiteConfig, Zone, camera_rules
from sitewatch.edge.detections import LABELS

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "cameras.yaml"
MARK = "# <-"

MINIMAL = """\
version: 1
site: {id: site-a, name: Site A}
mqtt: {host: broker.local}
detector: {model: ../models/m.onnx}
evidence: {dir: ../var/evidence}
outbox: {path: ../var/outbox.sqlite}
cameras:
  - id: cam-1
    detect: rtsp://192.0.2.10/sub
    zones:
      - {id: floor, kind: helmet_required, points: [[0, 0], [1, 0], [1, 1]]}
      - {id: all, kind: no_smoking, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}
"""
# Head of every literal below: six lines, so the cameras start on line 7.
HEAD = "\n".join(MINIMAL.splitlines()[:6]) + "\n"


def _parse(text: str, tmp_path: Path) -> tuple[SiteConfig, list[ConfigProblem]]:
    return parse_config(text, tmp_path / "configs" / "site.yaml")


def _problems(text: str, tmp_path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        _parse(text, tmp_path)
    return caught.value.problems


def _marked_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if MARK in line)


def test_minimal_config_fills_defaults(tmp_path: Path) -> None:
    config, warnings = _parse(MINIMAL, tmp_path)
    cam = config.cameras[0]
    assert [w.path for w in warnings] == ["detector.model"]  # m.onnx does not exist
    assert cam.detect_fps == 2.0
    assert cam.rules.no_helmet.dwell_s == 2.0
    assert cam.rules.smoking.cooldown_s == 60.0
    assert cam.record is None
    assert config.site.timezone == "Asia/Shanghai"
    assert config.mqtt.client_id == "sitewatch-edge-site-a"
    assert config.detector.label_conf == {
        "helmet": 0.25,
        "head": 0.25,
        "person": 0.25,
        "cigarette": 0.25,
    }
    # relative paths are relative to the config file's folder
    assert config.evidence.dir == tmp_path / "var" / "evidence"
    assert config.detector.model == tmp_path / "models" / "m.onnx"
    assert camera_rules(config, "cam-1") == cam.rules
    # the edge's key beside the config file; no console key: config commands are refused
    assert config.trust.key_file == tmp_path / "configs" / "edge.key"
    assert config.trust.console_public_key is None


def test_label_names_match_the_detector() -> None:
    assert get_args(Label) == LABELS


def test_shipped_config_validates() -> None:
    config, warnings = parse_config(SHIPPED.read_text(encoding="utf-8"), SHIPPED)
    # the model may not be trained yet on this machine; nothing else may warn
    assert {w.path for w in warnings} <= {"detector.model"}
    assert [c.id for c in config.cameras] == ["cam-factory", "cam-smoking", "cam-gate"]
    kinds = {cam.id: sorted(z.kind for z in cam.zones) for cam in config.cameras}
    assert kinds == {
        "cam-factory": ["helmet_required", "mask"],
        "cam-smoking": ["no_smoking", "smoking_area"],
        "cam-gate": ["helmet_required"],
    }
    assert config.detector.model == REPO / "models" / "sitewatch.onnx"
    assert config.outbox.path == REPO / "var" / "outbox.sqlite"


CAMERA = """\
cameras:
  - id: cam-1
    detect: rtsp://192.0.2.10/sub
"""

INVALID = [
    pytest.param(
        HEAD + CAMERA + "    zones:\n      - id: floor\n        nmae: Floor  # <-\n"
        "        kind: mask\n        points: [[0, 0], [1, 0], [1, 1]]\n",
        "cameras[0].zones[0].nmae",
        ["unknown key 'nmae'", "one of the keys id, name, kind, points", "Did you mean 'name'?"],
        id="unknown-key",
    ),
    pytest.param(
        HEAD.replace("mqtt: {host: broker.local}", "mqtt: {host: broker.local, port: abc}  # <-")
        + CAMERA,
        "mqtt.port",
        ["valid integer", "got 'abc'"],
        id="wrong-type",
    ),
    pytest.param(
        HEAD + CAMERA + "    zones:\n"
        "      - {id: z, kind: mask, points: [[0, 0], [1.2, 0], [1, 1]]}  # <-\n",
        "cameras[0].zones[0].points[1][0]",
        ["less than or equal to 1", "got 1.2", "normalised"],
        id="point-outside-unit-square",
    ),
    pytest.param(
        HEAD + CAMERA + "    zones:\n      - {id: z, kind: mask, points: [[0, 0], [1, 1]]}  # <-\n",
        "cameras[0].zones[0].points",
        ["at least 3 items", "got 2"],
        id="two-points",
    ),
    pytest.param(
        HEAD + CAMERA + "    zones:\n"
        "      - {id: z, kind: mask, points: [[0, 0], [0.5, 0.5], [1, 1]]}  # <-\n",
        "cameras[0].zones[0]",
        ["a polygon with an area"],
        id="points-on-a-line",
    ),
    pytest.param(
        HEAD + CAMERA + "    zones:\n"
        "      - {id: z, kind: helmet_requred, points: [[0, 0], [1, 0], [1, 1]]}  # <-\n",
        "cameras[0].zones[0].kind",
        ["'helmet_required', 'no_smoking', 'smoking_area', 'restricted' or 'mask'", "Did you mean"],
        id="unknown-zone-kind",
    ),
    pytest.param(
        HEAD + CAMERA + "    rules:\n      smoking:\n        active_hours:\n"
        '          - {start: "7.30", end: "18:00"}  # <-\n',
        "cameras[0].rules.smoking.active_hours[0].start",
        ["24-hour HH:MM", "got '7.30'"],
        id="bad-hhmm",
    ),
    pytest.param(
        HEAD + CAMERA + "    rules:\n      smoking:\n        active_hours:\n"
        '          - {start: "08:00", end: "08:00"}  # <-\n',
        "cameras[0].rules.smoking.active_hours[0]",
        ["end different from start", "Leave active_hours out"],
        id="empty-time-window",
    ),
    pytest.param(
        HEAD + CAMERA + "  - id: cam-1  # <-\n    detect: rtsp://192.0.2.11/sub\n",
        "cameras[1].id",
        ["a camera id used once per site", "cameras[0]"],
        id="duplicate-camera-id",
    ),
    pytest.param(
        HEAD
        + CAMERA
        + "    zones:\n      - {id: z, kind: mask, points: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - {id: z, kind: mask, points: [[0, 0], [1, 0], [0, 1]]}  # <-\n",
        "cameras[0].zones[1].id",
        ["a zone id used once per camera"],
        id="duplicate-zone-id",
    ),
    pytest.param(
        HEAD + "cameras:\n  - id: cam-1  # <-\n    name: no stream\n",
        "cameras[0].detect",
        ["the required key 'detect'", "got nothing"],
        id="missing-key",
    ),
    pytest.param(
        HEAD + "cameras:\n  - id: cam-1\n    detect: ftp://192.0.2.10/sub  # <-\n",
        "cameras[0].detect",
        ["rtsp://", "got 'ftp://192.0.2.10/sub'"],
        id="stream-scheme",
    ),
    pytest.param(
        HEAD + "cameras:\n  - id: cam-1\n    detect: rtsp://192.0.2.10/sub\n"
        "    detect: rtsp://192.0.2.10/main  # <-\n",
        "cameras[0].detect",
        ["each key once per mapping", "first on line 9"],
        id="yaml-duplicate-key",
    ),
    pytest.param(
        HEAD.replace("../models/m.onnx}", "m, label_conf: {cigarett: 0.2}}  # <-") + CAMERA,
        "detector.label_conf.cigarett",
        ["'helmet', 'head', 'person' or 'cigarette'", "Did you mean 'cigarette'?"],
        id="unknown-label",
    ),
    pytest.param(
        HEAD.replace("Site A}", "Site A, timezone: Asia/Shanghia}  # <-") + CAMERA,
        "site.timezone",
        ["IANA time zone", "got 'Asia/Shanghia'"],
        id="unknown-timezone",
    ),
    pytest.param(
        HEAD.replace("{model: ../models/m.onnx}", "{model: m.onnx, batch_deadline_ms: 2000}  # <-")
        + CAMERA,
        "detector.batch_deadline_ms",
        ["less than max_frame_age_ms (1000)", "got 2000"],
        id="deadline-beyond-frame-age",
    ),
    pytest.param(
        HEAD + CAMERA + "    input_size: 600  # <-\n",
        "cameras[0].input_size",
        ["multiple of 32", "600"],
        id="camera-input-size",
    ),
    pytest.param(
        HEAD + CAMERA + "    head_look: sometimes  # <-\n",
        "cameras[0].head_look",
        ["boolean", "sometimes"],
        id="camera-head-look",
    ),
    pytest.param(
        HEAD + CAMERA + "    coarse_look: 256  # <-\n",
        "cameras[0].coarse_look",
        ["boolean", "256"],
        id="camera-coarse-look",
    ),
    pytest.param(
        HEAD.replace("{model: ../models/m.onnx}", "{model: m.onnx, coarse_look: often}  # <-")
        + CAMERA,
        "detector.coarse_look",
        ["boolean", "often"],
        id="detector-coarse-look",
    ),
    pytest.param(
        HEAD + CAMERA + "    tile_look: tiles  # <-\n",
        "cameras[0].tile_look",
        ["boolean", "tiles"],
        id="camera-tile-look",
    ),
    pytest.param(
        HEAD.replace("{model: ../models/m.onnx}", "{model: m.onnx, tile_cue: 0}  # <-") + CAMERA,
        "detector.tile_cue",
        ["greater than 0", "0"],
        id="detector-tile-cue",
    ),
    pytest.param(
        HEAD.replace("{model: ../models/m.onnx}", "{model: m.onnx, head_crop_size: 250}  # <-")
        + CAMERA,
        "detector.head_crop_size",
        ["multiple of 32", "250"],
        id="head-crop-size",
    ),
    pytest.param(
        HEAD.replace("local}", "local, tls: {enabled: true, certfile: c.pem}}  # <-") + CAMERA,
        "mqtt.tls",
        ["certfile and keyfile together"],
        id="cert-without-key",
    ),
]


@pytest.mark.parametrize(("text", "path", "says"), INVALID)
def test_invalid_config_reports_line_path_and_what_was_expected(
    text: str, path: str, says: list[str], tmp_path: Path
) -> None:
    problems = _problems(text, tmp_path)
    assert [p.path for p in problems] == [path], [str(p) for p in problems]
    problem = problems[0]
    assert problem.line == _marked_line(text)
    assert problem.file == str(tmp_path / "configs" / "site.yaml")
    for words in says:
        assert words in str(problem)


def test_unquoted_evening_time_is_text_not_base_60(tmp_path: Path) -> None:
    text = (
        HEAD
        + CAMERA
        + "    rules:\n      smoking:\n        active_hours: [{start: 18:00, end: 07:30}]\n"
    )
    config, _ = _parse(text, tmp_path)
    window = config.cameras[0].rules.smoking.active_hours
    assert window is not None
    assert (window[0].start, window[0].end) == ("18:00", "07:30")


def test_camera_rules_merge_over_site_defaults(tmp_path: Path) -> None:
    text = (
        HEAD + "defaults:\n  detect_fps: 3\n  rules:\n    no_helmet: {dwell_s: 4, cooldown_s: 30}\n"
        "    smoking: {enabled: false}\n"
        + CAMERA
        + "    detect_fps: 5\n    rules: {no_helmet: {dwell_s: 5}}\n"
        "  - id: cam-2\n    detect: rtsp://192.0.2.11/sub\n"
    )
    config, _ = _parse(text, tmp_path)
    one, two = config.cameras
    assert one.rules.no_helmet.dwell_s == 5  # the camera's own value wins
    assert one.rules.no_helmet.cooldown_s == 30  # the default kept where not overridden
    assert one.rules.no_helmet.min_score == 0.4  # neither: the built-in default
    assert one.rules.smoking.enabled is False
    assert one.detect_fps == 5
    assert two.rules.no_helmet.dwell_s == 4
    assert two.detect_fps == 3


def test_error_in_defaults_is_reported_once_on_its_own_line(tmp_path: Path) -> None:
    text = (
        HEAD
        + "defaults:\n  rules:\n    smoking: {dwell_s: -1}  # <-\n"
        + CAMERA
        + "  - id: cam-2\n    detect: rtsp://192.0.2.11/sub\n"
    )
    problems = _problems(text, tmp_path)
    assert [(p.path, p.line) for p in problems] == [
        ("defaults.rules.smoking.dwell_s", _marked_line(text))
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("version: 1\nsite:\n  id: a\n\tname: b\n", 4, id="tab"),
        pytest.param("version: 1\nsite: {id: a, name: b\nmqtt: {host: x}\n", 3, id="unclosed"),
        pytest.param("version: 1\nsite: a: b\n", 2, id="colon-in-value"),
    ],
)
def test_yaml_syntax_error_gives_its_line(text: str, line: int, tmp_path: Path) -> None:
    problems = _problems(text, tmp_path)
    assert len(problems) == 1
    assert problems[0].line == line
    assert problems[0].path == "(YAML syntax)"
    if "{" in text:
        assert "starts on line 2" in problems[0].got


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nsite: {id: a, name: Bau\xdfstelle}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [(p.line, p.expected) for p in caught.value.problems] == [(2, "UTF-8 text")]


def test_empty_file(tmp_path: Path) -> None:
    problems = _problems("# nothing yet\n", tmp_path)
    assert [(p.path, p.line) for p in problems] == [("(top level)", 1)]
    assert "a mapping" in problems[0].expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
version: 0
site: {id: Site A, name: Site A}
mqtt: {host: broker.local, prot: 1883}
detector: {model: m.onnx}
evidence: {dir: ev}
outbox: {path: o.sqlite}
cameras:
  - id: cam-1
    detect: rtsp://192.0.2.10/sub
    zones:
      - {id: z, kind: mask, points: [[0, 0], [2, 0], [1, 1]]}
"""
    problems = _problems(text, tmp_path)
    assert [(p.line, p.path) for p in problems] == [
        (1, "version"),
        (2, "site.id"),
        (3, "mqtt.prot"),
        (11, "cameras[0].zones[0].points[1][0]"),
    ]
    with pytest.raises(ConfigError) as caught:
        _parse(text, tmp_path)
    assert str(caught.value).count("\n") == 3


WARNINGS = [
    pytest.param(
        HEAD + CAMERA,
        {"cameras[0].zones"},
        id="rules-without-zones",
    ),
    pytest.param(
        HEAD + CAMERA + "    rules: {no_helmet: {enabled: false}}\n    zones:\n"
        "      - {id: all, kind: no_smoking, points: [[0, 0], [1, 0], [1, 1]]}\n",
        set(),
        id="each-enabled-rule-has-its-zone",
    ),
    pytest.param(
        HEAD.replace("{model: ../models/m.onnx}", "{model: m.onnx, label_conf: {head: 0.5}}")
        + MINIMAL[MINIMAL.index("cameras:") :],
        {"cameras[0].rules.no_helmet.min_score"},
        id="min-score-below-label-conf",
    ),
    pytest.param(
        HEAD.replace("{dir: ../var/evidence}", "{dir: ev, pre_roll_s: 1, segment_s: 4}")
        + MINIMAL[MINIMAL.index("cameras:") :],
        {"evidence.pre_roll_s"},
        id="pre-roll-shorter-than-segment",
    ),
]


@pytest.mark.parametrize(("text", "paths"), WARNINGS)
def test_warnings_do_not_stop_loading(text: str, paths: set[str], tmp_path: Path) -> None:
    config, warnings = _parse(text, tmp_path)
    assert isinstance(config, SiteConfig)
    found = {w.path for w in warnings if w.path != "detector.model"}
    if paths == {"cameras[0].zones"}:
        # the no_helmet rule has no helmet_required zone, smoking no no_smoking zone
        assert [w.got for w in warnings if w.path == "cameras[0].zones"] == [
            "no helmet_required zone on camera 'cam-1'",
            "no no_smoking zone on camera 'cam-1'",
        ]
    assert found == paths
    assert all(w.severity == "warning" and w.line for w in warnings)


def test_the_loader_runs_the_cross_checks(tmp_path: Path) -> None:
    """The schema validates each section; the cross-field checks import it (one way) and the
    loader runs them: ``model_validate`` alone takes two cameras with one id, the loader not."""
    camera = {"id": "cam-1", "detect": "rtsp://192.0.2.10/sub"}
    data = {
        "version": 1,
        "site": {"id": "s", "name": "S"},
        "mqtt": {"host": "b"},
        "detector": {"model": "m.onnx"},
        "evidence": {"dir": "ev"},
        "outbox": {"path": "o.sqlite"},
        "cameras": [camera, camera],
    }
    assert [cam.id for cam in SiteConfig.model_validate(data).cameras] == ["cam-1", "cam-1"]
    with pytest.raises(ConfigError, match="a camera id used once per site"):
        parse_config(json.dumps(data), tmp_path / "site.yaml")  # JSON is YAML


def test_dump_round_trips_and_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "configs" / "site.yaml"
    path.parent.mkdir()
    original = HEAD + (
        "defaults:\n  rules: {no_helmet: {cooldown_s: 30}}\n"
        "cameras:\n  - id: cam-1\n    detect: rtsp://192.0.2.10/sub\n"
        "    rules: {no_helmet: {dwell_s: 5}}\n    zones:\n"
        "      - {id: floor, kind: helmet_required, points: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - {id: all, kind: no_smoking, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}\n"
    )
    path.write_text(original, encoding="utf-8")
    config = load_config(path)
    moved = Zone(id="floor", kind="helmet_required", points=[(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)])
    cam = config.cameras[0].model_copy(update={"zones": [moved, config.cameras[0].zones[1]]})
    changed = config.model_copy(update={"cameras": [cam], "version": 2})

    dump_config(changed, path)

    assert path.with_name("site.yaml.prev").read_text(encoding="utf-8") == original
    again = load_config(path)
    assert again == changed
    text = path.read_text(encoding="utf-8")
    assert "../var/evidence" in text  # paths stay relative to the file's folder
    assert "cooldown_s" in text and text.count("cooldown_s") == 1  # inherited: not repeated
    assert again.cameras[0].rules.no_helmet.cooldown_s == 30
    assert again.cameras[0].rules.no_helmet.dwell_s == 5
    assert list(tmp_path.glob("configs/.*tmp")) == []


def test_dump_refuses_an_invalid_config_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "configs" / "site.yaml"
    path.parent.mkdir()
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(path)
    twice = config.model_copy(update={"cameras": [config.cameras[0], config.cameras[0]]})
    with pytest.raises(ConfigError, match="a camera id used once per site"):
        dump_config(twice, path)
    assert path.read_text(encoding="utf-8") == MINIMAL
    assert not path.with_name("site.yaml.prev").exists()


# --- the command line ---------------------------------------------------------------------


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "sitewatch"
    found = str(script) if script.is_file() else shutil.which("sitewatch")
    if found is None:
        pytest.skip("the sitewatch script is not installed: pip install -e . --no-deps")
    return subprocess.run(
        [found, "validate-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_valid_file_prints_a_summary() -> None:
    run = _validate(SHIPPED)
    assert run.returncode == 0, run.stderr
    assert "valid, version 1" in run.stdout
    assert "cameras: 3 (3 enabled)" in run.stdout
    assert "2 helmet_required, 1 mask, 1 no_smoking, 1 smoking_area" in run.stdout


def test_cli_invalid_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        HEAD.replace("version: 1", "version: one") + CAMERA + "    stall: 5\n", encoding="utf-8"
    )
    run = _validate(path)
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): (\S+): expected .+, got .+\.")
    matched = [m.groups() for m in map(pattern.match, lines) if m]
    assert matched == [("1", "version"), ("10", "cameras[0].stall")]
    assert "Did you mean 'stall_s'?" in run.stderr
    assert lines[-1] == f"{path}: invalid: 2 error(s)"
    assert run.stdout == ""


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    run = _validate(tmp_path / "absent.yaml")
    assert run.returncode == 2
    assert "cannot read config" in run.stderr
