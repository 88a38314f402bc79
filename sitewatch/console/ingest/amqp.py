"""The ingest queues of a RabbitMQ cluster consumed over AMQP 0-9-1 (pika; docs/design/ingest.md,
"The cluster"): each delivery reaches the handler as a :class:`sitewatch.mqtt.Message`.

The queue is ``shards`` quorum queues ``<queue>.0`` .. ``<queue>.<shards-1>`` filled by a
consistent-hash exchange (one routing key, one shard), or ``<queue>`` alone when ``shards`` is
1; each has a single active consumer. A replica subscribes to its own shards (``shard %
replicas == replica``) at once and to the others ``standby_after_s`` later, renewing those
every ``standby_after_s`` so that a returning replica gets its shards back.

Invariants of :class:`AmqpConsumer`: one thread owns the pika connection (others reach it
through ``add_callback_threadsafe``); it tries the node URLs in turn forever, backing off from
``reconnect_min_s`` to ``reconnect_max_s``; one channel per connection, one consumer per shard,
each shard's deliveries in its order; at most ``prefetch`` unacknowledged per shard, each acked
only by :meth:`AmqpConsumer.ack` after its commit (an ack of an earlier connection is dropped
and the message comes again: handling is idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

import pika  # type: ignore[import-untyped]  # pika ships no types
import pika.exceptions  # type: ignore[import-untyped]
from pika.adapters.blocking_connection import BlockingChannel  # type: ignore[import-untyped]

from sitewatch.console.settings import Settings
from sitewatch.mqtt import Message, Receipt

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often the connection thread looks at close(), in seconds
HEARTBEAT_S = 15  # a node that is gone without a word is noticed within ~2 of these
STANDBY_AFTER_S = 30.0  # another replica's shards: subscribed this long after connecting


def routing_key_to_topic(key: str, prefix: str = "sitewatch") -> str:
    """The MQTT topic of a routing key. RabbitMQ 3.10's MQTT plugin turns each ``/`` into
    ``.`` and keeps a topic's own ``.``: only an evidence file name has one (ids cannot), so
    the levels after ``<prefix>.<site>.evidence.<alert>`` are that name, joined by ``.``
    again. A key outside ``prefix`` comes back with every ``.`` a ``/`` (ingest refuses it,
    saying why)."""
    head = prefix.replace("/", ".") + "."
    if not key.startswith(head):
        return key.replace(".", "/")
    levels = key[len(head) :].split(".")
    if len(levels) > 4 and levels[1] == "evidence":  # site, evidence, alert, the name
        levels = [*levels[:3], ".".join(levels[3:])]
    return "/".join([prefix, *levels])


class _NotFoundExpected(logging.Filter):
    """Drops pika's warning about the 404 that :meth:`AmqpConsumer._check_queues` expects."""

    def __init__(self, queue: str) -> None:
        super().__init__()
        self.text = f"no queue '{queue}'"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _quiet_not_found(queue: str) -> None:
    pika_channel = logging.getLogger("pika.channel")
    if not any(isinstance(f, _NotFoundExpected) and f.text == f"no queue '{queue}'"
               for f in pika_channel.filters):  # fmt: skip
        pika_channel.addFilter(_NotFoundExpected(queue))


@dataclass
class _Link:
    """One open connection with its consuming channel; ``number`` counts from 1."""

    number: int
    connection: pika.BlockingConnection
    channel: BlockingChannel


def shard_queues(queue: str, shards: int) -> list[str]:
    """The ingest queues of ``shards`` shards: ``queue`` itself for 1 (a cluster set up before
    shards), else ``<queue>.0`` .. ``<queue>.<shards-1>`` (deploy/cluster/definitions.json)."""
    if shards < 1:
        raise ValueError(f"expected at least 1 shard (SITEWATCH_AMQP_SHARDS), got {shards}")
    return [queue] if shards == 1 else [f"{queue}.{i}" for i in range(shards)]


class AmqpConsumer:
    """Consume the shards of ``queue`` from the first of ``urls`` that takes us; ``start()`` /
    ``close()``. Each consumer tag is ``<tag>.<connection number>`` (one shard) or
    ``<tag>.<connection number>.<shard>`` (``tag``: the replica's name, e.g. its MQTT client
    id), so ``rabbitmqctl list_consumers`` shows which replica is active on which shard.

    ``replica`` is ``(place, replicas)``: the shards ``s % replicas == place`` are subscribed at
    once on each connection, the others ``standby_after_s`` seconds later (then this replica
    waits behind the one already active there, or takes a shard nobody consumes), and those are
    renewed every ``standby_after_s`` (:meth:`_hand_on`: a shard taken over goes back).

    ``handler`` runs on the connection thread with each delivery (QoS 1, never retained); it
    must return quickly (queue the message) and never block on the worker."""

    def __init__(
        self,
        urls: Sequence[str],
        queue: str,
        handler: Callable[[Message], None],
        *,
        prefetch: int = 20,
        tag: str = "sitewatch-console",
        prefix: str = "sitewatch",
        shards: int = 1,
        replica: tuple[int, int] = (0, 1),
        standby_after_s: float = STANDBY_AFTER_S,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        name: str = "ingest-amqp",
    ) -> None:
        if not urls:
            raise ValueError("expected at least one amqp:// URL (SITEWATCH_AMQP_URLS), got none")
        if prefetch < 1:
            raise ValueError(f"expected a prefetch of at least 1 message, got {prefetch}")
        place, replicas = replica
        if not 0 <= place < replicas:
            raise ValueError(
                f"expected a replica's place 0 .. replicas-1 (SITEWATCH_AMQP_REPLICA, _REPLICAS), "
                f"got {place} of {replicas}"
            )
        self._urls = list(urls)
        self._queue = queue
        self._queues = shard_queues(queue, shards)
        self._own = [i for i in range(shards) if i % replicas == place]
        self._standby_after_s = standby_after_s
        self._handler = handler
        self._prefetch = prefetch
        self._tag = tag
        self._prefix = prefix  # the topics' (SITEWATCH_TOPIC_PREFIX)
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._name = name
        self._lock = threading.Lock()
        self._link: _Link | None = None
        self._connections = 0
        self._consuming = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings, handler: Callable[[Message], None]) -> AmqpConsumer:
        """The consumer of a console replica (``SITEWATCH_AMQP_*``; its tag the MQTT client id,
        unique per replica)."""
        return cls(
            settings.amqp_urls,
            settings.amqp_queue,
            handler,
            prefetch=settings.amqp_prefetch,
            tag=settings.mqtt_client_id,
            prefix=settings.topic_prefix,
            shards=settings.amqp_shards,
            replica=(settings.amqp_replica, settings.amqp_replicas),
        )

    @property
    def queues(self) -> list[str]:
        """The queues consumed: every shard, in shard order."""
        return list(self._queues)

    @property
    def connected(self) -> bool:
        """Connected to a node and subscribed to its own shards (maybe waiting as the standby)."""
        return self._consuming.is_set()

    @property
    def connections(self) -> int:
        """Connections opened so far (each loss and reconnect adds one)."""
        return self._connections

    def wait_consuming(self, timeout_s: float) -> bool:
        """True once subscribed to its own shards on some node."""
        return self._consuming.wait(timeout_s)

    def start(self) -> None:
        """Connect and consume in the background, reconnecting forever until :meth:`close`."""
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the connection (unacknowledged messages go back to the queue, to the next
        replica) and end the thread. Idempotent."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def ack(self, receipt: Receipt) -> bool:
        """Acknowledge a handled message; False if it cannot be (another connection, or closed):
        the broker then delivers it again."""
        with self._lock:
            link = self._link
        if link is None or link.number != receipt.connection or self._closing.is_set():
            return False
        try:
            link.connection.add_callback_threadsafe(partial(self._ack_now, link, receipt.mid))
        except pika.exceptions.AMQPError:  # closed meanwhile: the broker delivers it again
            return False
        return True

    # -- the connection thread -----------------------------------------------------------------
    def _run(self) -> None:
        delay, most = self._backoff
        round_failed_told = False
        while not self._closing.is_set():
            took = False
            for url in self._urls:
                if self._closing.is_set():
                    return
                took = self._consume(url) or took
            if took:
                delay, round_failed_told = self._backoff[0], False
                continue
            if not round_failed_told:  # once per outage
                round_failed_told = True
                log.warning(
                    "%s: no RabbitMQ node of %d took the consumer of %s; retrying every %.0f s at "
                    "most: check SITEWATCH_AMQP_URLS and that the nodes run",
                    self._name,
                    len(self._urls),
                    self._queue,
                    most,
                )
            self._closing.wait(delay)
            delay = min(delay * 2, most)

    def _consume(self, url: str) -> bool:
        """Consume from ``url`` until the link breaks or close(); True if it got to consume."""
        params = pika.URLParameters(url)
        params.heartbeat = HEARTBEAT_S
        params.connection_attempts = 1
        params.socket_timeout = 5.0
        params.blocked_connection_timeout = 60.0
        where = f"{params.host}:{params.port}"
        try:
            connection = pika.BlockingConnection(params)
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.info("%s: node %s did not take us: %r", self._name, where, exc)
            return False
        link: _Link | None = None
        consumed = False
        try:
            self._check_queues(connection, where)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self._prefetch)
            with self._lock:
                self._connections += 1
                link = _Link(self._connections, connection, channel)
                self._link = link
            shards = range(len(self._queues))
            standby = [i for i in shards if i not in self._own]
            self._subscribe(link, [i for i in shards if i in self._own])
            self._consuming.set()
            consumed = True
            log.info(
                "%s consumes %s on %s (link %d)%s",
                self._name,
                ", ".join(self._queues[i] for i in self._own),
                where,
                link.number,
                f"; the other {len(standby)} shard(s) in {self._standby_after_s:.0f} s"
                if standby
                else "",
            )
            standby_at, subscribed = time.monotonic() + self._standby_after_s, False
            while not self._closing.is_set():
                connection.process_data_events(time_limit=POLL_S)
                if standby and time.monotonic() >= standby_at:
                    if subscribed:
                        self._hand_on(link, standby)
                    else:
                        self._subscribe(link, standby)
                        log.info("%s also consumes %d other shard(s)", self._name, len(standby))
                    standby_at, subscribed = time.monotonic() + self._standby_after_s, True
        except pika.exceptions.ChannelClosedByBroker as exc:
            hint = ""
            if exc.reply_code == 404:
                hint = (
                    ": a queue does not exist; import deploy/cluster/definitions.json, or set "
                    "SITEWATCH_AMQP_SHARDS to the cluster's number of ingest queues (1: one "
                    f"queue named {self._queue})"
                )
            log.error("%s: node %s closed the channel (%s)%s", self._name, where, exc, hint)
        except (pika.exceptions.AMQPError, OSError) as exc:
            if not self._closing.is_set():
                log.warning("%s lost node %s (%r); reconnecting", self._name, where, exc)
        finally:
            self._consuming.clear()
            with self._lock:
                if self._link is link:
                    self._link = None
            if connection.is_open:
                with suppress(pika.exceptions.AMQPError, OSError):  # gone anyway
                    connection.close()
        return consumed

    def _consumer_tag(self, link: _Link, shard: int) -> str:
        suffix = "" if len(self._queues) == 1 else f".{shard}"
        return f"{self._tag}.{link.number}{suffix}"  # rabbitmqctl list_consumers

    def _subscribe(self, link: _Link, shards: Sequence[int]) -> None:
        for i in shards:
            link.channel.basic_consume(
                self._queues[i],
                partial(self._deliver, link.number),
                auto_ack=False,
                consumer_tag=self._consumer_tag(link, i),
            )

    def _hand_on(self, link: _Link, shards: Sequence[int]) -> None:
        """Cancel and renew the subscription of each of ``shards`` (other replicas' own): one
        this replica is active on passes to the consumer that waited longest (its owner, back,
        if there are 2 replicas) or comes straight back if none waits. What the cancelled
        consumer was given stays unacknowledged on this channel: handled and acked as usual
        (pika hands back the deliveries that crossed the cancel; they go to the handler)."""
        for i in shards:
            pending = link.channel.basic_cancel(self._consumer_tag(link, i))
            for channel, method, properties, body in pending:
                self._deliver(link.number, channel, method, properties, body)
            self._subscribe(link, [i])
        log.debug("%s handed on %d other shard(s)", self._name, len(shards))

    def _check_queues(self, connection: pika.BlockingConnection, where: str) -> None:
        """Every shard exists (else ChannelClosedByBroker, 404); a shard past the last one
        configured is logged as an error: its messages would never be ingested."""
        probe = connection.channel()
        for queue in self._queues:
            probe.queue_declare(queue, passive=True)
        probe.close()
        beyond = f"{self._queue}.{len(self._queues) if len(self._queues) > 1 else 0}"
        _quiet_not_found(beyond)
        probe = connection.channel()
        try:
            probe.queue_declare(beyond, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            return  # 404: no more shards than we consume
        probe.close()
        log.error(
            "%s: node %s has queue %s beyond the %d ingest queue(s) consumed: its messages are "
            "never ingested; set SITEWATCH_AMQP_SHARDS to the cluster's number of shards",
            self._name,
            where,
            beyond,
            len(self._queues),
        )

    def _deliver(
        self,
        number: int,
        channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        receipt = Receipt(mid=method.delivery_tag, qos=1, connection=number)
        topic = routing_key_to_topic(method.routing_key, self._prefix)
        try:
            self._handler(Message(topic, bytes(body), 1, False, receipt))
        except Exception:  # an exception here would end the connection
            log.exception("%s: the handler failed on a message on %s", self._name, topic)

    @staticmethod
    def _ack_now(link: _Link, tag: int) -> None:
        if link.channel.is_open:
            # the channel may close meanwhile: the broker delivers the message again
            with suppress(pika.exceptions.AMQPError):
                link.channel.basic_ack(tag)
