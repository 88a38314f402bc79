"""What ``sitewatch server add-edge`` hands to an edge: a folder (mode 0700) with its private
key, its MQTT credentials as an environment file and a config snippet (files mode 0600).

- ``edge.key``: the edge's Ed25519 private key (PEM, PKCS#8), only when the console made it;
  an edge that made its own keeps it (``--public-key``);
- ``edge.env``: ``NAME=value`` lines for systemd's EnvironmentFile= or ``docker --env-file``;
- ``edge-config.yaml``: the ``mqtt`` user name/password variables and the ``trust`` section
  (the edge's key file, the console's public key) to merge into the edge's config.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from sitewatch.console.domain.broker_accounts import EdgeCredentials

USERNAME_ENV = "SITEWATCH_EDGE_MQTT_USERNAME"
PASSWORD_ENV = "SITEWATCH_EDGE_MQTT_PASSWORD"
"""Variables the edge reads its broker login from (mqtt.username_env / password_env); not the
console's SITEWATCH_MQTT_* names, so both can run in one environment."""
KEY_FILE = "edge.key"
ENV_FILE = "edge.env"
SNIPPET_FILE = "edge-config.yaml"


def snippet(creds: EdgeCredentials, console_public_key: str) -> dict[str, object]:
    """The config keys the edge needs (sitewatch/edge/config/schema.py ``mqtt`` and ``trust``)."""
    trust: dict[str, str] = {"console_public_key": console_public_key}
    if creds.private_key is not None:
        trust = {"key_file": KEY_FILE, **trust}
    return {
        "mqtt": {"username_env": USERNAME_ENV, "password_env": PASSWORD_ENV},
        "trust": trust,
    }


def write_bundle(out: Path, creds: EdgeCredentials, console_public_key: str) -> list[Path]:
    """Write the edge's files into ``out`` (made 0700); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    written = []
    if creds.private_key is not None:
        pem = creds.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        written.append(_write_private(out / KEY_FILE, pem))
    env = f"{USERNAME_ENV}={creds.username}\n{PASSWORD_ENV}={creds.password}\n"
    written.append(_write_private(out / ENV_FILE, env.encode()))
    key_note = (
        f"# Copy {KEY_FILE} beside the edge's config (a relative key_file is relative to it).\n"
        if creds.private_key is not None
        else "# trust.key_file: leave it at the key the edge made itself (its public key was "
        "registered).\n"
    )
    head = (
        f"# For the edge of site {creds.site_id!r} (its site.id must be {creds.site_id}); "
        f"written by 'sitewatch server add-edge'.\n"
        f"# Merge these keys into the edge's config (keep mqtt.host, port and tls there) and\n"
        f"# give the worker the variables of {ENV_FILE} (systemd EnvironmentFile=, "
        f"docker --env-file).\n{key_note}"
    )
    body = yaml.safe_dump(snippet(creds, console_public_key), sort_keys=False)
    written.append(_write_private(out / SNIPPET_FILE, (head + body).encode()))
    return written


def _write_private(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data``, mode 0600 from the start (never readable by others)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
