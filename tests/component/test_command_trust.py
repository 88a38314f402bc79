"""The edge obeys only config commands the console signed, fresh, in order and never seen.

Pure: the command gate and ``obey`` on a copy of the shipped configs/cameras.yaml, with keys
made here. Every refusal leaves the YAML as it was (no ``.prev`` either) and says what was
expected; the end-to-end tests (test_edge_e2e.py) send the same over a real broker.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import fingerprint, public_key_text, sign
from sitewatch.edge.command_gate import ANSWERED_PER_MINUTE, APPLIED_PER_MINUTE, CommandGate
from sitewatch.edge.commands import obey
from sitewatch.edge.config.load import ConfigError, load_config, load_config_with_warnings
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.identity import edge_key

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = Ed25519PrivateKey.generate()
ATTACKER = Ed25519PrivateKey.generate()
ZONE = m.ZoneSpec(
    id="new-floor",
    name="New floor",
    kind="helmet_required",
    points=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)],
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The shipped config, its trust section naming :data:`CONSOLE`'s public key."""
    target = tmp_path / "configs" / "cameras.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "configs" / "cameras.yaml", target)
    text = target.read_text()
    commented = re.search(r"^  # console_public_key: .*$", text, re.MULTILINE)
    assert commented is not None, "the shipped config shows where the console's key goes"
    key = f"  console_public_key: {public_key_text(CONSOLE)}"
    target.write_text(text.replace(commented[0], key))
    return target


def gate_of(path: Path, config: SiteConfig) -> CommandGate:
    return CommandGate(path, config.trust.console_public_key, config.trust.command_max_age_s)


def command(
    version: int, *, ago_s: float = 0.0, key: Ed25519PrivateKey | None = CONSOLE, **extra: Any
) -> m.ConfigCommand:
    """A command for cam-factory made against ``version``, issued ``ago_s`` ago, signed by
    ``key`` (None: unsigned)."""
    cmd = m.ConfigCommand(
        request_id=extra.pop("request_id", uuid.uuid4()),
        site_id="demo-site",
        camera_id="cam-factory",
        base_version=str(version),
        issued_by="wang.admin",
        issued_at=datetime.now(UTC) - timedelta(seconds=ago_s),
        zones=[ZONE],
        **extra,
    )
    return cmd if key is None else sign(cmd, key)


def test_a_signed_command_is_applied_and_recorded(config_file: Path) -> None:
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    cmd = command(config.version)
    out = obey(gate, config, config_file, cmd)
    assert out.applied and out.reason is None and out.config.version == config.version + 1
    assert [z.id for z in load_config(config_file).camera("cam-factory").zones] == ["new-floor"]
    (line,) = gate.history_path.read_text().splitlines()
    entry = json.loads(line)
    assert entry["issued_by"] == "wang.admin" and entry["version"] == config.version + 1
    assert entry["request_id"] == str(cmd.request_id)
    assert entry["console_key"] == fingerprint(CONSOLE)
    assert datetime.fromisoformat(entry["issued_at"]) == cmd.issued_at
    assert gate.history_path == config_file.with_name("cameras.yaml.commands.jsonl")


def _tampered(version: int) -> m.ConfigCommand:
    """Signed by the console, then its author changed on the way."""
    return command(version).model_copy(update={"issued_by": "mallory"})


def _zones_swapped(version: int) -> m.ConfigCommand:
    return command(version).model_copy(update={"zones": []})


REFUSED: list[Any] = [
    pytest.param(lambda v: command(v, key=None), "got an unsigned one", id="unsigned"),
    pytest.param(lambda v: command(v, key=ATTACKER), "does not match", id="wrong-key"),
    pytest.param(_tampered, "does not match", id="tampered-author"),
    pytest.param(_zones_swapped, "does not match", id="tampered-zones"),
    pytest.param(lambda v: command(v, ago_s=301), "within the last 300 s", id="stale"),
    pytest.param(lambda v: command(v, ago_s=-60), "at most 30 s ahead", id="future"),
]


@pytest.mark.parametrize(("make", "reason"), REFUSED)
def test_a_command_not_signed_fresh_by_the_console_is_refused_and_nothing_changes(
    config_file: Path, make: Callable[[int], m.ConfigCommand], reason: str
) -> None:
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    before = config_file.read_bytes()
    out = obey(gate, config, config_file, make(config.version))
    assert not out.applied and out.config is config
    assert out.reason is not None and reason in out.reason, out.reason
    assert out.reason.startswith("expected ")
    assert config_file.read_bytes() == before
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["cameras.yaml"]


def test_a_replayed_command_is_refused_even_after_a_restart(config_file: Path) -> None:
    config = load_config(config_file)
    cmd = command(config.version)
    first = obey(gate_of(config_file, config), config, config_file, cmd)
    assert first.applied
    written = config_file.read_bytes()
    # the attacker replays it against the new version, and once more after the edge restarts
    replay = command(first.config.version, request_id=cmd.request_id)
    out = obey(gate_of(config_file, first.config), first.config, config_file, cmd)
    again = obey(gate_of(config_file, first.config), first.config, config_file, replay)
    assert out.reason is not None and "a second time" in out.reason, out.reason
    assert again.reason is not None and "a second time" in again.reason, again.reason
    assert config_file.read_bytes() == written


def test_a_command_older_than_the_last_one_taken_is_refused(config_file: Path) -> None:
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    late = command(config.version + 1, ago_s=10)  # made earlier, arrives after the newer one
    assert obey(gate, config, config_file, command(config.version)).applied
    new = load_config(config_file)
    written = config_file.read_bytes()
    out = obey(gate, new, config_file, late)
    assert out.reason is not None and "issued after the last one taken" in out.reason
    assert config_file.read_bytes() == written


def test_a_refused_signed_command_is_taken_and_cannot_be_replayed_later(
    config_file: Path,
) -> None:
    """Made against a version the edge does not run: refused; replayed once that version
    is current it is still refused (the console was told it failed)."""
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    ahead = command(config.version + 1)
    first = obey(gate, config, config_file, ahead)
    assert first.reason is not None and "made against config version" in first.reason
    assert obey(gate, config, config_file, command(config.version)).applied
    out = obey(gate, load_config(config_file), config_file, ahead)
    assert out.reason is not None and "a second time" in out.reason


def test_no_console_key_refuses_every_command_saying_how_to_set_it(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    shutil.copy(ROOT / "configs" / "cameras.yaml", path)
    config = load_config(path)
    assert config.trust.console_public_key is None
    before = path.read_bytes()
    out = obey(gate_of(path, config), config, path, command(config.version))
    assert out.reason is not None and "trust.console_public_key" in out.reason
    assert "sitewatch server public-key" in out.reason
    assert path.read_bytes() == before


def test_at_most_so_many_commands_are_applied_a_minute(config_file: Path) -> None:
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    for _ in range(APPLIED_PER_MINUTE):
        out = obey(gate, config, config_file, command(config.version))
        assert out.applied, out.reason
        config = out.config
    written = config_file.read_bytes()
    out = obey(gate, config, config_file, command(config.version))
    assert out.reason is not None and f"at most {APPLIED_PER_MINUTE} applied" in out.reason
    assert config_file.read_bytes() == written
    assert len(gate.history_path.read_text().splitlines()) == APPLIED_PER_MINUTE


def test_a_flood_of_unsigned_commands_does_no_file_work(config_file: Path) -> None:
    config = load_config(config_file)
    gate = gate_of(config_file, config)
    before = config_file.read_bytes()
    began = time.monotonic()
    for _ in range(1000):
        assert obey(gate, config, config_file, command(config.version, key=None)).reason
    took = time.monotonic() - began
    answered = sum(gate.answer_refusal() for _ in range(1000))
    assert config_file.read_bytes() == before
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["cameras.yaml"]
    assert took < 5.0, f"1000 unsigned commands took {took:.1f} s"
    assert (answered, gate.unanswered) == (ANSWERED_PER_MINUTE, 1000 - ANSWERED_PER_MINUTE)


def test_an_unreadable_state_file_takes_only_commands_issued_after_the_start(
    config_file: Path,
) -> None:
    config = load_config(config_file)
    earlier = command(config.version, ago_s=5)  # e.g. captured before the restart
    gate_state = config_file.with_name("cameras.yaml.command-state.json")
    gate_state.write_text("{not json")
    gate = gate_of(config_file, config)
    out = obey(gate, config, config_file, earlier)
    assert out.reason is not None and "issued after the last one taken" in out.reason
    assert obey(gate, config, config_file, command(config.version, ago_s=-1)).applied


def test_trust_section_is_read_and_checked(tmp_path: Path, config_file: Path) -> None:
    config = load_config(config_file)
    assert config.trust.key_file == config_file.parent.parent / "var" / "edge.key"
    assert config.trust.command_max_age_s == 300
    bad = config_file.read_text().replace(public_key_text(CONSOLE), "not-a-key")
    config_file.write_text(bad)
    with pytest.raises(ConfigError) as caught:
        load_config(config_file)
    (problem,) = caught.value.problems
    line = bad.splitlines().index("  console_public_key: not-a-key") + 1
    assert (problem.line, problem.path) == (line, "trust.console_public_key")
    assert "base64 of 32 bytes" in problem.expected and "'not-a-key'" in problem.got
    assert "sitewatch server public-key" in problem.hint


def test_a_key_file_that_is_no_key_stops_the_edge_as_a_config_problem(
    config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sitewatch.edge.identity")
    config = load_config(config_file)
    made = edge_key(config_file, config)  # first start: made, its public key logged
    assert public_key_text(made) in caplog.text and "(new)" in caplog.text
    assert edge_key(config_file, config).private_bytes_raw() == made.private_bytes_raw()
    config.trust.key_file.write_text("not a key\n")
    with pytest.raises(ConfigError) as caught:
        edge_key(config_file, config)
    (problem,) = caught.value.problems
    assert problem.path == "trust.key_file" and "Ed25519" in problem.got
    _, warnings = load_config_with_warnings(config_file)  # sitewatch validate-config says so
    assert [w.path for w in warnings if w.path.startswith("trust")] == ["trust.key_file"]
