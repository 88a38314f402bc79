"""The shard hand-back of the console's AMQP consumer (sitewatch/console/ingest/amqp.py) on a
real RabbitMQ 3.10 node with deploy/cluster/definitions.json (4 quorum shards, single active
consumer), under a steady stream of messages from 16 sites (one routing key each, published
with confirms) and a short renewal period.

Shown: replica ``a`` alone (its partner ``b`` dead) is active on all 4 shards and renews or
offers back the 2 that are ``b``'s every second for ~20 s with no reconnect (its old
cancel-and-consume under the same tag crashed the channel: rabbitmq-server#5927, bench/
RESULTS.md, "Console load (issue 16)"); then ``b`` comes back while messages flow and gets its
shards back, neither reconnects, and every message is committed, each site's in the order sent
(duplicates allowed: the first commit of each counts, as in ingest). Also pinned: queue.
declare-ok counts only the active consumer of such a queue, not those waiting (why the consumer
cannot ask the broker whether a shard's owner waits)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pika  # type: ignore[import-untyped]
import pytest

from sitewatch.console.ingest.amqp import AmqpConsumer
from sitewatch.mqtt import Message
from tests.support.rabbitmq import RabbitCluster, installed, running_cluster

pytestmark = pytest.mark.skipif(
    not installed(), reason="RabbitMQ is not installed: `make test-deps` installs rabbitmq-server"
)

QUEUE = "sitewatch.ingest"
SHARDS = 4  # deploy/cluster/definitions.json
SITES = [f"site{i:02d}" for i in range(16)]
RATE = 150  # messages per second offered, over all sites
COMMIT_S = 0.008  # a worker's "transaction" per message, in seconds: under RATE (a backlog)
RENEW_S = 1.0  # standby_after_s: the other replica's shards renewed or offered this often
ALONE_S = 20.0
TOGETHER_S = 12.0


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RabbitCluster, str]]:
    with running_cluster(tmp_path_factory.mktemp("rabbitmq"), size=1) as cluster:
        yield cluster, cluster.nodes[0].amqp_url


class Store:
    """The shared database of both replicas: each message's commit in order (repeats too)."""

    def __init__(self) -> None:
        self.commits: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def first_commits(self) -> dict[str, list[int]]:
        """Per site, the message numbers in the order of their first commit."""
        seen: set[tuple[str, int]] = set()
        order: dict[str, list[int]] = {site: [] for site in SITES}
        with self.lock:
            for item in self.commits:
                if item not in seen:
                    seen.add(item)
                    order[item[0]].append(item[1])
        return order


class Worker:
    """One replica's worker: commits each message in turn, then acks it (as ingest does)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.consumer: AmqpConsumer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            time.sleep(COMMIT_S)
            site, n = message.payload.decode().split()
            with self.store.lock:
                self.store.commits.append((site, int(n)))
            assert self.consumer is not None
            self.consumer.ack(message.receipt)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


class Publisher:
    """Every site's messages numbered from 0, ``RATE`` a second in all, each confirmed."""

    def __init__(self, url: str) -> None:
        self.sent = dict.fromkeys(SITES, 0)
        self._url = url
        self._stop = threading.Event()  # the test's finally sets it too
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self._thread.start()

    def _run(self) -> None:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self._url))
            channel = connection.channel()
            channel.confirm_delivery()
            i = 0
            start = time.monotonic()
            while not self._stop.is_set():
                site = SITES[i % len(SITES)]
                n = self.sent[site]
                channel.basic_publish("amq.topic", f"sitewatch.{site}.alerts", f"{site} {n}")
                self.sent[site] = n + 1
                i += 1
                ahead = start + i / RATE - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            connection.close()
        except BaseException as exc:  # the test reads it
            self.error = exc

    def stop(self) -> dict[str, int]:
        """Stop publishing; what was sent (and confirmed) per site."""
        self._stop.set()
        self._thread.join(10.0)
        assert self.error is None, f"the publisher failed: {self.error!r}"
        return dict(self.sent)


def replica(url: str, place: int, store: Store) -> tuple[AmqpConsumer, Worker]:
    worker = Worker(store)
    consumer = AmqpConsumer(
        [url],
        QUEUE,
        worker.inbox.put,
        prefetch=20,
        tag="ab"[place],
        shards=SHARDS,
        replica=(place, 2),
        standby_after_s=RENEW_S,
        reconnect_max_s=1.0,
    )
    worker.consumer = consumer
    consumer.start()
    assert consumer.wait_consuming(20.0), f"replica {place} did not consume in 20 s"
    return consumer, worker


def active_by(cluster: RabbitCluster) -> dict[int, str]:
    """Shard -> the replica (a, b) active on it now."""
    tags = cluster.active_consumers()
    return {int(q.rsplit(".", 1)[1]): tag.split(".")[0] for q, tag in tags.items()}


def wait_active(cluster: RabbitCluster, want: dict[int, str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := active_by(cluster)) != want:
        assert time.monotonic() < deadline, f"expected shards active as {want}, got {got}"
        time.sleep(0.5)


def test_declare_ok_counts_only_the_active_consumer(node_url: tuple[RabbitCluster, str]) -> None:
    _, url = node_url
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channels = [connection.channel() for _ in range(3)]
        for i, channel in enumerate(channels):
            channel.basic_consume(f"{QUEUE}.3", lambda *_: None, consumer_tag=f"probe.{i}")
        declared = channels[0].queue_declare(f"{QUEUE}.3", passive=True)
        assert declared.method.consumer_count == 1  # 3 subscribed: 1 active, 2 waiting
    finally:
        connection.close()


def test_active_on_all_shards_no_crash_and_the_owner_gets_its_shards_back_in_order(
    node_url: tuple[RabbitCluster, str],
) -> None:
    cluster, url = node_url
    store = Store()
    a, worker_a = replica(url, 0, store)
    b: AmqpConsumer | None = None
    workers = [worker_a]
    publisher = Publisher(url)
    try:
        wait_active(cluster, dict.fromkeys(range(SHARDS), "a"), 15.0)  # b dead: a has all
        time.sleep(ALONE_S)
        assert a.connections == 1, "a reconnected while alone on every shard (channel crash?)"

        b, worker_b = replica(url, 1, store)  # b comes back while messages flow
        workers.append(worker_b)
        wait_active(cluster, {0: "a", 1: "b", 2: "a", 3: "b"}, 15.0)
        time.sleep(TOGETHER_S)
        sent = publisher.stop()

        want = {site: list(range(count)) for site, count in sent.items()}
        deadline = time.monotonic() + 60.0
        while (got := store.first_commits()) != want:
            swapped = {s: got[s] for s in SITES if got[s] != want[s][: len(got[s])]}
            assert not swapped, f"first commits out of the order sent: {swapped}"
            missing = sum(len(want[s]) - len(got[s]) for s in SITES)
            assert time.monotonic() < deadline, f"{missing} message(s) not committed in 60 s"
            time.sleep(0.5)
        assert (a.connections, b.connections) == (1, 1), "a replica reconnected"
        assert sum(sent.values()) > RATE * ALONE_S / 2, f"too few messages offered: {sent}"
        assert active_by(cluster) == {0: "a", 1: "b", 2: "a", 3: "b"}
    finally:
        publisher._stop.set()
        for consumer in (a, b):
            if consumer is not None:
                consumer.close()
        for worker in workers:
            worker.stop()
