"""The console as real processes, for load benches and end-to-end tests: ``sitewatch server
run`` replicas on SQLite or a throw-away PostgreSQL, ingesting from a mosquitto with the
production broker settings (password and ACL files, ``max_queued_messages 100000``), every
edge registered with its own broker account and Ed25519 key as ``sitewatch server add-edge``
makes them.

    with ConsoleRig(tmp_path, database="postgresql") as rig:
        edges = rig.add_edges(["north", "south"])       # site -> EdgeCredentials (private key)
        rig.add_user("boss", "a-long-password", sites=["*"])
        rig.start()
        host, port = rig.mqtt_endpoints[0]              # where edges publish
        client = rig.login("boss", "a-long-password")    # httpx.Client on rig.url (cookie, CSRF)

Invariants: accounts and users are written into the database before the consoles start (or
the broker is reloaded after ``add_edges``); every process the rig starts is stopped by
:meth:`ConsoleRig.close` (SIGTERM, then SIGKILL), also after a failure part-way through
:meth:`ConsoleRig.start`; :meth:`ConsoleRig.components` names the pids of each part so a bench
can read their CPU and memory from /proc. The cluster (RabbitMQ nodes, haproxy, replicas
consuming one quorum queue) is :class:`tests.support.console_rig_cluster.ClusterRig`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from sitewatch.console.domain.broker_accounts import (
    EdgeCredentials,
    add_edge,
    set_console_account,
    write_broker_files,
)
from sitewatch.console.domain.users import create_user
from sitewatch.console.store.db import Database, migrate

HOST = "127.0.0.1"
SITEWATCH = Path(sys.executable).with_name("sitewatch")
CONSOLE_ACCOUNT = "sitewatch-console"
PREFIX = "sitewatch"
BROKER_LINES = (
    "max_queued_messages 100000",  # docs/design/ingest.md, "The broker's side" (deploy/)
    "message_size_limit 67108864",
    "max_inflight_bytes 134217728",
)
DatabaseKind = Literal["sqlite", "postgresql"]


class RigError(RuntimeError):
    """A part of the rig did not start; the text says which, and its log's end."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout_s: float = 60.0
) -> None:
    """Until ``port`` accepts connections; :class:`RigError` with the log's end if ``proc``
    exits or ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited {proc.returncode}" if proc.poll() is not None else "still silent"
                raise RigError(
                    f"{what} did not listen on {HOST}:{port} in {timeout_s:g} s ({state}); "
                    f"its log {log} ends:\n{tail(log)}"
                ) from None
            time.sleep(0.1)


def tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace") if log.is_file() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; nothing if it already ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def children(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc: PostgreSQL's backends, an Erlang VM's
    helpers), for CPU and memory sums."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


class Postgres:
    """A throw-away PostgreSQL cluster with production durability (fsync, full-page writes and
    synchronous commit on, unlike the test fixture's) and one database, ``sitewatch``."""

    def __init__(self) -> None:
        from tests.support.postgres import Postgres as Cluster
        from tests.support.postgres import find_bin

        found = find_bin()
        if found is None:
            raise RigError("no PostgreSQL server binaries: apt-get install postgresql")
        # in the system's temporary folder: the postgres user must reach it (mkdtemp folders
        # above it would be 0700 root's)
        root = Path(tempfile.mkdtemp(prefix="sitewatch-rig-pg-"))
        user = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            user = "postgres"
        self.cluster = Cluster(found, root, free_port(), user)
        self.url = self.cluster.url("sitewatch")

    def start(self) -> None:
        self.cluster.start()
        for sql in (
            "ALTER SYSTEM SET fsync = on",
            "ALTER SYSTEM SET full_page_writes = on",
            "ALTER SYSTEM SET synchronous_commit = on",
            "SELECT pg_reload_conf()",
            "CREATE DATABASE sitewatch",
        ):
            self.cluster._admin(sql)

    @property
    def pid(self) -> int | None:
        pid_file = self.cluster.root / "data" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.is_file() else None

    def stop(self) -> None:
        self.cluster.stop()
        shutil.rmtree(self.cluster.root, ignore_errors=True)


class Mosquitto:
    """One mosquitto with the console's password and ACL files and the production limits."""

    def __init__(self, folder: Path, password_file: Path, acl_file: Path) -> None:
        self.folder, self.port, self.log = folder, free_port(), folder / "mosquitto.log"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous false",
            "persistence false",
            f"password_file {password_file}",
            f"acl_file {acl_file}",
            *BROKER_LINES,
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot read here
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if binary is None:
            raise RigError("mosquitto is not installed: apt-get install mosquitto")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT
            )
        wait_listening(self.port, self.proc, "mosquitto", self.log, 10.0)

    def reload(self) -> None:
        """SIGHUP: the password and ACL files are read again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        stop_process(self.proc, 5.0)


class Replica:
    """One ``sitewatch server run`` process on its own port, its log in ``folder``."""

    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name, self.port, self.env = name, free_port(), env
        self.url = f"http://{HOST}:{self.port}"
        self.log = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(SITEWATCH), "server", "run", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait()

    def wait(self) -> None:
        assert self.proc is not None, "start the replica first"
        wait_listening(self.port, self.proc, f"console {self.name}", self.log)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill: nothing is flushed or acknowledged."""
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


class ConsoleRig:
    """A broker, a database and ``replicas`` console processes (module docstring).

    ``database``: ``sqlite`` (a file, one replica only) or ``postgresql``; ``env``: more
    ``SITEWATCH_*`` settings for every replica."""

    edge_logins = True
    """Whether edges log in to the broker with their accounts (mosquitto's files)."""

    def __init__(
        self,
        folder: Path,
        *,
        database: DatabaseKind = "sqlite",
        replicas: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        if database == "sqlite" and replicas != 1:
            raise RigError(
                f"SQLite serves one console process, got replicas={replicas}: "
                "use database='postgresql' for several"
            )
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.postgres = Postgres() if database == "postgresql" else None
        self.database_url = (
            self.postgres.url if self.postgres else f"sqlite:///{folder / 'console.db'}"
        )
        self.console_password = secrets.token_urlsafe(24)
        self.password_file = folder / "broker" / "passwd"
        self.acl_file = folder / "broker" / "acl"
        self.broker = Mosquitto(folder / "broker", self.password_file, self.acl_file)
        self.evidence_dir = folder / "evidence"  # shared by every replica (one mount)
        self.extra_env = dict(env or {})
        self.replicas = [Replica(f"console{i + 1}", folder, {}) for i in range(replicas)]
        self._db: Database | None = None

    # -- set-up, before or after start ------------------------------------------------------
    @property
    def db(self) -> Database:
        """The rig's own connection to the console's database (migrated on first use)."""
        if self._db is None:
            if self.postgres is not None and self.postgres.pid is None:
                self.postgres.start()
            self._db = Database(self.database_url)
            migrate(self._db.engine)
        return self._db

    def add_edges(self, sites: Sequence[str]) -> dict[str, EdgeCredentials]:
        """Each site's edge account and key, as ``sitewatch server add-edge SITE`` makes them
        (the private key is in the credentials); the broker files are rewritten and, if the
        broker runs, reloaded."""
        with self.db.session() as s:
            made = {site: add_edge(s, site) for site in sites}
        self._write_broker_files()
        return made

    def add_user(
        self, username: str, password: str, role: str = "manager", sites: Sequence[str] = ("*",)
    ) -> None:
        with self.db.session() as s:
            create_user(s, username, password, role, list(sites), "en")

    def _write_broker_files(self) -> None:
        with self.db.session() as s:
            set_console_account(s, CONSOLE_ACCOUNT, self.console_password)
        with self.db.session() as s:
            write_broker_files(s, self.password_file, self.acl_file, PREFIX)
        self.broker.reload()

    # -- running ---------------------------------------------------------------------------
    def env(self, replica: Replica) -> dict[str, str]:
        """The settings of one replica: only variables the console knows (it refuses others)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
        return {
            **base,
            "SITEWATCH_DATABASE_URL": self.database_url,
            "SITEWATCH_EVIDENCE_DIR": str(self.evidence_dir),
            "SITEWATCH_VIDEO_DIR": str(self.folder / "video"),
            "SITEWATCH_EDGE_URL": self.url,
            "SITEWATCH_MQTT_HOST": HOST,
            "SITEWATCH_MQTT_PORT": str(self.broker.port),
            "SITEWATCH_MQTT_USERNAME": CONSOLE_ACCOUNT,
            "SITEWATCH_MQTT_PASSWORD": self.console_password,
            "SITEWATCH_MQTT_CLIENT_ID": f"sitewatch-{replica.name}",
            "SITEWATCH_SIGNING_KEY_FILE": str(self.folder / "console.key"),
            "SITEWATCH_BROKER_PASSWORD_FILE": str(self.password_file),
            "SITEWATCH_BROKER_ACL_FILE": str(self.acl_file),
            **self.extra_env,
        }

    def start(self) -> None:
        """Database, broker, then every replica (in parallel), each listening, then the front
        (a proxy, in the cluster); on a failure everything started so far is stopped."""
        try:
            self._write_broker_files()  # also migrates (and starts PostgreSQL)
            self.start_broker()
            for replica in self.replicas:
                replica.env = self.env(replica)
                replica.start(wait=False)
            for replica in self.replicas:
                replica.wait()
            self.start_front()
        except BaseException:
            self.close()
            raise

    def start_broker(self) -> None:
        self.broker.start()

    def start_front(self) -> None:
        """Nothing on one box: browsers go to the console itself."""

    def stop_broker(self) -> None:
        self.broker.stop()

    def broker_pids(self) -> dict[str, list[int]]:
        proc = self.broker.proc
        return {"broker": [proc.pid]} if proc is not None and proc.poll() is None else {}

    tree = staticmethod(children)

    @property
    def url(self) -> str:
        """Where browsers go: the one replica (a proxy in the cluster)."""
        return self.replicas[0].url

    @property
    def mqtt_endpoints(self) -> list[tuple[str, int]]:
        """(host, port) of each broker node the edges may connect to."""
        return [(HOST, self.broker.port)]

    def login(self, username: str, password: str, url: str | None = None) -> httpx.Client:
        """An httpx client logged in at ``url`` (default :attr:`url`), sending the CSRF header."""
        client = httpx.Client(base_url=url or self.url, timeout=httpx.Timeout(10.0, read=60.0))
        r = client.post("/api/auth/login", json={"username": username, "password": password})
        if r.status_code != 200:
            client.close()
            raise RigError(
                f"expected login of {username!r} to answer 200, got {r.status_code}: {r.text[:300]}"
            )
        client.headers["X-CSRF-Token"] = "rig"
        return client

    def components(self) -> dict[str, list[int]]:
        """Part name -> its pids now (with child processes): ``broker``, ``database``
        (PostgreSQL's server and backends; absent for SQLite, which runs inside the console),
        ``console1``... (a killed replica is absent); in the cluster each RabbitMQ node and
        haproxy instead of ``broker``."""
        out = self.broker_pids()
        if self.postgres is not None and self.postgres.pid is not None:
            out["database"] = children(self.postgres.pid)
        for r in self.replicas:
            if r.alive and r.proc is not None:
                out[r.name] = [r.proc.pid]
        return out

    def kill_replica(self, index: int) -> None:
        self.replicas[index].kill()

    def close(self) -> None:
        """Stop every replica, the broker and the database (the folder stays, with logs)."""
        for replica in self.replicas:
            replica.stop()
        self.stop_broker()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self.postgres is not None and self.postgres.pid is not None:
            self.postgres.stop()

    def __enter__(self) -> ConsoleRig:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
