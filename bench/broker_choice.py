"""Which broker for a SiteWatch cluster (issue 16): mosquitto, RabbitMQ or NATS JetStream,
measured with the same simulated edges and the same consumer bookkeeping.

    .venv/bin/python -m bench.broker_choice [--brokers mosquitto,rabbitmq,nats,nats-mqtt]
        [--edges 10] [--messages 200] [--size 1500] [--rate 0] [--evidence 0]
        [--evidence-name dotted|plain] [--kill] [--restart-after S] [--front proxy|list]

The NATS rigs need ``nats-py`` in the venv (``pip install nats-py``; not a project dependency).

Not a test: a measurement, reported in bench/RESULTS.md ("Broker choice (issue 16)"). One
JSON line per broker on stdout. For each broker (bench/broker_rigs.py starts it):

* ``--edges`` edges, each the edge's real MQTT client (``MqttTransport``: persistent
  session, QoS 1), publish ``--messages`` alert-sized messages (``--size`` bytes, a JSON head
  with the message id and the time it was first published, padded), at most ``--window``
  unacknowledged at a time and ``--rate`` per second per edge (0: as fast as PUBACKs come);
  ``--evidence K`` adds K messages of 2 MB per edge (an evidence file each, on the edge's
  topic ``.../evidence/<alert>/<alert>_clip.mp4``; ``plain``: ``_mp4``). A publish the
  client abandons (disconnected) or that waits over ``--resend-s`` is published again with
  the same id, as the edge's outbox does: at least once.
* the console's consumer (``nats-mqtt``: NATS with the console on MQTT) stores each message
  in a dict keyed by id, then acknowledges it; a second copy of an id counts as a duplicate.
* ``--kill``: once half the messages are acknowledged, ``kill -9`` the node holding the
  ingest queue's (RabbitMQ) or stream's (NATS; ``nats-mqtt``: ``$MQTT_msgs``) leader;
  mosquitto (one node) is killed and restarted after ``--restart-after`` s. ``--front
  proxy``: the edges connect to haproxy in front of the nodes (deploy/cluster/haproxy.cfg's
  way); ``list``: each edge starts on node ``i % 3`` and, disconnected for 2 s, moves to the
  next node in its list.

Measured: messages/s consumed (first publish to last store), p50/p95 latency first publish
-> stored (ms, alerts and evidence apart), broker CPU (s, and % of one core) and RSS (MiB,
peak of the sum over nodes), lost (acknowledged to an edge, never stored), duplicates, and
per edge the longest wait between two PUBACKs (the fail-over time with ``--kill``); for NATS,
``lost_in_broker``: lost ids the stream never held.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.broker_rigs import HOST, RIGS
from sitewatch.edge.publish.transport import Delivery, MqttTransport

EVIDENCE_BYTES = 2 * 1024 * 1024
TICK_S = os.sysconf("SC_CLK_TCK")


def payload(message_id: str, sent_at: float, size: int) -> bytes:
    """``size`` bytes: a JSON head line (id, first publish time in s since the epoch), padding."""
    head = json.dumps({"id": message_id, "t": sent_at}).encode() + b"\n"
    return head + b"x" * max(0, size - len(head))


def message_id(data: bytes) -> str:
    """The id in a :func:`payload`'s head line."""
    return str(json.loads(data[: data.index(b"\n")])["id"])


class Ledger:
    """The consumer's store: id -> (time stored, latency s, evidence?); duplicates counted."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[float, float, bool]] = {}
        self.duplicates = 0
        self._lock = threading.Lock()

    def store(self, data: bytes) -> None:
        now = time.time()
        head = json.loads(data[: data.index(b"\n")])
        with self._lock:
            if head["id"] in self.stored:
                self.duplicates += 1
            else:
                self.stored[head["id"]] = (now, now - head["t"], head["id"].startswith("ev"))

    def count(self) -> int:
        with self._lock:
            return len(self.stored)


class Edge(threading.Thread):
    """One simulated edge publishing its messages at least once (see the module docstring)."""

    def __init__(self, index: int, ports: Sequence[int], options: argparse.Namespace) -> None:
        super().__init__(name=f"edge-{index}", daemon=True)
        self.site = f"e{index}"
        self.ports = list(ports)
        self.turn = index % len(self.ports)
        self.options = options
        self.acked: set[str] = set()
        self.republished = 0
        self.moves = 0
        self.longest_gap_s = 0.0
        self.stopping = threading.Event()
        self.transport = self._connect()

    def _connect(self) -> MqttTransport:
        return MqttTransport(
            HOST,
            self.ports[self.turn],
            client_id=f"bench-{self.site}",
            reconnect_min_s=1,
            reconnect_max_s=2,
        )

    def plan(self) -> list[tuple[str, str, int]]:
        """(id, topic, size) of every message, evidence spread among the alerts."""
        alerts = [
            (f"al-{self.site}-{n}", f"sitewatch/{self.site}/alerts", self.options.size)
            for n in range(self.options.messages)
        ]
        step = max(1, len(alerts) // max(1, self.options.evidence))
        plan: list[tuple[str, str, int]] = []
        for n, alert in enumerate(alerts):
            plan.append(alert)
            if n % step == step - 1 and n // step < self.options.evidence:
                plan.append(
                    (
                        f"ev-{self.site}-{n}",
                        f"sitewatch/{self.site}/evidence/a{n}/a{n}_clip{self.options.dot}mp4",
                        EVIDENCE_BYTES,
                    )
                )
        return plan

    def run(self) -> None:
        pending: dict[str, tuple[str, bytes, Delivery, float]] = {}
        plan = self.plan()
        interval = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        next_at = last_ack = time.monotonic()
        down_since: float | None = None
        while (plan or pending) and not self.stopping.is_set():
            now = time.monotonic()
            while plan and len(pending) < self.options.window and now >= next_at:
                message_id, topic, size = plan.pop(0)
                data = payload(message_id, time.time(), size)
                pending[message_id] = (topic, data, self.transport.publish(topic, data), now)
                next_at = max(next_at + interval, now) if interval else now
            for message_id, (topic, data, delivery, sent) in list(pending.items()):
                if delivery.acknowledged:
                    del pending[message_id]
                    self.acked.add(message_id)
                    self.longest_gap_s = max(self.longest_gap_s, now - last_ack)
                    last_ack = now
                elif self.transport.connected and (
                    delivery.abandoned or now - sent > self.options.resend_s
                ):
                    self.republished += 1
                    pending[message_id] = (topic, data, self.transport.publish(topic, data), now)
            if self.transport.connected:
                down_since = None
            elif down_since is None:
                down_since = now
            elif self.options.front == "list" and now - down_since > 2.0:
                self.transport.close()  # this node is gone: the next in the list
                self.turn = (self.turn + 1) % len(self.ports)
                self.moves += 1
                self.transport = self._connect()
                down_since = None
            time.sleep(0.002)
        self.transport.close()


class Sampler(threading.Thread):
    """CPU seconds and RSS of the broker's processes (and their children), every 0.5 s."""

    def __init__(self, rig: Any) -> None:
        super().__init__(name="sampler", daemon=True)
        self.rig = rig
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (first seen, latest) CPU s
        self.peak_rss_mib = 0.0
        self.stopping = threading.Event()

    @staticmethod
    def _tree(roots: list[int]) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], list(roots)
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def sample(self) -> None:
        rss = 0.0
        for pid in self._tree(self.rig.pids()):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            cpu_s = (int(fields[11]) + int(fields[12])) / TICK_S
            first = self.cpu.get(pid, (cpu_s, cpu_s))[0]
            self.cpu[pid] = (first, cpu_s)
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
        self.peak_rss_mib = max(self.peak_rss_mib, rss)

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.sample()

    def cpu_s(self) -> float:
        return sum(latest - first for first, latest in self.cpu.values())


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def measure(name: str, options: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """One broker's run; the JSON line's fields (see the module docstring)."""
    rig = RIGS[name](folder / name)
    started = time.monotonic()
    with rig, ExitStack() as stack:
        boot_s = time.monotonic() - started
        ports = rig.edge_ports
        if options.front == "proxy" and len(ports) > 1:
            from tests.support.haproxy import tcp_front

            ports = [stack.enter_context(tcp_front(folder / name / "haproxy", ports)).port]
        ledger = Ledger()
        consumer = rig.consume(ledger)
        edges = [Edge(i, ports, options) for i in range(options.edges)]
        for edge in edges:
            if not edge.transport.wait_connected(30):
                raise TimeoutError(f"{edge.site} did not connect to {name} in 30 s")
        sampler = Sampler(rig)
        sampler.sample()
        sampler.start()
        first_sent = time.time()
        for edge in edges:
            edge.start()
        total = sum(len(edge.plan()) for edge in edges)
        killed: dict[str, Any] = {}
        deadline = time.monotonic() + options.max_s
        while any(edge.is_alive() for edge in edges) and time.monotonic() < deadline:
            acked = sum(len(edge.acked) for edge in edges)
            if options.kill and not killed and acked >= total // 2:
                node = rig.leader()
                rig.kill(node)
                killed = {
                    "node": node,
                    "at_acked": acked,
                    "at_s": round(time.time() - first_sent, 1),
                }
                if options.restart_after > 0:
                    threading.Timer(options.restart_after, rig.restart, (node,)).start()
            time.sleep(0.05)
        for edge in edges:
            edge.stopping.set()
            edge.join(10)
        acked_ids = set().union(*(edge.acked for edge in edges))
        stable_since, seen = time.monotonic(), -1
        while time.monotonic() - stable_since < options.drain_s:  # until stores stop coming
            if ledger.count() != seen:
                seen, stable_since = ledger.count(), time.monotonic()
            if acked_ids <= ledger.stored.keys():
                break
            time.sleep(0.1)
        sampler.stopping.set()
        sampler.join()
        consumer.stop()
        in_broker = rig.audit(message_id) if hasattr(rig, "audit") else None
    stored = ledger.stored
    last = max((at for at, _, _ in stored.values()), default=first_sent)
    alerts = [lat for _, lat, evidence in stored.values() if not evidence]
    evidence = [lat for _, lat, is_ev in stored.values() if is_ev]
    span_s = max(last - first_sent, 1e-6)
    gaps = sorted(edge.longest_gap_s for edge in edges)
    return {
        "broker": name,
        "edges": options.edges,
        "front": options.front if len(rig.edge_ports) > 1 else "direct",
        "messages": total,
        "acked": len(acked_ids),
        "stored": len(stored),
        "lost": len(acked_ids - stored.keys()),
        "never_acked": total - len(acked_ids),
        "lost_in_broker": None if in_broker is None else len(acked_ids - in_broker),
        "duplicates": ledger.duplicates,
        "republished": sum(edge.republished for edge in edges),
        "edge_moves": sum(edge.moves for edge in edges),
        "msgs_per_s": round(len(stored) / span_s, 1),
        "alert_p50_ms": _percentile(alerts, 0.5),
        "alert_p95_ms": _percentile(alerts, 0.95),
        "evidence_p50_ms": _percentile(evidence, 0.5),
        "evidence_p95_ms": _percentile(evidence, 0.95),
        "broker_cpu_s": round(sampler.cpu_s(), 1),
        "broker_cpu_pct": round(100 * sampler.cpu_s() / span_s, 1),
        "broker_rss_mib": round(sampler.peak_rss_mib, 1),
        "edge_longest_ack_gap_s": {
            "median": round(gaps[len(gaps) // 2], 1),
            "max": round(gaps[-1], 1),
        },
        "killed": killed or None,
        "boot_s": round(boot_s, 1),
        "span_s": round(span_s, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="mosquitto,rabbitmq,nats")
    parser.add_argument("--edges", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200, help="alerts per edge")
    parser.add_argument("--size", type=int, default=1500, help="bytes per alert")
    parser.add_argument("--evidence", type=int, default=0, help="2 MB messages per edge")
    parser.add_argument(
        "--evidence-name",
        choices=("dotted", "plain"),
        default="dotted",
        help="dotted: a<n>_clip.mp4 as the edge names files; plain: a<n>_clip_mp4",
    )
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s per edge; 0: max")
    parser.add_argument("--window", type=int, default=10, help="unacknowledged per edge")
    parser.add_argument("--resend-s", type=float, default=10.0)
    parser.add_argument("--kill", action="store_true")
    parser.add_argument(
        "--restart-after",
        type=float,
        default=-1.0,
        help="s after the kill; default: 5 for mosquitto, never for clusters",
    )
    parser.add_argument("--front", choices=("proxy", "list"), default="proxy")
    parser.add_argument("--drain-s", type=float, default=20.0)
    parser.add_argument("--max-s", type=float, default=300.0)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (logs)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # a killed node's connection resets
    unknown = set(options.brokers.split(",")) - RIGS.keys()
    if unknown:
        parser.error(f"unknown brokers {sorted(unknown)}: expected some of {sorted(RIGS)}")
    for name in options.brokers.split(","):
        run = argparse.Namespace(**vars(options))
        run.dot = "." if options.evidence_name == "dotted" else "_"
        if run.restart_after < 0:
            run.restart_after = 5.0 if name == "mosquitto" else 0.0
        if options.keep is not None:  # the nodes' logs and data stay for a look
            print(json.dumps(measure(name, run, options.keep)), flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix=f"broker-{name}-") as folder:
            print(json.dumps(measure(name, run, Path(folder))), flush=True)


if __name__ == "__main__":
    main()
