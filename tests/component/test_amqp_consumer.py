"""The console's AMQP consumer (sitewatch/console/ingest/amqp.py) on a real one-node RabbitMQ
with deploy/cluster/definitions.json (its shards): a message published on ``amq.topic`` arrives
with its MQTT topic back from the shard the consistent-hash exchange chose, stays
unacknowledged until acked, comes again on the next connection after the link broke, and an ack
for the broken link's delivery is dropped; an edge's evidence topic, its file name's dots
included, comes back whole."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pika  # type: ignore[import-untyped]
import pytest

from sitewatch.console.ingest.amqp import AmqpConsumer
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.mqtt import Message
from tests.support.rabbitmq import RabbitCluster, running_cluster

QUEUE = "sitewatch.ingest"
SHARDS = 4  # deploy/cluster/definitions.json


class Inbox:
    """The consumer's handler: keeps what arrives, lets the test wait for it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Message]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.messages) >= count, timeout_s), (
                f"expected {count} deliveries in {timeout_s} s, got {len(self.messages)}"
            )
            return list(self.messages)


def test_unacked_comes_again_on_the_next_link_and_a_stale_ack_is_dropped(
    tmp_path: Path,
) -> None:
    with running_cluster(tmp_path / "rabbitmq", size=1) as cluster:
        (node,) = cluster.nodes
        inbox = Inbox()
        consumer = AmqpConsumer(
            [node.amqp_url],
            QUEUE,
            inbox,
            prefetch=5,
            tag="replica-1",
            shards=SHARDS,
            reconnect_max_s=1.0,
        )
        consumer.start()
        try:
            assert consumer.wait_consuming(20.0)
            publisher = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
            publisher.channel().basic_publish("amq.topic", "sitewatch.north.alerts", b"{}")
            publisher.close()

            (first,) = inbox.wait_for(1)
            assert (first.topic, first.payload, first.qos, first.retained) == (
                "sitewatch/north/alerts",
                b"{}",
                1,
                False,
            )
            assert first.receipt.connection == 1
            shard = cluster.shard_of("sitewatch.north.alerts")
            assert cluster.active_consumer(shard) == f"replica-1.1.{shard.rsplit('.', 1)[1]}"

            cluster.ctl("close_all_connections", "test: the link breaks")
            _, again = inbox.wait_for(2)  # unacknowledged: delivered again on link 2
            assert (again.topic, again.payload, again.receipt.connection) == (
                first.topic,
                first.payload,
                2,
            )
            assert consumer.ack(first.receipt) is False  # the broken link's delivery tag
            assert consumer.ack(again.receipt) is True
            deadline = time.monotonic() + 10.0
            while waiting(cluster) != 0:
                assert time.monotonic() < deadline, "the ack did not reach the broker in 10 s"
                time.sleep(0.1)
            assert consumer.connected and consumer.connections == 2
        finally:
            consumer.close()
        assert not consumer.connected
        assert len(inbox.messages) == 2


def waiting(cluster: RabbitCluster) -> int:
    """Messages in the shards, ready or unacknowledged."""
    rows = json.loads(
        cluster.ctl("list_queues", "name", "messages", "--formatter", "json", "--quiet")
    )
    return sum(int(r["messages"]) for r in rows if r["name"].startswith(QUEUE + "."))


def test_an_evidence_file_name_with_dots_arrives_whole_from_mqtt(tmp_path: Path) -> None:
    """RabbitMQ 3.10's MQTT plugin keeps a topic's own dots in the routing key: the queue's
    evidence binding (``#``) takes the file, and the consumer gives the name back whole."""
    with running_cluster(tmp_path / "rabbitmq", size=1) as cluster:
        (node,) = cluster.nodes
        inbox = Inbox()
        consumer = AmqpConsumer([node.amqp_url], QUEUE, inbox, tag="replica-1", shards=SHARDS)
        consumer.start()
        edge = MqttTransport("127.0.0.1", node.mqtt_port, client_id="edge-north")
        try:
            assert consumer.wait_consuming(20.0)
            assert edge.wait_connected(20.0)
            topics = [
                "sitewatch/north/evidence/a1/a1_clip.mp4",
                "sitewatch/north/evidence/a1/a1.still.jpg",
                "sitewatch/north/alerts",
            ]
            for topic in topics:
                assert edge.publish(topic, topic.encode(), qos=1).wait(10.0), topic
            got = inbox.wait_for(len(topics))
            assert sorted((msg.topic, msg.payload.decode()) for msg in got) == sorted(
                (topic, topic) for topic in topics
            )
            for msg in got:
                consumer.ack(msg.receipt)
        finally:
            edge.close()
            consumer.close()


def test_one_shard_is_the_single_queue_and_a_shard_count_unlike_the_cluster_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SITEWATCH_AMQP_SHARDS=1 consumes the queue of a cluster set up before shards
    (``sitewatch.ingest`` itself, declared here as deploy/cluster/definitions.json had it); a
    cluster with more shards than the consumer's is an error in the log (their messages would
    wait forever), and a queue that does not exist names the fix."""
    caplog.set_level(logging.INFO, logger="sitewatch.console.ingest.amqp")
    with running_cluster(tmp_path / "rabbitmq", size=1) as cluster:
        (node,) = cluster.nodes
        admin = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
        channel = admin.channel()
        legacy = {"x-queue-type": "quorum", "x-single-active-consumer": True}
        channel.queue_declare(QUEUE, durable=True, arguments=legacy)
        channel.queue_bind(QUEUE, "amq.topic", "sitewatch.*.alerts")
        inbox = Inbox()
        consumers = [
            AmqpConsumer([node.amqp_url], QUEUE, inbox, tag="old", shards=1),
            AmqpConsumer([node.amqp_url], QUEUE, Inbox(), tag="two", shards=2),
            AmqpConsumer([node.amqp_url], "nope", Inbox(), tag="none", reconnect_max_s=1.0),
        ]
        for consumer in consumers:
            consumer.start()
        try:
            old, two, _ = consumers
            assert old.wait_consuming(20.0) and two.wait_consuming(20.0)
            channel.basic_publish("amq.topic", "sitewatch.north.alerts", b"{}")
            (got,) = inbox.wait_for(1)
            assert got.topic == "sitewatch/north/alerts"
            assert cluster.active_consumer(QUEUE) == "old.1"
            assert not consumers[2].wait_consuming(3.0)
        finally:
            admin.close()
            for consumer in consumers:
                consumer.close()
    text = caplog.text
    assert "has queue sitewatch.ingest.0 beyond the 1 ingest queue(s)" in text
    assert "has queue sitewatch.ingest.2 beyond the 2 ingest queue(s)" in text
    assert "a queue does not exist" in text and "SITEWATCH_AMQP_SHARDS" in text
