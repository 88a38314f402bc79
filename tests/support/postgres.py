"""A real PostgreSQL for tests: Debian's server binaries, a throw-away cluster per test session
(initdb into a temporary folder, a free TCP port on 127.0.0.1, its unix socket in the same
folder), and a fresh database per test.

    from tests.support.postgres import any_database_console, postgres_fixture  # noqa: F401

``console`` (from ``any_database_console``) is the console on a real SQLite file and on a real
PostgreSQL database: every test using it runs twice. As root, the server runs as the
``postgres`` user (PostgreSQL refuses to run as root). Without the binaries the PostgreSQL half
is skipped, saying what to install.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from tests.support.console_support import Console, make_settings

BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL = "install Debian's 'postgresql' package (scripts/system-deps.sh postgresql)"


def find_bin() -> Path | None:
    """The newest PostgreSQL server binaries folder, or None."""
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name or 0))
    found = [p for p in found if (Path(p) / "initdb").is_file()]
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Postgres:
    bin: Path
    root: Path
    port: int
    user: str | None  # the OS user the server runs as (None: as we are)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*(["runuser", "-u", self.user, "--"] if self.user else []), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        r = self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed ({r.returncode}): {r.stderr.strip()}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        r = self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        if r.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed ({r.returncode}): {r.stderr.strip()}\n{log}")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[Postgres]:
    """A running PostgreSQL cluster for the whole test session."""
    bin_dir = find_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL server binaries not found in {BIN_GLOB}: {INSTALL}")
    user = None
    root = Path(tempfile.mkdtemp(prefix="sitewatch-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses root: run it as the postgres user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(f"running as root and there is no 'postgres' user: {INSTALL}")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = "postgres"
    pg = Postgres(bin_dir, root, _free_port(), user)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: Postgres) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture(name="console", params=["sqlite", "postgresql"])
def any_database_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """The console (no MQTT) on a fresh SQLite file, then on a fresh PostgreSQL database."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    settings = make_settings(tmp_path, database_url=url)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)
