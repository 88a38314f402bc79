"""A real RabbitMQ cluster on loopback for tests and benchmarks: Debian's rabbitmq-server (3.10),
every node its own process, ports and folders, joined into one cluster, the MQTT and
consistent-hash exchange plugins on (deploy/cluster/enabled_plugins' but the management one),
and deploy/cluster/definitions.json imported (the quorum queues ``sitewatch.ingest.0`` .. ``.3``
filled through the consistent-hash exchange ``sitewatch.ingest.shards`` from every topic the
edges publish).

    from tests.support.rabbitmq import RabbitCluster, rabbit_cluster_fixture  # noqa: F401
    # the fixture "rabbit_cluster": 3 running nodes; or, in a benchmark:
    with running_cluster(folder) as cluster: ...

API (all ports on 127.0.0.1):

- :class:`RabbitCluster` ``(folder, size=3, definitions=DEFINITIONS)``: ``start()`` (boot the
  first node, then the others, which join it by classic_config peer discovery; check the
  cluster; import the definitions), ``stop()`` (kill every node and the cluster's own epmd; the
  folder is left for the caller), ``nodes`` (list of :class:`Node`), ``amqp_urls(first=0)`` (one
  ``amqp://guest:guest@...`` URL per node, starting at node ``first``: give each replica another
  order), ``mqtt_ports()``, ``kill(node)`` (SIGKILL, as ``kill -9``: no goodbye to the peers),
  ``restart(node)`` (start it again and wait until it serves, MQTT sessions included; it rejoins
  by itself), ``leader(queue)`` (the node holding the quorum queue's leader; default the first
  shard), ``active_consumer(queue)`` (the consumer tag the queue delivers to now; default the
  first shard), ``active_consumers()`` (queue -> that tag, every queue),
  ``shard_of(routing_key)`` (the shard queue the exchange routes that key to), ``ctl(*args,
  node=None)`` (rabbitmqctl's output).
- :class:`Node`: ``letter`` (a, b, c), ``name`` (``rabbit-a-<tag>@localhost``), ``amqp_port``,
  ``mqtt_port``, ``dist_port``, ``folder``, ``running``, ``amqp_url``.
- :func:`running_cluster` ``(folder, size=3)``: a context manager, the started cluster.

How it runs as root: the scripts under /usr/lib/rabbitmq/bin are used directly (the /usr/sbin
wrappers switch to the ``rabbitmq`` user, who cannot write a test's folder); ``HOME`` is the
cluster's folder, where the shared Erlang cookie is (mode 0400), so the nodes and rabbitmqctl
agree. Every cluster has its own epmd port (``ERL_EPMD_PORT``) and a random tag in its node
names, so clusters of two test sessions never meet. Anonymous MQTT is on (the default ``guest``
user, loopback only). Without the package the caller is skipped, naming it.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
BIN = Path("/usr/lib/rabbitmq/bin")
DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "cluster" / "definitions.json"
INSTALL = (
    "RabbitMQ is not installed: install Debian's 'rabbitmq-server' package "
    "(apt-get install -y rabbitmq-server; `make test-deps` does it)"
)
BOOT_S = 180.0  # a node's boot on a 2-core box shared with others (20-40 s seen at load 10-20)
CTL_S = 60.0
ERL_ARGS = "+S 2:2 +A 8"  # 2 schedulers per node: 3 nodes share a small box
PLUGINS = ("rabbitmq_mqtt", "rabbitmq_consistent_hash_exchange")  # not the management one
SHARDS_EXCHANGE = "sitewatch.ingest.shards"  # definitions.json's consistent-hash exchange
FIRST_SHARD = "sitewatch.ingest.0"


def installed() -> bool:
    """Whether Debian's rabbitmq-server scripts are here."""
    return (BIN / "rabbitmq-server").is_file() and (BIN / "rabbitmqctl").is_file()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` now."""
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def mqtt_accepts(port: int, timeout: float = 10.0) -> tuple[bool, str]:
    """Whether 127.0.0.1:``port`` accepts an MQTT 3.1.1 session now (CONNACK code 0), and what
    came instead. A listening node may still refuse (code 3, "server unavailable") until its
    client-id tracker, a Raft cluster of its own, has a leader: on a loaded box that lags the
    listeners by seconds. Written by hand (one CONNECT, one 4-byte CONNACK, one DISCONNECT):
    paho's callback loop is more than a yes/no needs."""
    client_id = f"probe-{secrets.token_hex(4)}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            ack = b""
            while len(ack) < 4:
                chunk = sock.recv(4 - len(ack))
                if not chunk:
                    return False, f"closed after {ack!r}"
                ack += chunk
            with suppress(OSError):
                sock.sendall(b"\xe0\x00")
    except OSError as exc:
        return False, repr(exc)
    if ack[:2] != b"\x20\x02":
        return False, f"not a CONNACK: {ack!r}"
    return ack[3] == 0, f"CONNACK return code {ack[3]}"


def _epmd() -> str | None:
    found = shutil.which("epmd") or next(iter(glob.glob("/usr/lib/erlang/erts-*/bin/epmd")), None)
    return found


@dataclass
class Node:
    """One RabbitMQ node: its own ports, data and logs under ``folder``."""

    letter: str
    name: str  # the Erlang node name, rabbit-<letter>-<tag>@localhost
    amqp_port: int
    mqtt_port: int
    dist_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def amqp_url(self) -> str:
        """The default user on the default vhost (``%2F`` is ``/``)."""
        return f"amqp://guest:guest@{HOST}:{self.amqp_port}/%2F"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the node's console output and log, for a failure message."""
        parts = []
        for path in [self.folder / "console.log", *sorted((self.folder / "log").glob("*.log"))]:
            if path.is_file():
                parts.append(f"--- {path}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


class RabbitCluster:
    """``size`` RabbitMQ nodes on loopback forming one cluster (see the module for the API)."""

    def __init__(self, folder: Path, size: int = 3, definitions: Path | None = DEFINITIONS) -> None:
        if not installed():
            pytest.skip(INSTALL)
        if size < 1 or size > 26:
            raise ValueError(f"expected 1 to 26 nodes, got {size}")
        self.folder = folder
        self.definitions = definitions
        self.tag = secrets.token_hex(3)
        self.epmd_port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        cookie = folder / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (folder / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        self.nodes = [
            Node(
                letter=letter,
                name=f"rabbit-{letter}-{self.tag}@localhost",
                amqp_port=free_port(),
                mqtt_port=free_port(),
                dist_port=free_port(),
                folder=folder / letter,
            )
            for letter in "abcdefghijklmnopqrstuvwxyz"[:size]
        ]
        for node in self.nodes:
            node.folder.mkdir(exist_ok=True)
            (node.folder / "rabbitmq.conf").write_text(self._config(node))

    # -- what a node runs with -----------------------------------------------------------------
    def _config(self, node: Node) -> str:
        return "\n".join(
            [
                f"listeners.tcp.default = {HOST}:{node.amqp_port}",
                f"mqtt.listeners.tcp.default = {HOST}:{node.mqtt_port}",
                "mqtt.allow_anonymous = true",
                "mqtt.vhost = /",
                "mqtt.exchange = amq.topic",
                "cluster_partition_handling = pause_minority",
                "max_message_size = 67108864",
                "log.console = false",
                "log.file.level = info",
                # every node but the first joins the first as it boots (rabbitmq.conf's way)
                *(
                    [
                        "cluster_formation.peer_discovery_backend = classic_config",
                        f"cluster_formation.classic_config.nodes.1 = {self.nodes[0].name}",
                    ]
                    if node is not self.nodes[0]
                    else []
                ),
                "",
            ]
        )

    def _env(self, node: Node | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "HOME": str(self.folder),  # .erlang.cookie: nodes and rabbitmqctl share it
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),  # none: not /etc
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_USE_LONGNAME": "false",
        }
        if node is not None:
            env |= {
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_IP_ADDRESS": HOST,
                "RABBITMQ_NODE_PORT": str(node.amqp_port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_CONFIG_FILE": str(node.folder / "rabbitmq.conf"),
                "RABBITMQ_MNESIA_BASE": str(node.folder / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.folder / "log"),
                "RABBITMQ_PID_FILE": str(node.folder / "rabbit.pid"),
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS,
            }
        return env

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Boot the first node, then the others, which join it as they boot (classic_config
        peer discovery); check that all run in one cluster; import the definitions."""
        epmd = _epmd()
        if epmd is not None:  # ours, so that stop() may end it while names are registered
            subprocess.run(
                [epmd, "-daemon", "-relaxed_command_check"],
                env=self._env(),
                capture_output=True,
                timeout=10,
                check=False,
            )
        first, others = self.nodes[0], self.nodes[1:]
        self._spawn(first)
        self._wait_serving(first)
        for node in others:  # they find the first running and join it as they boot
            self._spawn(node)
        for node in others:
            self._wait_serving(node)
        running = json.loads(self.ctl("cluster_status", "--formatter", "json"))["running_nodes"]
        if sorted(running) != sorted(n.name for n in self.nodes):
            pytest.fail(
                f"expected the nodes {[n.name for n in self.nodes]} in one cluster, got "
                f"{running} running:\n" + "\n".join(n.log_tail() for n in self.nodes)
            )
        for node in self.nodes:  # joined: each takes MQTT sessions once its tracker has a quorum
            self._wait_serving(node)
        if self.definitions is not None:
            self.ctl("import_definitions", str(self.definitions))

    def stop(self) -> None:
        """Kill every node (its data is thrown away with the folder) and the cluster's epmd."""
        for node in self.nodes:
            self.kill(node)
        epmd = _epmd()
        if epmd is not None:
            subprocess.run(
                [epmd, "-kill"], env=self._env(), capture_output=True, timeout=10, check=False
            )

    def kill(self, node: Node) -> None:
        """SIGKILL the node's whole process group, as ``kill -9``: no goodbye to its peers."""
        process, node.process = node.process, None
        if process is None:
            return
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 10.0  # the shell is gone; beam's sockets close just after
        while listening(node.amqp_port) or listening(node.mqtt_port):
            if time.monotonic() > deadline:
                pytest.fail(f"RabbitMQ node {node.name} still listens 10 s after SIGKILL")
            time.sleep(0.05)

    def restart(self, node: Node) -> None:
        """Start a killed node again (same name, ports and data) and wait until it serves: it
        rejoins the cluster by itself and its quorum queue members catch up."""
        assert not node.running, f"{node.name} still runs: kill it first"
        self._spawn(node)
        self._wait_serving(node)

    def _spawn(self, node: Node) -> None:
        with (node.folder / "console.log").open("ab") as log:
            node.process = subprocess.Popen(
                [str(BIN / "rabbitmq-server")],
                env=self._env(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches beam too
            )

    def _wait_serving(self, node: Node) -> None:
        """Until the node listens for AMQP and MQTT and takes an MQTT session (see
        :func:`mqtt_accepts`), or the test fails with its log."""
        deadline = time.monotonic() + BOOT_S
        while True:
            why = "it does not listen"
            if listening(node.amqp_port) and listening(node.mqtt_port):
                accepted, why = mqtt_accepts(node.mqtt_port)
                if accepted:
                    return
            if not node.running:
                pytest.fail(f"RabbitMQ node {node.name} exited:\n{node.log_tail()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"RabbitMQ node {node.name} did not serve AMQP on {node.amqp_port} and MQTT "
                    f"sessions on {node.mqtt_port} in {BOOT_S:.0f} s ({why}):\n{node.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.2)

    # -- questions -----------------------------------------------------------------------------
    def ctl(self, *args: str, node: Node | None = None) -> str:
        """rabbitmqctl against ``node`` (default: the first running one); its stdout, or the
        test fails with its output."""
        target = node or next((n for n in self.nodes if n.running), self.nodes[0])
        done = subprocess.run(
            [str(BIN / "rabbitmqctl"), "-n", target.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=CTL_S,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"rabbitmqctl {' '.join(args)} on {target.name} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}",
                pytrace=False,
            )
        return done.stdout

    def leader(self, queue: str = FIRST_SHARD) -> Node:
        """The node that holds the quorum queue's leader now."""
        rows = json.loads(
            self.ctl("list_queues", "name", "leader", "--formatter", "json", "--quiet")
        )
        names = [row["leader"] for row in rows if row["name"] == queue]
        if not names:
            pytest.fail(f"expected quorum queue {queue!r} on the cluster, got {rows}")
        return next(n for n in self.nodes if n.name == names[0])

    def active_consumer(self, queue: str = FIRST_SHARD) -> str | None:
        """The consumer tag of the queue's active consumer (single active consumer), None if
        none consumes now (the console's tag is ``<its MQTT client id>.<connection>`` and, with
        shards, ``.<shard>``)."""
        return self.active_consumers().get(queue)

    def active_consumers(self) -> dict[str, str]:
        """Each queue that has an active consumer now -> that consumer's tag."""
        rows = json.loads(
            self.ctl(
                "list_consumers", "queue_name", "consumer_tag", "active", "--formatter", "json",
                "--quiet",
            )
        )  # fmt: skip
        return {r["queue_name"]: r["consumer_tag"] for r in rows if r["active"]}

    def shard_of(self, routing_key: str, exchange: str = SHARDS_EXCHANGE) -> str:
        """The queue the consistent-hash ``exchange`` routes ``routing_key`` to, asked of the
        broker's own routing (``rabbitmqctl eval``; nothing is published)."""
        name, key = json.dumps(exchange), json.dumps(routing_key)  # Erlang strings alike
        expr = (
            f'X = rabbit_exchange:lookup_or_die(rabbit_misc:r(<<"/">>, exchange, <<{name}>>)), '
            f"Content = rabbit_basic:build_content({{'P_basic'{', undefined' * 14}}}, <<>>), "
            f'{{ok, Msg}} = rabbit_basic:message(rabbit_misc:r(<<"/">>, exchange, <<{name}>>), '
            f"<<{key}>>, Content), "
            "[{resource, _, queue, Q}] = rabbit_exchange:route(X, "
            'rabbit_basic:delivery(false, false, Msg, undefined)), io:format("~s", [Q]).'
        )
        return self.ctl("eval", expr).strip().removesuffix("ok").strip()

    def amqp_urls(self, first: int = 0) -> list[str]:
        """Every node's AMQP URL, starting at node ``first`` (the order a consumer tries)."""
        urls = [node.amqp_url for node in self.nodes]
        return urls[first:] + urls[:first]

    def mqtt_ports(self) -> list[int]:
        return [node.mqtt_port for node in self.nodes]


@contextmanager
def running_cluster(folder: Path, size: int = 3) -> Iterator[RabbitCluster]:
    """A started cluster of ``size`` nodes in ``folder``, stopped on exit."""
    cluster = RabbitCluster(folder, size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="rabbit_cluster")
def rabbit_cluster_fixture(tmp_path: Path) -> Iterator[RabbitCluster]:
    """3 running RabbitMQ nodes in one cluster, the definitions imported (skipped, naming the
    package, where rabbitmq-server is not installed)."""
    with running_cluster(tmp_path / "rabbitmq") as cluster:
        yield cluster
