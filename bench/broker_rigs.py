"""The three brokers of ``bench/broker_choice.py``, each with the console's consumer of it.

A rig is started as a context manager and gives: ``edge_ports`` (the MQTT ports edges may
use, one per node), ``pids()`` (the broker's processes now, for CPU and RSS), ``leader()``
(the node holding the ingest queue's or stream's leader: the one ``--kill`` kills),
``kill(node)`` / ``restart(node)``, and ``consume(ledger)`` (the console's consumer, a thread
that stores each message in the ledger, then acknowledges it, until ``stop``):

* :class:`MosquittoRig`: one mosquitto (persistence on, saved only at a clean exit, like
  deploy/mosquitto.conf between its 30-minute autosaves); the console subscribes over MQTT
  with a persistent session and acknowledges by hand (what ``sitewatch.mqtt`` does);
* :class:`RabbitRig`: 3 RabbitMQ 3.10 nodes (tests/support/rabbitmq.py) with the MQTT plugin;
  the edges' topics bound to the quorum queue ``sitewatch.ingest`` (3 replicas,
  deploy/cluster/definitions.json); the console consumes it over AMQP (pika), manual acks,
  trying the nodes in turn when its connection fails;
* :class:`NatsRig`: 3 NATS 2.9 nodes (tests/support/nats_cluster.py) with JetStream and MQTT;
  a stream ``SITEWATCH`` (3 replicas, file storage) takes ``sitewatch.>`` (the MQTT topics
  ``sitewatch/#``); the console is a durable pull consumer (nats-py), explicit acks.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from sitewatch.mqtt import Message, MqttClient
from tests.support.mqtt_broker import Mosquitto

HOST = "127.0.0.1"
QUEUE = "sitewatch.ingest"  # RabbitMQ: the quorum queue of deploy/cluster/definitions.json
STREAM = "SITEWATCH"  # NATS: the JetStream stream over the edges' subjects
DURABLE = "console"


class Ledger(Protocol):
    """What a consumer hands each message to (the bench's stand-in for the database)."""

    def store(self, payload: bytes) -> None: ...


class Consumer(Protocol):
    def stop(self) -> None: ...


class _Loop(threading.Thread):
    """A consumer thread running ``body(stopping)`` until :meth:`stop`."""

    def __init__(self, name: str, body: Callable[[threading.Event], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._body = body
        self.stopping = threading.Event()

    def run(self) -> None:
        self._body(self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


class _MqttConsumer:
    def __init__(self, client: MqttClient, front: Any = None) -> None:
        self.client, self.front = client, front

    def stop(self) -> None:
        self.client.close()
        if self.front is not None:
            self.front.stop()


def mqtt_consumer(port: int, ledger: Ledger, front: Any = None) -> Consumer:
    """The console's way today: an MQTT subscription to ``sitewatch/#`` at QoS 1 with a
    persistent session, each message acknowledged by hand once stored."""
    client: MqttClient

    def handle(message: Message) -> None:
        ledger.store(message.payload)
        client.ack(message.receipt)

    client = MqttClient(
        HOST,
        port,
        client_id=f"console-{uuid.uuid4().hex[:6]}",
        manual_ack=True,
        subscriptions={"sitewatch/#": handle},
        reconnect_max_s=1,
        name="console",
    )
    client.start()
    if not client.wait_subscribed(30):
        raise TimeoutError("the console's MQTT subscription was not granted in 30 s")
    return _MqttConsumer(client, front)


# -- mosquitto ------------------------------------------------------------------------------


class MosquittoRig:
    name = "mosquitto"

    def __init__(self, folder: Path) -> None:
        self.broker = Mosquitto(folder / "mosquitto", persistence=True)
        self.broker.config.write_text(
            self.broker.config.read_text() + "max_queued_messages 100000\n"
            "message_size_limit 67108864\nmax_inflight_bytes 134217728\n"
        )

    def __enter__(self) -> MosquittoRig:
        self.broker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.stop()

    @property
    def edge_ports(self) -> list[int]:
        return [self.broker.port]

    def pids(self) -> list[int]:
        process = self.broker._process  # the test support keeps it private; read-only here
        return [process.pid] if process is not None and process.poll() is None else []

    def leader(self) -> str:
        return "mosquitto"

    def kill(self, node: str) -> None:
        process = self.broker._process
        assert process is not None, "mosquitto is not running: nothing to kill"
        process.kill()
        process.wait(10)
        self.broker._process = None

    def restart(self, node: str) -> None:
        self.broker.start()

    def consume(self, ledger: Ledger) -> Consumer:
        return mqtt_consumer(self.broker.port, ledger)


# -- RabbitMQ -------------------------------------------------------------------------------


class RabbitRig:
    name = "rabbitmq"

    def __init__(self, folder: Path) -> None:
        from tests.support.rabbitmq import RabbitCluster

        self.cluster = RabbitCluster(folder / "rabbitmq")

    def __enter__(self) -> RabbitRig:
        try:
            self.cluster.start()
            # 3.10's MQTT plugin keeps a '.' of a topic as a word separator: the edge's evidence
            # topic .../evidence/<alert>/<alert>_clip.mp4 is key sitewatch.<site>.evidence.
            # <alert>.<alert>_clip.mp4, which definitions.json's sitewatch.*.evidence.*.* misses
            # (PUBACKed, then dropped as unroutable). The bench binds the whole subtree.
            import pika  # type: ignore[import-untyped]  # pika ships no types

            connection = pika.BlockingConnection(pika.URLParameters(self.cluster.amqp_urls()[0]))
            connection.channel().queue_bind(QUEUE, "amq.topic", "sitewatch.*.evidence.#")
            connection.close()
        except BaseException:
            self.cluster.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.stop()

    @property
    def edge_ports(self) -> list[int]:
        return self.cluster.mqtt_ports()

    def pids(self) -> list[int]:
        return [n.process.pid for n in self.cluster.nodes if n.process and n.running]

    def _node(self, name: str) -> Any:
        return next(n for n in self.cluster.nodes if n.name == name)

    def leader(self) -> str:
        return self.cluster.leader(QUEUE).name

    def kill(self, node: str) -> None:
        self.cluster.kill(self._node(node))

    def restart(self, node: str) -> None:
        self.cluster.restart(self._node(node))

    def consume(self, ledger: Ledger) -> Consumer:
        import pika
        import pika.exceptions  # type: ignore[import-untyped]

        urls = self.cluster.amqp_urls()
        ready = threading.Event()

        def body(stopping: threading.Event) -> None:
            turn = 0
            while not stopping.is_set():
                url = urls[turn % len(urls)] + "?heartbeat=5&connection_attempts=1&socket_timeout=2"
                turn += 1
                try:
                    connection = pika.BlockingConnection(pika.URLParameters(url))
                    channel = connection.channel()
                    channel.basic_qos(prefetch_count=200)

                    def handle(ch: Any, method: Any, properties: Any, body: bytes) -> None:
                        ledger.store(body)
                        ch.basic_ack(method.delivery_tag)

                    channel.basic_consume(QUEUE, handle, auto_ack=False)
                    ready.set()
                    while not stopping.is_set() and channel.is_open:
                        connection.process_data_events(time_limit=0.5)
                    if connection.is_open:
                        connection.close()
                except (pika.exceptions.AMQPError, OSError):
                    time.sleep(0.5)  # this node is gone or refuses: the next one

        loop = _Loop("amqp-console", body)
        loop.start()
        if not ready.wait(60):
            raise TimeoutError(f"the AMQP consumer did not start consuming {QUEUE} in 60 s")
        return loop


# -- NATS JetStream ---------------------------------------------------------------------------


class NatsRig:
    name = "nats"

    def __init__(self, folder: Path) -> None:
        from tests.support.nats_cluster import NatsCluster

        self.cluster = NatsCluster(folder / "nats")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._client: Any = None
        self._js: Any = None

    def _run(self, coroutine: Any, timeout_s: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def __enter__(self) -> NatsRig:
        import nats
        from nats.js.api import StorageType, StreamConfig

        try:
            self.cluster.start()
        except BaseException:
            self.cluster.stop()
            raise
        self._thread.start()

        async def connect() -> Any:
            client = await nats.connect(
                servers=self.cluster.client_urls,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
            js = client.jetstream(timeout=10)
            config = StreamConfig(
                name=STREAM,
                subjects=["sitewatch.>"],
                num_replicas=3,
                storage=StorageType.FILE,
                max_msg_size=self._max_payload(),
            )
            await js.add_stream(config)
            return client, js

        self._client, self._js = self._run(connect(), 90)
        return self

    @staticmethod
    def _max_payload() -> int:
        from tests.support.nats_cluster import MAX_PAYLOAD_BYTES

        return MAX_PAYLOAD_BYTES

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            if self._client is not None:
                self._run(self._client.close(), 10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self.cluster.stop()

    @property
    def edge_ports(self) -> list[int]:
        return [node.mqtt_port for node in self.cluster.nodes]

    def pids(self) -> list[int]:
        return [pid for node in self.cluster.nodes if (pid := self.cluster.pid(node.name))]

    def leader(self) -> str:
        info = self._run(self._js.stream_info(STREAM))
        return str(info.cluster.leader)

    def audit(self, message_id: Callable[[bytes], str]) -> set[str] | None:
        """The ids of every message the stream holds now (read by a throwaway consumer that
        acknowledges nothing): what the stream took, whether the console got it or not."""
        import nats.errors
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        async def read() -> set[str]:
            config = ConsumerConfig(  # one replica in memory: placeable with a node down
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                num_replicas=1,
                mem_storage=True,
            )
            subscription = await self._js.pull_subscribe("sitewatch.>", None, STREAM, config)
            found: set[str] = set()
            while True:
                try:
                    messages = await subscription.fetch(500, timeout=3)
                except (nats.errors.TimeoutError, TimeoutError):
                    break
                found.update(message_id(message.data) for message in messages)
            await subscription.unsubscribe()
            return found

        try:
            return set(self._run(read(), 300))
        except (nats.errors.Error, TimeoutError):
            return None  # the stream does not answer (no leader yet): reported as null

    def kill(self, node: str) -> None:
        self.cluster.kill(node)

    def restart(self, node: str) -> None:
        self.cluster.restart(node)

    def consume(self, ledger: Ledger) -> Consumer:
        import nats.errors
        import nats.js.errors
        from nats.js.api import AckPolicy, ConsumerConfig

        js = self._js
        ready = threading.Event()

        async def pull(stopping: threading.Event) -> None:
            config = ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT)
            subscription = await js.pull_subscribe("sitewatch.>", DURABLE, STREAM, config=config)
            ready.set()
            while not stopping.is_set():
                try:
                    messages = await subscription.fetch(256, timeout=1)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except (nats.errors.Error, nats.js.errors.Error):
                    await asyncio.sleep(0.5)  # the stream's leader moves: ask again
                    continue
                for message in messages:
                    ledger.store(message.data)
                    with suppress(nats.errors.Error):  # unacknowledged: sent again (duplicate)
                        await message.ack()

        def body(stopping: threading.Event) -> None:
            asyncio.run_coroutine_threadsafe(pull(stopping), self._loop).result()

        loop = _Loop("jetstream-console", body)
        loop.start()
        if not ready.wait(60):
            raise TimeoutError(f"the JetStream consumer {DURABLE} did not start in 60 s")
        return loop


class NatsMqttRig(NatsRig):
    """NATS with the console on MQTT too (a persistent QoS 1 session through haproxy): the
    server keeps such a session's messages in its own stream ``$MQTT_msgs`` (3 replicas),
    stored before the PUBACK; the node killed holds that stream's leader."""

    name = "nats-mqtt"

    def leader(self) -> str:
        info = self._run(self._js.stream_info("$MQTT_msgs"))
        return str(info.cluster.leader)

    def consume(self, ledger: Ledger) -> Consumer:
        from tests.support.haproxy import TcpFront

        front = TcpFront(self.cluster.folder / "console-front", self.edge_ports, "console")
        front.start()
        return mqtt_consumer(front.port, ledger, front)


RIGS: dict[str, Callable[[Path], Any]] = {
    "mosquitto": MosquittoRig,
    "rabbitmq": RabbitRig,
    "nats": NatsRig,
    "nats-mqtt": NatsMqttRig,
}
