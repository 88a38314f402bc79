"""Several console replicas ingest at once (issue 16): 3 real RabbitMQ nodes with
deploy/cluster/definitions.json (4 quorum queues filled by a consistent-hash exchange from
``amq.topic``), haproxy before their MQTT, PostgreSQL, and 2 ``sitewatch server run`` replicas,
each told its place (``SITEWATCH_AMQP_REPLICA``), consuming every shard over AMQP.

Shown on these real parts: the sites' alert topics spread over the shards; each replica is the
active consumer of its own shards at the same time as the other of its own; evidence files
(published over MQTT before or after the alert that lists them, on other shards than the alert,
so often on the other replica) are all verified and stored; then one replica is killed
(``kill -9``) mid-burst and the survivor takes over its shards: every alert is stored exactly
once, each ``(id, seq)`` once, nothing refused, and each site's messages stored in the order
its edge sent them. The killed replica then comes back and gets its shards back from the
survivor (which offers them back every 30 s: ``AmqpConsumer._offer``), and ingests them again."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from sitewatch.console.store.models import Alert, AlertEventRow, Evidence, IngestReject
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign
from sitewatch.edge.publish.transport import MqttTransport
from tests.support.console_rig import Replica
from tests.support.console_rig_cluster import ClusterRig
from tests.support.ingest_support import PREFIX, alert, evidence_file
from tests.support.rabbitmq import RabbitCluster, installed

pytestmark = pytest.mark.skipif(
    not installed(), reason="RabbitMQ is not installed: `make test-deps` installs rabbitmq-server"
)

SITES = [f"site{i:02d}" for i in range(12)]
SEQS = 3  # start (lists one evidence file), update, end
CALM = 2  # alerts per site while both replicas run
BURST = 2  # alerts per site sent around the kill
SETTLE_S = 120.0
Sent = tuple[str, int]  # (alert id, seq)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ClusterRig]:
    cluster = ClusterRig(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.close()  # every process it started; the folder with logs stays


class Edges:
    """Every site's edge as one anonymous MQTT client through the proxy (QoS 1, sent again
    until the broker acknowledges it); each message signed with its site's key."""

    def __init__(self, rig: ClusterRig, keys: dict[str, Ed25519PrivateKey]) -> None:
        host, port = rig.mqtt_endpoints[0]
        self.keys = keys
        self.transport = MqttTransport(
            host, port, client_id=f"edges-{uuid.uuid4().hex[:8]}", reconnect_max_s=1
        )
        assert self.transport.wait_connected(20.0), "the edges did not connect through haproxy"
        self.sent: dict[str, list[Sent]] = {site: [] for site in keys}

    def publish(self, topic: str, payload: bytes) -> None:
        deadline = time.monotonic() + 60.0
        while not self.transport.publish(topic, payload, qos=1).wait(5.0):
            assert time.monotonic() < deadline, f"{topic} not taken by the broker in 60 s"
            time.sleep(0.2)

    def alert(self, msg: m.AlertEvent) -> None:
        self.publish(m.alerts(PREFIX, msg.site_id), m.encode(sign(msg, self.keys[msg.site_id])))
        self.sent[msg.site_id].append((str(msg.id), msg.seq))

    def burst(self, alerts: int, files_first: bool) -> None:
        """``alerts`` alerts of every site, their messages interleaved across sites; the
        start of each lists a still whose bytes go before it (``files_first``) or after."""
        ids = {site: [uuid.uuid4() for _ in range(alerts)] for site in self.keys}
        for seq in range(SEQS):
            for n in range(alerts):
                for site in self.keys:
                    aid = ids[site][n]
                    if seq > 0:
                        self.alert(alert(aid, seq, site=site, end=seq == SEQS - 1))
                        continue
                    name = f"{aid.hex[:8]}.still.jpg"  # a dot in the name: several key levels
                    data = b"\xff\xd8\xff" + os.urandom(64)
                    listed = alert(aid, 0, site=site, evidence=[evidence_file(name, data)])
                    file_topic = m.evidence(PREFIX, site, str(aid), name)
                    if files_first:
                        self.publish(file_topic, data)
                    self.alert(listed)
                    if not files_first:
                        self.publish(file_topic, data)

    def close(self) -> None:
        self.transport.close()


def owner(rig: ClusterRig, tag: str) -> Replica:
    (found,) = [r for r in rig.replicas if tag.startswith(f"sitewatch-{r.name}.")]
    return found


def actives(rig: ClusterRig, want: int, timeout_s: float = 60.0) -> dict[str, Replica]:
    """Shard -> the replica active on it, once ``want`` shards have an active consumer."""
    deadline = time.monotonic() + timeout_s
    while len(tags := rig.rabbit.active_consumers()) < want:
        assert time.monotonic() < deadline, f"expected {want} active shards, got {tags}"
        time.sleep(0.5)
    return {queue: owner(rig, tag) for queue, tag in tags.items()}


def consumers_per_shard(cluster: RabbitCluster) -> dict[str, int]:
    rows = json.loads(
        cluster.ctl("list_consumers", "queue_name", "consumer_tag", "--formatter", "json", "-q")
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["queue_name"]] = counts.get(row["queue_name"], 0) + 1
    return counts


def stored(rig: ClusterRig) -> tuple[int, int, int]:
    with rig.db.session() as s:
        stored_files = select(func.count()).select_from(Evidence).where(Evidence.status == "stored")
        return (
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(select(func.count()).select_from(AlertEventRow)) or 0,
            s.scalar(stored_files) or 0,
        )


def settle(rig: ClusterRig, alerts: int) -> None:
    want = (alerts, alerts * SEQS, alerts)
    deadline = time.monotonic() + SETTLE_S
    while (got := stored(rig)) != want:
        assert time.monotonic() < deadline, (
            f"expected (alerts, timeline rows, stored files) {want} in {SETTLE_S:.0f} s, got "
            f"{got}; logs: {[str(r.log) for r in rig.replicas]}"
        )
        time.sleep(0.5)


def test_replicas_ingest_their_shards_at_once_and_a_survivor_takes_over(rig: ClusterRig) -> None:
    creds = rig.add_edges(SITES)
    keys = {site: c.private_key for site, c in creds.items() if c.private_key is not None}
    rig.start()
    active = actives(rig, 4)
    for queue, replica in active.items():  # each its own share: shard % 2 == its index
        assert replica is rig.replicas[int(queue.rsplit(".", 1)[1]) % 2], (queue, replica.name)
    assert {r.name for r in active.values()} == {r.name for r in rig.replicas}
    site_shard = {site: rig.rabbit.shard_of(f"sitewatch.{site}.alerts") for site in SITES}
    busy = {active[q].name for q in site_shard.values()}
    assert len(set(site_shard.values())) >= 2 and len(busy) == 2, site_shard

    edges = Edges(rig, keys)
    try:
        edges.burst(CALM, files_first=True)
        settle(rig, len(SITES) * CALM)
        deadline = time.monotonic() + 60.0  # the standby subscriptions (30 s after connecting)
        while (counts := consumers_per_shard(rig.rabbit)) != {q: 2 for q in active}:
            assert time.monotonic() < deadline, f"expected 2 consumers on every shard: {counts}"
            time.sleep(1.0)
        victim, survivor = rig.replicas[1], rig.replicas[0]
        half = len(SITES) // 2
        edges.keys = dict(list(keys.items())[:half])
        edges.burst(BURST, files_first=False)
        victim.kill()  # kill -9 mid-burst: its shards go to the survivor
        edges.keys = dict(list(keys.items())[half:])
        edges.burst(BURST, files_first=False)
    finally:
        edges.close()
    sent = edges.sent
    settle(rig, len(SITES) * (CALM + BURST))
    after = actives(rig, 4)
    assert {r.name for r in after.values()} == {survivor.name}, after
    assert survivor.alive, f"the survivor died: see {survivor.log}"

    victim.start()  # it comes back: the survivor hands its shards back within ~30 s
    deadline = time.monotonic() + 90.0
    while (back := actives(rig, 4)) != active:
        assert time.monotonic() < deadline, f"expected the shards back as {active}, got {back}"
        time.sleep(1.0)
    edges = Edges(rig, keys)
    try:
        edges.sent = sent
        edges.burst(CALM, files_first=True)
    finally:
        edges.close()
    total = len(SITES) * (CALM + BURST + CALM)
    settle(rig, total)

    with rig.db.session() as s:
        rows = s.execute(
            select(Alert.site_id, AlertEventRow.alert_id, AlertEventRow.seq)
            .join(Alert, Alert.id == AlertEventRow.alert_id)
            .order_by(AlertEventRow.id)
        ).all()
        rejects = [(r.topic, r.reason) for r in s.scalars(select(IngestReject))]
        events = set(s.execute(select(Alert.event)).scalars())
    assert rejects == [], rejects
    pairs = [(aid, seq) for _, aid, seq in rows]
    assert len(pairs) == len(set(pairs)) == total * SEQS
    for site in SITES:  # each site's messages stored in the order its edge sent them
        assert [(a, q) for s_, a, q in rows if s_ == site] == edges.sent[site], site
    assert events == {"end"}
