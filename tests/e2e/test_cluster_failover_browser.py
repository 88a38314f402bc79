"""The county cluster end to end (issue 16), every part a real process on loopback: 3 RabbitMQ
nodes (the quorum queue of deploy/cluster/definitions.json), haproxy before their MQTT, a
throw-away PostgreSQL, 2 ``sitewatch server run`` replicas consuming the queue over AMQP, and
headless Chromium on the replica that is NOT consuming (tests/support/console_rig_cluster.py).

An edge publishes a burst of signed alerts (QoS 1, sent again until the broker takes it, as the
edge's outbox does). A third of the way in, the consuming replica is killed (``kill -9``:
whatever it held unacknowledged comes again to the survivor); two thirds in, the node holding
the queue's leader is killed (``kill -9``). Then: every alert is stored exactly once (each
``(id, seq)`` once, nothing refused), and every one of them appeared live in the browser on the
survivor, without a reload (the live feed crosses replicas through PostgreSQL; the alerts the
dead replica stored reached it before it died or were taken over by the survivor)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from sitewatch.console.store.models import Alert, AlertEventRow, IngestReject
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign
from sitewatch.edge.publish.transport import MqttTransport
from tests.support.browser_support import PASSWORD, browser_fixture, login, open_page  # noqa: F401
from tests.support.console_rig import Replica
from tests.support.console_rig_cluster import ClusterRig
from tests.support.ingest_support import PREFIX, alert
from tests.support.rabbitmq import installed

SITE = "north"
SEQS = 3  # start, update, end
ALERTS = 30  # one burst; the feed shows them all on one page
SETTLE_S = 90.0

pytestmark = pytest.mark.skipif(
    not installed(), reason="RabbitMQ is not installed: `make test-deps` installs rabbitmq-server"
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ClusterRig]:
    cluster = ClusterRig(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.close()  # every process it started, the folder with logs stays


class Edge:
    """The site's edge through the MQTT proxy: QoS 1, sent again until taken."""

    def __init__(self, host: str, port: int, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.transport = MqttTransport(
            host, port, client_id=f"edge-{uuid.uuid4().hex[:8]}", reconnect_max_s=1
        )
        assert self.transport.wait_connected(20.0), "the edge did not connect through haproxy"

    def send(self, msg: m.AlertEvent) -> None:
        payload = m.encode(sign(msg, self.key))
        deadline = time.monotonic() + 60.0
        while not self.transport.publish(m.alerts(PREFIX, SITE), payload, qos=1).wait(5.0):
            assert time.monotonic() < deadline, f"alert {msg.id} seq {msg.seq} not taken in 60 s"
            time.sleep(0.2)

    def close(self) -> None:
        self.transport.close()


def consuming(rig: ClusterRig) -> Replica:
    """The replica the queue delivers to now (its consumer tag starts with its client id)."""
    deadline = time.monotonic() + 60.0
    shard = rig.rabbit.shard_of(f"{PREFIX}.{SITE}.alerts")  # the site's alerts go to one shard
    while (tag := rig.rabbit.active_consumer(shard)) is None:
        assert time.monotonic() < deadline, "no replica consumed the ingest queue for 60 s"
        time.sleep(0.5)
    found = [r for r in rig.replicas if tag.startswith(f"sitewatch-{r.name}.")]
    assert len(found) == 1, f"expected the tag of one of {[r.name for r in rig.replicas]}: {tag}"
    return found[0]


def stored(rig: ClusterRig) -> tuple[int, int]:
    with rig.db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(select(func.count()).select_from(AlertEventRow)) or 0,
        )


def shown(page: Any) -> set[str]:
    ids = page.eval_on_selector_all("#feed-rows tr[data-id]", "rows => rows.map(r => r.dataset.id)")
    return set(ids)


def live_state(page: Any) -> str | None:
    return page.locator("body").get_attribute("data-live")  # type: ignore[no-any-return]


def test_every_alert_stored_once_and_shown_live_through_a_node_and_a_replica_killed(
    rig: ClusterRig,
    browser: Any,
) -> None:
    creds = rig.add_edges([SITE])[SITE]
    assert creds.private_key is not None
    rig.add_user("boss", PASSWORD, "manager", [SITE])
    rig.start()
    active = consuming(rig)
    survivor = next(r for r in rig.replicas if r is not active)

    context = browser.new_context()
    page, errors = open_page(context)
    login(page, survivor.url, "boss")
    page.goto(f"{survivor.url}/#/alerts")
    page.wait_for_selector("#feed-summary:not(:empty)")
    page.wait_for_selector("body[data-live=open]")
    reloads: list[str] = []
    page.on("framenavigated", lambda frame: reloads.append(frame.url))

    host, port = rig.mqtt_endpoints[0]
    edge = Edge(host, port, creds.private_key)
    ids = [uuid.uuid4() for _ in range(ALERTS)]
    burst = [alert(aid, seq, site=SITE, end=seq == SEQS - 1) for seq in range(SEQS) for aid in ids]
    third = len(burst) // 3
    try:
        for msg in burst[:third]:
            edge.send(msg)
        active.kill()  # the consuming replica, mid-burst: the survivor takes the queue over
        for msg in burst[third : 2 * third]:
            edge.send(msg)
        shard = rig.rabbit.shard_of(f"{PREFIX}.{SITE}.alerts")
        rig.rabbit.kill(rig.rabbit.leader(shard))  # then the leader's node of the site's shard
        for msg in burst[2 * third :]:
            edge.send(msg)
    finally:
        edge.close()

    deadline = time.monotonic() + SETTLE_S
    while stored(rig) != (ALERTS, ALERTS * SEQS):
        assert time.monotonic() < deadline, (
            f"expected {ALERTS} alerts and {ALERTS * SEQS} timeline rows stored within "
            f"{SETTLE_S:.0f} s, got {stored(rig)}"
        )
        time.sleep(0.5)
    with rig.db.session() as s:
        pairs = s.execute(select(AlertEventRow.alert_id, AlertEventRow.seq)).all()
        assert len(pairs) == len(set(pairs)) == ALERTS * SEQS, "a message stored twice"
        rejects = [(r.topic, r.reason) for r in s.scalars(select(IngestReject))]
        assert rejects == [], rejects
        assert set(s.execute(select(Alert.event)).scalars()) == {"end"}

    want = {str(aid) for aid in ids}
    deadline = time.monotonic() + 30.0
    while not want <= shown(page):
        assert time.monotonic() < deadline, (
            f"{len(want - shown(page))} of {ALERTS} alerts never appeared live on the surviving "
            f"replica {survivor.name} (live stream {live_state(page)})"
        )
        time.sleep(0.5)
    assert survivor.alive, f"the survivor {survivor.name} died: see {survivor.log}"
    assert reloads == [], f"the page navigated (not live): {reloads}"
    assert errors == [], errors
    context.close()
