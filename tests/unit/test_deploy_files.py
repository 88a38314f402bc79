"""The one-box deployment files (deploy/): the compose file names only services and volumes
that exist and mounts the folders the configs use, every command in it, in the Dockerfile and
in the systemd units parses with the project's own command line, the units pass
``systemd-analyze verify``, and the image is slim, non-root, has ffmpeg and no dev/train
extras. The cluster example is tests/unit/test_deploy_cluster.py."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import pytest
import yaml

from sitewatch.cli import SUBCOMMANDS
from sitewatch.console.settings import Settings
from sitewatch.edge.config.load import parse_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
EDGE_CONFIG_AT = PurePosixPath("/etc/sitewatch/edge/cameras.yaml")  # where the files put it
VENV_SCRIPT = "/opt/sitewatch/venv/bin/sitewatch"


class Refused(Exception):
    """A command line the project's parser refuses."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Refused(f"{self.prog}: {message}")


def parse_sitewatch(argv: list[str]) -> argparse.Namespace:
    """``sitewatch ARGV...`` parsed by the sub-command's own arguments; :class:`Refused` if
    the project's command line would refuse it."""
    if not argv or argv[0] not in SUBCOMMANDS:
        raise Refused(f"expected a sitewatch sub-command ({', '.join(SUBCOMMANDS)}), got {argv}")
    parser = _Parser(prog=f"sitewatch {argv[0]}", allow_abbrev=False)  # as written, whole
    add_arguments, _ = SUBCOMMANDS[argv[0]].load()
    add_arguments(parser)
    return parser.parse_args(argv[1:])


def load_compose(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def sitewatch_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the SiteWatch image."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("sitewatch:")
    }


def mounts(svc: dict[str, Any]) -> list[tuple[str, str]]:
    """A service's volumes as (source, target) pairs (short syntax)."""
    return [(v.split(":")[0], v.split(":")[1]) for v in svc.get("volumes", [])]


def compose_problems(path: Path) -> list[str]:
    """What in a compose file names a missing volume, service, env file or bind source."""
    compose = load_compose(path)
    services, declared = compose["services"], set(compose.get("volumes") or {})
    problems, used = [], set()
    for name, svc in services.items():
        for source, target in mounts(svc):
            if source.startswith((".", "/")):
                if not (path.parent / source).exists():
                    problems.append(f"{name}: bind source {source} is not in {path.parent}")
            elif source in declared:
                used.add(source)
            else:
                problems.append(f"{name}: volume {source} ({target}) is not declared")
        needs = svc.get("depends_on", [])
        problems += [f"{name}: depends on unknown {d}" for d in needs if d not in services]
        for env_file in svc.get("env_file", []):
            if isinstance(env_file, str) or env_file.get("required", True):
                problems.append(f"{name}: env file {env_file} must be optional (required: false)")
    problems += [f"volume {v} is declared but no service mounts it" for v in declared - used]
    return problems


def settings_problems(env: dict[str, str]) -> list[str]:
    """The ``SITEWATCH_*`` names in ``env`` that are no console setting."""
    fields = {f"SITEWATCH_{name.upper()}" for name in Settings.model_fields}
    return sorted(set(env) - fields)


def test_compose_names_only_what_exists() -> None:
    assert compose_problems(DEPLOY / "compose.yaml") == []


def test_compose_runs_broker_console_and_edge_restarting_except_on_exit_1() -> None:
    compose = load_compose(DEPLOY / "compose.yaml")
    assert set(compose["services"]) == {"broker", "console", "edge"}
    for name, svc in sitewatch_services(compose).items():
        assert svc["restart"] == "on-failure", name
        # compose cannot exclude an exit code: tini -e 1 reports 1 (bad config) as 0
        assert svc["entrypoint"] == ["tini", "-e", "1", "--", "sitewatch"], name
        parse_sitewatch(svc["command"])
    assert set(sitewatch_services(compose)) == {"console", "edge"}


def test_compose_mounts_a_volume_on_every_folder_the_edge_and_console_write() -> None:
    compose = load_compose(DEPLOY / "compose.yaml")
    edge, console = compose["services"]["edge"], compose["services"]["console"]
    args = parse_sitewatch(edge["command"])
    assert PurePosixPath(args.config) == EDGE_CONFIG_AT
    config, _ = parse_config((DEPLOY / "edge-cameras.yaml").read_text(), Path(EDGE_CONFIG_AT))
    edge_targets = {PurePosixPath(t) for _, t in mounts(edge)}
    for folder in (EDGE_CONFIG_AT.parent, config.evidence.dir, config.outbox.path.parent):
        assert PurePosixPath(folder) in edge_targets, f"no volume on the edge's {folder}"
    env = console["environment"]
    assert settings_problems(env) == []
    database = PurePosixPath(env["SITEWATCH_DATABASE_URL"].removeprefix("sqlite:///"))
    written = [database, *(PurePosixPath(env[f"SITEWATCH_{k}"]) for k in ("EVIDENCE_DIR",))]
    written += [PurePosixPath(env[f"SITEWATCH_{k}"]).parent for k in ("SIGNING_KEY_FILE",)]
    console_targets = [PurePosixPath(t) for _, t in mounts(console)]
    for path in written:
        assert any(path.is_relative_to(t) for t in console_targets), f"{path}: no volume"


def test_the_broker_reads_the_files_the_console_writes() -> None:
    compose = load_compose(DEPLOY / "compose.yaml")
    broker, console = compose["services"]["broker"], compose["services"]["console"]
    conf = dict(
        line.split(maxsplit=1)
        for line in (DEPLOY / "mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert conf["allow_anonymous"] == "false"
    for key, setting in (("password_file", "PASSWORD_FILE"), ("acl_file", "ACL_FILE")):
        written = PurePosixPath(console["environment"][f"SITEWATCH_BROKER_{setting}"])
        read = PurePosixPath(conf[key])
        volume = {t: s for s, t in mounts(console)}[str(written.parent)]
        assert {s: t for s, t in mounts(broker)}[volume] == str(read.parent), key
        assert read.name == written.name, key
    # mosquitto runs in the sitewatch group (10001, the image's) to read the 0640 files
    assert broker["user"].endswith(":10001")
    # the first container to mount broker-auth gives it its owner: the console must be first
    assert "console" in broker["depends_on"] and "broker" not in console.get("depends_on", [])


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    rows = [line.strip() for line in text.splitlines()]
    return [
        (r.split(maxsplit=1)[0].upper(), r.split(maxsplit=1)[1])
        for r in rows
        if r and not r.startswith("#")
    ]


def test_the_image_is_slim_non_root_with_ffmpeg_and_no_dev_or_train_extras() -> None:
    steps = dockerfile_instructions(DEPLOY / "Dockerfile")
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG")
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", args["BASE"]), args["BASE"]
    assert {a.split()[0] for kind, a in steps if kind == "FROM"} == {"${BASE}"}
    runs = " ".join(a for kind, a in steps if kind == "RUN")
    installs = re.findall(r"apt-get install ([^&]*)", runs)
    assert any("ffmpeg" in i.split() for i in installs), installs
    pip = re.findall(r"pip install ([^&]*)", runs)
    extras = {
        e.strip() for p in pip for group in re.findall(r"\[([^]]*)\]", p) for e in group.split(",")
    }
    assert extras <= {"postgres"}, f"only runtime extras in the image, got {extras}"
    users = [a for kind, a in steps if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    entrypoint = json.loads(next(a for kind, a in reversed(steps) if kind == "ENTRYPOINT"))
    assert entrypoint[0] == "tini" and entrypoint[-1] == "sitewatch", entrypoint
    parse_sitewatch(json.loads(next(a for kind, a in reversed(steps) if kind == "CMD")))


def test_the_build_context_lets_in_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    steps = dockerfile_instructions(DEPLOY / "Dockerfile")
    copied = [a.split()[:-1] for kind, a in steps if kind == "COPY" and "--from" not in a]
    for source in (s for sources in copied for s in sources):
        assert source in allowed, f"COPY {source}: un-ignore it in Dockerfile.dockerignore"
        assert (REPO / source).exists(), source


def unit_file(path: Path) -> dict[str, list[str]]:
    """``Key`` -> its values, over every section of a systemd unit."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_restarts_on_failure_except_exit_1_as_a_hardened_user(unit: Path) -> None:
    keys = unit_file(unit)
    assert keys["Restart"] == ["on-failure"] and keys["RestartPreventExitStatus"] == ["1"]
    assert keys["User"][0] not in ("root", "0")
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
        assert keys[key] == [value], key
    assert keys["PrivateTmp"] == ["yes"]
    assert "MemoryDenyWriteExecute" not in keys, "the units were checked without it"
    (start,) = keys["ExecStart"]
    argv = shlex.split(start)
    assert argv[0] == VENV_SCRIPT, argv
    parse_sitewatch(argv[1:])


def test_the_edge_unit_may_write_its_config_evidence_and_outbox() -> None:
    keys = unit_file(DEPLOY / "systemd" / "sitewatch-edge.service")
    args = parse_sitewatch(shlex.split(keys["ExecStart"][0])[1:])
    config, _ = parse_config((DEPLOY / "edge-cameras.yaml").read_text(), Path(args.config))
    writable = [PurePosixPath(p.lstrip("-")) for p in keys["ReadWritePaths"][0].split()]
    writable += [PurePosixPath("/var/lib") / d for d in keys["StateDirectory"][0].split()]
    for path in (Path(args.config).parent, config.evidence.dir, config.outbox.path):
        assert any(PurePosixPath(path).is_relative_to(w) for w in writable), path


def test_the_console_env_example_holds_only_console_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = (DEPLOY / "console.env.example").read_text().splitlines()
    env = dict(shlex.split(line)[0].split("=", 1) for line in lines if line[:1].isalpha())
    assert settings_problems(env) == []
    for name in [n for n in os.environ if n.startswith("SITEWATCH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().public_origins == ["https://sitewatch.example"]


def test_the_example_edge_config_is_valid() -> None:
    text = (DEPLOY / "edge-cameras.yaml").read_text()
    config, warnings = parse_config(text, Path(EDGE_CONFIG_AT))
    assert config.detector.model == Path("/opt/sitewatch/models/sitewatch.onnx")
    assert all("rules" not in str(w) for w in warnings), warnings


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian's systemd package has it)")
    # the venv's real script stands in for /opt/sitewatch's, which verify checks exists
    script = str(Path(sys.executable).parent / "sitewatch")
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(VENV_SCRIPT, script))
    files = [str(tmp_path / u.name) for u in UNITS]
    done = subprocess.run(
        [analyze, "verify", "--man=no", *files], capture_output=True, text=True, timeout=60
    )
    ours = [line for line in (done.stdout + done.stderr).splitlines() if str(tmp_path) in line]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr
