"""Config changes from the console on a copy of the shipped configs/cameras.yaml, signed by a
console key the copy names (who may send them: tests/component/test_command_trust.py)."""

from __future__ import annotations

import difflib
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.commands import Outcome, obey
from sitewatch.edge.config.load import load_config
from sitewatch.edge.config.schema import SiteConfig

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = Ed25519PrivateKey.generate()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    target = tmp_path / "configs" / "cameras.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "configs" / "cameras.yaml", target)
    text = target.read_text().replace("  # console_public_key: ", "  console_public_key: ", 1)
    key = text.split("  console_public_key: ", 1)[1].split("\n", 1)[0]
    target.write_text(text.replace(key, public_key_text(CONSOLE), 1))
    return target


def apply_command(config: SiteConfig, path: Path, cmd: m.ConfigCommand) -> Outcome:
    """As the worker does it: through the command gate, which takes the signed command."""
    gate = CommandGate(path, config.trust.console_public_key, config.trust.command_max_age_s)
    return obey(gate, config, path, cmd)


def command(base: str, camera: str = "cam-factory", **extra: Any) -> m.ConfigCommand:
    zone = m.ZoneSpec(
        id="new-floor",
        name="New floor",
        kind="helmet_required",
        points=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)],
    )
    cmd = m.ConfigCommand(
        request_id=uuid.uuid4(),
        site_id="demo-site",
        camera_id=camera,
        base_version=base,
        issued_by="operator1",
        issued_at=datetime.now(UTC),
        zones=[zone],
        **extra,
    )
    return sign(cmd, CONSOLE)


def test_a_valid_change_is_written_and_versioned(config_file: Path) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    out = apply_command(config, config_file, command(str(config.version)))
    assert out.applied and out.reason is None
    assert out.config.version == config.version + 1
    assert [z.id for z in out.config.camera("cam-factory").zones] == ["new-floor"]
    assert out.config.camera("cam-smoking") == config.camera("cam-smoking")
    assert load_config(config_file) == out.config
    assert (config_file.parent / "cameras.yaml.prev").read_text() == before


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda v: command("999"), "made against config version 999"),
        (lambda v: command(v, camera="cam-nope"), "unknown camera 'cam-nope'"),
        (lambda v: command(v, rules={"no_helmet": {"dwell_s": -5}}), "dwell_s"),
        (lambda v: command(v, rules={"no_helmet": {"bogus": 1}}), "bogus"),
    ],
)
def test_an_invalid_change_is_refused_and_nothing_changes(
    config_file: Path, make: Any, reason: str
) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    out = apply_command(config, config_file, make(str(config.version)))
    assert not out.applied
    assert out.reason is not None and reason in out.reason
    assert out.config is config
    assert config_file.read_text() == before
    assert not (config_file.parent / "cameras.yaml.prev").exists()
    assert not (config_file.parent / "cameras.yaml.commands.jsonl").exists()


def test_a_bow_tie_zone_is_refused_at_the_edge_in_the_contracts_words(config_file: Path) -> None:
    """A YAML bow-tie zone gets the words a ConfigCommand's ZoneSpec gets (core.geometry)."""
    from sitewatch.core.geometry import polygon_problem
    from sitewatch.edge.config.errors import ConfigError

    bow_tie = [(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)]
    problem = polygon_problem(bow_tie)
    assert problem is not None
    text = config_file.read_text().replace(
        "points: [[0.0, 0.12], [1.0, 0.12], [1.0, 1.0], [0.0, 1.0]]",
        "points: [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]",
        1,
    )
    config_file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(config_file)
    expected, _, got = problem.partition(", got ")
    assert len(err.value.problems) == 1
    found = err.value.problems[0]
    assert found.expected == expected and got.startswith(found.got)
    assert found.path == "cameras[0].zones[0]" and found.line is not None


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_the_rewrite_keeps_the_operators_comments_and_layout(config_file: Path) -> None:
    """One zone moved: the version line and that zone's points line change, nothing else
    (comments, key order, blank lines, the zone left as it was with its own comment)."""
    config = load_config(config_file)
    before = config_file.read_text()
    assert before.count("#") > 100  # the shipped file is commented throughout
    floor = m.ZoneSpec(
        id="floor",
        name="Shop floor",
        kind="helmet_required",
        points=[(0.0, 0.12), (1.0, 0.12), (1.0, 1.0), (0.0, 1.0)],
    )
    wall = m.ZoneSpec(
        id="far-wall",
        name="Far shelving (people there are too small and cut off)",
        kind="mask",
        points=[(0.0, 0.0), (1.0, 0.0), (1.0, 0.15), (0.0, 0.15)],
    )
    cmd = command(str(config.version)).model_copy(update={"zones": [floor, wall]})
    out = apply_command(config, config_file, sign(cmd, CONSOLE))
    assert out.applied, out.reason
    after = config_file.read_text()
    assert _changed_lines(before, after) == [
        f"-version: {config.version}",
        f"+version: {config.version + 1}",
        "-        points: [[0.0, 0.0], [1.0, 0.0], [1.0, 0.12], [0.0, 0.12]]",
        "+        points: [[0.0, 0.0], [1.0, 0.0], [1.0, 0.15], [0.0, 0.15]]",
    ]
    assert load_config(config_file) == out.config
    assert out.config.camera("cam-factory").zones[1].points[2] == (1.0, 0.15)


def test_a_rule_override_changes_its_value_and_keeps_its_comment(config_file: Path) -> None:
    config = load_config(config_file)
    before = config_file.read_text()
    cmd = command(str(config.version), camera="cam-smoking", rules={"smoking": {"dwell_s": 5}})
    zones = [
        m.ZoneSpec(id=z.id, name=z.name, kind=z.kind, points=list(z.points))
        for z in config.camera("cam-smoking").zones
    ]
    out = apply_command(config, config_file, sign(cmd.model_copy(update={"zones": zones}), CONSOLE))
    assert out.applied, out.reason
    changed = _changed_lines(before, config_file.read_text())
    assert changed[0] == f"-version: {config.version}"
    assert changed[1] == f"+version: {config.version + 1}"
    assert changed[2:] == ["+      smoking:", "+        dwell_s: 5"]
    assert out.config.camera("cam-smoking").rules.smoking.dwell_s == 5
    assert out.config.camera("cam-smoking").rules.no_helmet.enabled is False  # untouched


def test_a_file_edited_by_hand_since_the_start_is_not_overwritten(config_file: Path) -> None:
    config = load_config(config_file)
    edited = config_file.read_text().replace("max_ring_gb: 2", "max_ring_gb: 3", 1)
    config_file.write_text(edited)
    out = apply_command(config, config_file, command(str(config.version)))
    assert not out.applied and out.reason is not None
    assert "edited since the edge started" in out.reason and "restart the edge" in out.reason
    assert config_file.read_text() == edited


LAYOUT = """\
# a hand-written layout: quotes, flow mappings, sequences not indented (PyYAML's own style)
version: 7
site: {id: demo-site, name: "Demo 工地", timezone: 'Asia/Shanghai'}
mqtt:
  host: "127.0.0.1"   # quoted on purpose
  topic_prefix: sitewatch
detector:
  model: model.onnx
evidence: {dir: var/evidence}
outbox: {path: var/outbox.sqlite}
trust: {console_public_key: KEY}
defaults:
  rules:
    no_helmet:
      active_hours:
      - {start: "07:00", end: "12:00"}   # morning shift
cameras:
- id: cam-a
  detect: 'rtsp://10.0.0.1/sub'
  zones:
  - {id: gate, name: "Gate 大门", kind: helmet_required, points: [[0, 0], [1, 0], [1, 1]]}
  - id: yard   # the yard
    kind: helmet_required
    points:
    - [0.1, 0.1]
    - [0.5, 0.1]
    - [0.5, 0.5]
"""


def test_the_rewrite_keeps_another_layout_as_it_is(tmp_path: Path) -> None:
    """Quotes, flow mappings and unindented sequences survive; the moved corner is the only
    zone line that changes, the unchanged zone keeps its flow mapping."""
    path = tmp_path / "cameras.yaml"
    path.write_text(LAYOUT.replace("KEY", public_key_text(CONSOLE)), encoding="utf-8")
    config = load_config(path)
    before = path.read_text(encoding="utf-8")
    gate, yard = (
        m.ZoneSpec(id=z.id, name=z.name, kind=z.kind, points=list(z.points))
        for z in config.camera("cam-a").zones
    )
    moved = yard.model_copy(update={"points": [(0.1, 0.1), (0.6, 0.1), (0.5, 0.5)]})
    cmd = command("7", camera="cam-a").model_copy(
        update={"site_id": "demo-site", "zones": [gate, moved]}
    )
    out = apply_command(config, path, sign(cmd, CONSOLE))
    assert out.applied, out.reason
    assert _changed_lines(before, path.read_text(encoding="utf-8")) == [
        "-version: 7",
        "+version: 8",
        "-    - [0.5, 0.1]",
        "+    - [0.6, 0.1]",
    ]
    assert load_config(path) == out.config
