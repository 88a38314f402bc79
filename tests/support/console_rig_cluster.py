"""The cluster of issue 16 as real processes on loopback: 3 RabbitMQ nodes
(tests/support/rabbitmq.py, deploy/cluster/definitions.json's sharded quorum queues), haproxy in
TCP mode before their MQTT ports for the edges (tests/support/haproxy.py), PostgreSQL, and
console replicas that consume the shards over AMQP (``SITEWATCH_AMQP_URLS``, each replica trying
the nodes in another order; ``SITEWATCH_AMQP_REPLICA`` its index, so each is active on its share
of the shards at once and on the others' only after they are gone) behind haproxy in HTTP mode,
the way deploy/cluster/haproxy.cfg fronts them (health checks on ``/api/health``, a long idle
timeout for the live feed).

    with ClusterRig(tmp_path) as rig:      # the ConsoleRig API, plus:
        rig.start()
        rig.kill_broker_node(1)            # kill -9 node b (rig.rabbit.nodes[1])
        rig.kill_replica(1)                # kill -9 console2; the proxy sends browsers to console1

Differences from :class:`~tests.support.console_rig.ConsoleRig`: the edges publish anonymously
(``edge_logins`` False: RabbitMQ's loopback ``guest``, since ``add-edge`` writes mosquitto's
files, not RabbitMQ's users; the console still checks every message's signature against the
registered key); :attr:`url` is the HTTP proxy; :attr:`mqtt_endpoints` is the TCP proxy.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.console_rig import HOST, ConsoleRig, Replica, free_port, stop_process
from tests.support.console_rig import wait_listening as wait_port
from tests.support.haproxy import TcpFront, _binary
from tests.support.rabbitmq import RabbitCluster


class HttpFront:
    """haproxy in HTTP mode on a free port before the replicas (round robin, checked every
    0.5 s on /api/health, out after one failed check, a request to a dead one sent again)."""

    def __init__(self, folder: Path, replicas: list[Replica]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.log = free_port(), folder / "haproxy-http.log"
        servers = "\n".join(
            f"    server {r.name} {HOST}:{r.port} check inter 500ms fall 1 rise 1" for r in replicas
        )
        self.config = folder / "haproxy-http.cfg"
        self.config.write_text(
            f"""global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 3
    option redispatch

frontend console
    bind {HOST}:{self.port}
    default_backend consoles

backend consoles
    balance roundrobin
    option httpchk GET /api/health
    http-check expect status 200
{servers}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_binary(), "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port, self.proc, "haproxy (HTTP)", self.log, 10.0)

    def stop(self) -> None:
        stop_process(self.proc, 5.0)


class ClusterRig(ConsoleRig):
    """3 RabbitMQ nodes, ``replicas`` consoles on PostgreSQL, haproxy for both (module doc)."""

    edge_logins = False

    def __init__(self, folder: Path, *, replicas: int = 2, nodes: int = 3,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(folder, database="postgresql", replicas=replicas, env=env)
        self.rabbit = RabbitCluster(folder / "rabbitmq", nodes)
        self.mqtt_front: TcpFront | None = None
        self.http_front = HttpFront(folder / "proxy", self.replicas)

    def start_broker(self) -> None:
        self.rabbit.start()
        self.mqtt_front = TcpFront(self.folder / "proxy", self.rabbit.mqtt_ports())
        self.mqtt_front.start()

    def start_front(self) -> None:
        self.http_front.start()

    def env(self, replica: Replica) -> dict[str, str]:
        env = super().env(replica)
        for name in ("SITEWATCH_MQTT_USERNAME", "SITEWATCH_MQTT_PASSWORD"):
            env.pop(name)  # RabbitMQ knows no such user: anonymous (guest) on loopback
        assert self.mqtt_front is not None, "start the broker first"
        index = self.replicas.index(replica)
        env["SITEWATCH_MQTT_PORT"] = str(self.mqtt_front.port)  # commands to the edges
        env["SITEWATCH_AMQP_URLS"] = ",".join(self.rabbit.amqp_urls(first=index))
        env["SITEWATCH_AMQP_REPLICAS"] = str(len(self.replicas))  # each its share of the shards
        env["SITEWATCH_AMQP_REPLICA"] = str(index)
        return env

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_front.port}"

    @property
    def mqtt_endpoints(self) -> list[tuple[str, int]]:
        assert self.mqtt_front is not None, "start the broker first"
        return [(HOST, self.mqtt_front.port)]

    def broker_pids(self) -> dict[str, list[int]]:
        out = {}
        for node in self.rabbit.nodes:
            if node.running and node.process is not None:
                out[f"rabbit-{node.letter}"] = self.tree(node.process.pid)
        for name, front in (("haproxy-mqtt", self.mqtt_front), ("haproxy-http", self.http_front)):
            proc = getattr(front, "_process", None) or getattr(front, "proc", None)
            if proc is not None and proc.poll() is None:
                out[name] = [proc.pid]
        return out

    def kill_broker_node(self, index: int) -> None:
        """kill -9 RabbitMQ node ``index`` (its whole process group)."""
        self.rabbit.kill(self.rabbit.nodes[index])

    def stop_broker(self) -> None:
        if self.mqtt_front is not None:
            self.mqtt_front.stop()
        self.http_front.stop()
        self.rabbit.stop()
