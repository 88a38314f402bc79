"""Config changes from the console on a copy of the shipped configs/cameras.yaml."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract import messages as m
from edge.commands import apply_command
from edge.config_load import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    target = tmp_path / "configs" / "cameras.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "configs" / "cameras.yaml", target)
    return target


def command(base: str, camera: str = "cam-factory", **extra: Any) -> m.ConfigCommand:
    zone = m.ZoneSpec(
        id="new-floor",
        name="New floor",
        kind="helmet_required",
        points=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)],
    )
    return m.ConfigCommand(
        request_id=uuid.uuid4(),
        site_id="demo-site",
        camera_id=camera,
        base_version=base,
        issued_by="operator1",
        issued_at=datetime.now(UTC),
        zones=[zone],
        **extra,
    )


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
