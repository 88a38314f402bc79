"""The demo's identities on its broker, made the way an operator makes them: ``sitewatch server
add-edge SITE`` against the demo console's database writes the edge's key, its broker login and
the broker's password and ACL files; mosquitto then runs with ``allow_anonymous false``.

The console's broker password is new on every run (like the demo's logins); the edge's
password is rotated every run too, but its key is kept (var/demo/edge/edge.key), so what its
outbox still holds from an earlier run stays valid.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from console_demo import HOME

from sitewatch.contract.signing import SigningKeyError, load_key, public_key_text

REPO = Path(__file__).resolve().parent.parent
CONSOLE_USER = "sitewatch-console"


@dataclass(frozen=True)
class DemoIdentities:
    password_file: Path
    acl_file: Path
    console_env: dict[str, str]  # SITEWATCH_* of the console: its login, key and broker files
    console_login: tuple[str, str]
    edge_env: dict[str, str]  # the variables of edge.env, for the worker's environment
    edge_config: dict[str, Any]  # the ``mqtt`` and ``trust`` keys for the edge's config


def register(site_id: str, prefix: str, state: Path) -> DemoIdentities:
    """Run ``sitewatch server add-edge`` for ``site_id``; RuntimeError says what went wrong."""
    password = secrets.token_urlsafe(18)
    broker = state / "broker"
    env = {
        "SITEWATCH_DATABASE_URL": f"sqlite:///{HOME / 'console.db'}",
        "SITEWATCH_SIGNING_KEY_FILE": str(HOME / "console.key"),
        "SITEWATCH_BROKER_PASSWORD_FILE": str(broker / "passwd"),
        "SITEWATCH_BROKER_ACL_FILE": str(broker / "acl"),
        "SITEWATCH_TOPIC_PREFIX": prefix,
        "SITEWATCH_MQTT_USERNAME": CONSOLE_USER,
        "SITEWATCH_MQTT_PASSWORD": password,
    }
    out = state / "edge"
    args = ["server", "add-edge", site_id, "--rotate", "--out", str(out)]
    key_file = out / "edge.key"
    if key_file.is_file():  # keep the edge's key: only its password changes
        try:
            args += ["--public-key", public_key_text(load_key(key_file))]
        except SigningKeyError as exc:
            raise RuntimeError(f"{exc} (the demo's edge key {key_file})") from exc
    script = Path(sys.executable).parent / "sitewatch"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "sitewatch.cli"]
    HOME.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*cmd, *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sitewatch {' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}")
    edge_env = dict(
        line.split("=", 1) for line in (out / "edge.env").read_text().splitlines() if "=" in line
    )
    edge_config = yaml.safe_load((out / "edge-config.yaml").read_text())
    edge_config["trust"]["key_file"] = str(key_file)  # the derived config lives elsewhere
    return DemoIdentities(
        broker / "passwd",
        broker / "acl",
        env,
        (CONSOLE_USER, password),
        edge_env,
        edge_config,
    )
