"""A real 3-node NATS cluster on loopback: JetStream and the MQTT listener on every node.

Debian's ``nats-server`` (bookworm: 2.9.10). Each node gets its own config file, JetStream
store folder and log in one temp folder, fixed ports (client, cluster route, MQTT, HTTP
monitoring) kept across :meth:`NatsCluster.kill` and :meth:`NatsCluster.restart`, a
``server_name`` (``n1``..``n3``; JetStream and MQTT both require one) and routes to the other
two nodes, so the three form one JetStream meta group (quorum 2 of 3).

Used by ``bench/broker_choice.py`` (issue 16: choosing the clustering broker); a test takes
the fixture::

    from tests.support.nats_cluster import nats_cluster_fixture  # noqa: F401

Invariants: ``start`` returns once every node knows the JetStream meta leader and listens
for MQTT; ``kill`` is ``kill -9`` (no clean shutdown: what a node's loss does);
``restart`` starts the same node with the same config and store, so it catches up from its
peers; ``stop`` ends every node (SIGTERM, then SIGKILL after 5 s).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.rabbitmq import HOST, free_port

CLUSTER_NAME = "sitewatch"
# MQTT and core payloads up to 8 MiB (default 1 MiB): evidence files of ~2 MB travel as messages
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024


def nats_binary() -> str:
    """The nats-server executable, or an error saying how to install it."""
    found = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise FileNotFoundError(
            "nats-server is not installed: run `apt-get install nats-server` "
            "(Debian bookworm ships 2.9.10)"
        )
    return found


@dataclass(frozen=True)
class NatsNode:
    """One node's name and loopback ports (fixed for the cluster's life)."""

    name: str
    client_port: int
    route_port: int
    mqtt_port: int
    http_port: int

    @property
    def client_url(self) -> str:
        return f"nats://{HOST}:{self.client_port}"


def _config(node: NatsNode, peers: list[NatsNode], store: Path) -> str:
    routes = ", ".join(f"nats-route://{HOST}:{peer.route_port}" for peer in peers)
    return f"""server_name: {node.name}
listen: {HOST}:{node.client_port}
http: {HOST}:{node.http_port}
max_payload: {MAX_PAYLOAD_BYTES}
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 4GB
}}
cluster {{
  name: {CLUSTER_NAME}
  listen: {HOST}:{node.route_port}
  routes: [{routes}]
}}
mqtt {{
  listen: {HOST}:{node.mqtt_port}
  # the MQTT sessions' and retained messages' streams on all 3 nodes
  stream_replicas: 3
}}
"""


class NatsCluster:
    """Three nats-server processes on loopback; see the module docstring for the invariants."""

    def __init__(self, folder: Path, size: int = 3) -> None:
        self.binary = nats_binary()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.nodes = [
            NatsNode(f"n{i + 1}", free_port(), free_port(), free_port(), free_port())
            for i in range(size)
        ]
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        for node in self.nodes:
            peers = [peer for peer in self.nodes if peer is not node]
            store = folder / node.name / "jetstream"
            store.mkdir(parents=True, exist_ok=True)
            self.config(node.name).write_text(_config(node, peers, store))

    def node(self, name: str) -> NatsNode:
        """The node called ``name`` (``n1``..)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no NATS node {name!r}: expected one of {[n.name for n in self.nodes]}")

    def config(self, name: str) -> Path:
        return self.folder / name / "nats.conf"

    def log(self, name: str) -> Path:
        return self.folder / name / "nats.log"

    def pid(self, name: str) -> int | None:
        """The node's process id while it runs, else None."""
        process = self._processes.get(name)
        return process.pid if process is not None and process.poll() is None else None

    @property
    def client_urls(self) -> list[str]:
        return [node.client_url for node in self.nodes]

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every node not running; return once all are healthy (:meth:`healthy`)."""
        for node in self.nodes:
            if not self.running(node.name):
                self._spawn(node)
        self.wait_healthy([node.name for node in self.nodes], timeout_s)

    def _spawn(self, node: NatsNode) -> None:
        with self.log(node.name).open("ab") as log:
            self._processes[node.name] = subprocess.Popen(
                [self.binary, "-c", str(self.config(node.name))],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def healthy(self, name: str) -> bool:
        """The node runs, its JetStream knows the meta leader (``/jsz``) and MQTT listens.

        Not ``/healthz``: on 2.9.10 it kept failing on a restarted node for as long as an
        orphaned MQTT retained-messages consumer stayed "not current", while the node served."""
        node = self.node(name)
        if not self.running(name):
            return False
        url = f"http://{HOST}:{node.http_port}/jsz"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                if not (json.load(answer).get("meta_cluster") or {}).get("leader"):
                    return False
            with socket.create_connection((HOST, node.mqtt_port), timeout=0.5):
                return True
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, names: list[str], timeout_s: float) -> None:
        """Block until each named node is healthy; a node that exits or stays unhealthy is an
        error quoting the end of its log."""
        deadline = time.monotonic() + timeout_s
        waiting = list(names)
        while waiting:
            for name in list(waiting):
                process = self._processes.get(name)
                if process is None:
                    raise RuntimeError(f"NATS node {name} was stopped while we waited for it")
                if process.poll() is not None:
                    raise RuntimeError(
                        f"nats-server {name} exited with {process.returncode} at start; "
                        f"its log ends:\n{self._log_tail(name)}"
                    )
                if self.healthy(name):
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(
                    f"NATS nodes {waiting} not healthy in {timeout_s} s (expected /jsz to "
                    f"name a meta leader and the MQTT port open); log of {waiting[0]}:\n"
                    f"{self._log_tail(waiting[0])}"
                )
            time.sleep(0.2)

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log(name)
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def kill(self, name: str) -> None:
        """``kill -9`` the node: no clean shutdown, its peers see it vanish."""
        process = self._processes.get(name)
        if process is None or process.poll() is not None:
            raise RuntimeError(f"NATS node {name} is not running: nothing to kill")
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a killed or stopped node again (same ports and store); wait until healthy."""
        if self.running(name):
            raise RuntimeError(f"NATS node {name} still runs: kill or stop it first")
        self._spawn(self.node(name))
        self.wait_healthy([name], timeout_s)

    def stop(self) -> None:
        """End every node: SIGTERM, SIGKILL after 5 s. Idempotent."""
        processes, self._processes = self._processes, {}
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(name="nats_cluster")
def nats_cluster_fixture(tmp_path: Path) -> Iterator[NatsCluster]:
    """A running 3-node NATS cluster (JetStream, MQTT), stopped after the test."""
    try:
        cluster = NatsCluster(tmp_path / "nats")
    except FileNotFoundError as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
