"""The console part of the demo: ``sitewatch server`` on SQLite under var/console/, with one
login per role created for this run (a fresh random password each run: none ships)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sitewatch.console.domain.users import UserError, create_user, set_password
from sitewatch.console.store.db import Database, migrate

REPO = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("SITEWATCH_DEMO_VAR", REPO / "var")) / "console"
DEMO_USERS = {"admin": "admin", "manager": "manager", "police": "police", "operator": "operator"}
"""User name -> role; every one sees every site of the demo."""


@dataclass(frozen=True)
class ConsoleInfo:
    url: str
    password: str


def _env(mqtt_host: str, mqtt_port: int, prefix: str) -> dict[str, str]:
    return {
        "SITEWATCH_DATABASE_URL": f"sqlite:///{HOME / 'console.db'}",
        "SITEWATCH_EVIDENCE_DIR": str(HOME / "evidence"),
        "SITEWATCH_MQTT_HOST": mqtt_host,
        "SITEWATCH_MQTT_PORT": str(mqtt_port),
        "SITEWATCH_TOPIC_PREFIX": prefix,
        "SITEWATCH_MQTT_CLIENT_ID": "sitewatch-demo-console",
        "SITEWATCH_DEFAULT_LANGUAGE": "zh-CN",
    }


def demo_logins(password: str) -> None:
    """Create the demo users, or give them this run's password."""
    HOME.mkdir(parents=True, exist_ok=True)
    db = Database(f"sqlite:///{HOME / 'console.db'}")
    try:
        migrate(db.engine)
        with db.session() as s:
            for username, role in DEMO_USERS.items():
                try:
                    set_password(s, username, password)
                except UserError:
                    create_user(s, username, password, role, ["*"], "zh-CN")
    finally:
        db.close()


def start_console(
    stack: ExitStack,
    mqtt_host: str,
    mqtt_port: int,
    prefix: str,
    port: int,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
) -> ConsoleInfo:
    """Start the console and wait until it answers; stopped by ``stack``. ``extra_env``: more
    SITEWATCH_* settings (the demo's broker login and key files)."""
    password = secrets.token_urlsafe(9)
    demo_logins(password)
    script = Path(sys.executable).parent / "sitewatch"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "sitewatch.cli"]
    log = (log_dir / "console.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [*cmd, "server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
        env={**os.environ, **_env(mqtt_host, mqtt_port, prefix), **(extra_env or {})},
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    stack.callback(stop)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url + "api/health", timeout=1) as r:
                if r.status == 200:
                    return ConsoleInfo(url, password)
        except OSError:
            time.sleep(0.2)
    tail = (log_dir / "console.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the console did not start on port {port}:\n{tail}")
