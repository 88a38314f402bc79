"""Each message ingested by exactly one console replica (issue 16): 3 real RabbitMQ nodes with
deploy/cluster/definitions.json, haproxy in front of their MQTT, an edge publishing signed
alerts with QoS 1 through it, and two console replicas (``create_app``) on one real PostgreSQL
database consuming the quorum queue ``sitewatch.ingest`` (single active consumer) over AMQP.

While both replicas run, the broker delivers every message to one of them only. Then, in the
middle of a burst, the node holding the queue's leader is killed (``kill -9``) and the replica
that consumes is stopped: the other takes over, and every alert is stored once, each
``(id, seq)`` once in its timeline, all signed, nothing refused (the stopped replica finishes
what it holds while the other is given the same messages again: the two meet on some alerts,
and the loser handles the message again, never refusing it). The killed node then comes back
and the queue goes on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sitewatch.console.app import create_app
from sitewatch.console.ingest.service import Ingest
from sitewatch.console.store.models import Alert, AlertEventRow, IngestReject
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign
from sitewatch.edge.publish.transport import MqttTransport
from tests.component.test_server_evidence_trust import register_edge
from tests.support.console_support import Console, make_settings
from tests.support.haproxy import TcpFront, tcp_front
from tests.support.ingest_support import PREFIX, alert
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401
from tests.support.rabbitmq import (  # noqa: F401
    HOST,
    RabbitCluster,
    mqtt_accepts,
    rabbit_cluster_fixture,
)

SITE = "north"
SEQS = 3  # messages per alert: start, update, end
CALM_ALERTS = 10  # both replicas up, no fault
BURST_ALERTS = 40  # the node and the replica go down in the middle of these
TOTAL_ALERTS = CALM_ALERTS + BURST_ALERTS + 1  # and one after the node is back
SETTLE_S = 60.0
CONNECT_S = 60.0  # each refused try costs the broker's client-id registration timeout


class Replica:
    """One console (its app, lifespan running) consuming the queue from ``urls`` in turn."""

    def __init__(self, folder: Path, database_url: str, front: TcpFront, urls: list[str]) -> None:
        settings = make_settings(
            folder, database_url=database_url
        ).model_copy(
            update={
                "mqtt_host": HOST,  # commands to the edges, through haproxy
                "mqtt_port": front.port,
                "mqtt_client_id": f"console-{uuid.uuid4().hex[:8]}",
                "amqp_urls": urls,
                "notify_poll_s": 0.0,
            }
        )
        self.client = TestClient(create_app(settings))
        self.client.__enter__()
        self.console = Console(settings, self.client)
        self.running = True
        assert self.ingest.wait_ready(30.0), "the replica did not consume the queue in 30 s"

    @property
    def ingest(self) -> Ingest:
        ingest = self.client.app.state.sitewatch.ingest  # type: ignore[attr-defined]
        assert isinstance(ingest, Ingest)
        return ingest

    def stop(self) -> None:
        """The app's shutdown: its consumer closes first, its worker finishes what it holds."""
        if self.running:
            self.running = False
            self.client.__exit__(None, None, None)


class Publisher:
    """An edge's MQTT client through haproxy: each message QoS 1, sent again until the broker
    acknowledged it (a node's loss abandons what was in flight, as the edge's outbox does)."""

    def __init__(self, front: TcpFront, cluster: RabbitCluster) -> None:
        self.transport = MqttTransport(
            HOST, front.port, client_id=f"edge-{uuid.uuid4().hex[:8]}", reconnect_max_s=1
        )
        if not self.transport.wait_connected(CONNECT_S):
            nodes = {n.name: mqtt_accepts(n.mqtt_port) for n in cluster.nodes}
            logs = "\n".join(n.log_tail() for n in cluster.nodes if not nodes[n.name][0])
            raise AssertionError(
                f"the edge did not connect through haproxy in {CONNECT_S:.0f} s; each node now "
                f"(accepts, why): {nodes}\n{logs}"
            )
        self.resent = 0

    def send(self, msg: m.AlertEvent) -> None:
        topic, payload = m.alerts(PREFIX, SITE), m.encode(msg)
        deadline = time.monotonic() + 30.0
        while not self.transport.publish(topic, payload, qos=1).wait(5.0):
            assert time.monotonic() < deadline, f"alert {msg.id} seq {msg.seq} not taken in 30 s"
            self.resent += 1
            time.sleep(0.2)

    def close(self) -> None:
        self.transport.close()


@contextmanager
def replicas(
    tmp_path: Path, database_url: str, front: TcpFront, cluster: RabbitCluster
) -> Iterator[list[Replica]]:
    with ExitStack() as stack:
        started = []
        for i in range(2):  # one after the other: the second finds the schema migrated
            replica = Replica(tmp_path / f"replica{i}", database_url, front, cluster.amqp_urls(i))
            stack.callback(replica.stop)
            started.append(replica)
        yield started


def consuming(cluster: RabbitCluster, replicas: tuple[Replica, Replica]) -> Replica:
    """The replica the broker delivers to now (by its consumer tag, its MQTT client id)."""
    deadline = time.monotonic() + 20.0
    shard = cluster.shard_of(f"{PREFIX}.{SITE}.alerts")  # the site's alerts go to one shard
    while (tag := cluster.active_consumer(shard)) is None:  # a takeover is under way
        assert time.monotonic() < deadline, "no replica consumed the queue for 20 s"
        time.sleep(0.2)
    ids = [r.console.settings.mqtt_client_id for r in replicas]
    found = [r for r, id_ in zip(replicas, ids, strict=True) if tag.startswith(id_ + ".")]
    assert len(found) == 1, f"expected the consumer tag of one of {ids}, got {tag!r}"
    return found[0]


def messages(count: int, key: Ed25519PrivateKey) -> list[m.AlertEvent]:
    """``count`` alerts of :data:`SEQS` messages each, interleaved as several cameras send."""
    ids = [uuid.uuid4() for _ in range(count)]
    return [
        sign(alert(aid, seq, site=SITE, end=seq == SEQS - 1), key)
        for seq in range(SEQS)
        for aid in ids
    ]


def stored(replica: Replica) -> tuple[int, int]:
    """(alerts, timeline rows) in the shared database."""
    with replica.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        return (
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(select(func.count()).select_from(AlertEventRow)) or 0,
        )


def wait_stored(replica: Replica, alerts: int) -> None:
    deadline = time.monotonic() + SETTLE_S
    while stored(replica) != (alerts, alerts * SEQS):
        assert time.monotonic() < deadline, (
            f"expected {alerts} alerts and {alerts * SEQS} timeline rows in {SETTLE_S:.0f} s, "
            f"got {stored(replica)}"
        )
        time.sleep(0.1)


def test_each_message_is_stored_once_through_a_node_kill_and_a_replica_stop(
    tmp_path: Path,
    rabbit_cluster: RabbitCluster,
    postgres_url: str,  # noqa: F811
) -> None:
    key = Ed25519PrivateKey.generate()
    with (
        tcp_front(tmp_path / "haproxy", rabbit_cluster.mqtt_ports()) as front,
        replicas(tmp_path, postgres_url, front, rabbit_cluster) as (one, two),
    ):
        register_edge(one.console, SITE, key)
        edge = Publisher(front, rabbit_cluster)
        try:
            calm = messages(CALM_ALERTS, key)
            for msg in calm:
                edge.send(msg)
            wait_stored(one, CALM_ALERTS)
            # while both run, the broker delivers each message to one replica only
            got = sorted((one.ingest.received, two.ingest.received))
            assert got == [0, len(calm)], f"expected one replica to get all {len(calm)}, got {got}"
            assert consuming(rabbit_cluster, (one, two)) is (one if one.ingest.received else two)

            burst = messages(BURST_ALERTS, key)
            third = len(burst) // 3
            for msg in burst[:third]:
                edge.send(msg)
            leader = rabbit_cluster.leader(rabbit_cluster.shard_of(f"{PREFIX}.{SITE}.alerts"))
            rabbit_cluster.kill(leader)  # kill -9 mid-burst: a new leader among the other two
            for msg in burst[third : 2 * third]:
                edge.send(msg)
            active = consuming(rabbit_cluster, (one, two))  # the kill may have moved it
            standby = two if active is one else one
            stopping = threading.Thread(target=active.stop)  # its shutdown overlaps the burst
            stopping.start()
            for msg in burst[2 * third :]:
                edge.send(msg)
            stopping.join(30.0)
            assert not stopping.is_alive(), "the active replica did not stop in 30 s"
            wait_stored(standby, CALM_ALERTS + BURST_ALERTS)
            assert standby.ingest.received > 0, "the standby never took over"

            rabbit_cluster.restart(leader)  # back in the cluster: the queue goes on
            for msg in messages(1, key):
                edge.send(msg)
            wait_stored(standby, TOTAL_ALERTS)
        finally:
            edge.close()

        with standby.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
            pairs = s.execute(select(AlertEventRow.alert_id, AlertEventRow.seq)).all()
            assert len(pairs) == len(set(pairs)) == TOTAL_ALERTS * SEQS
            assert s.scalar(select(func.count()).where(AlertEventRow.signed.is_(False))) == 0
            ends = s.execute(select(Alert.seq, Alert.event)).all()
            assert set(ends) == {(SEQS - 1, "end")}, "every alert ends at its newest message"
            rejects = list(s.scalars(select(IngestReject)))
            assert rejects == [], [(r.topic, r.reason) for r in rejects]
        assert standby.ingest.connected and standby.ingest.rejected == 0
        assert leader.running
