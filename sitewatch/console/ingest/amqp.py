"""The ingest queue of a RabbitMQ cluster consumed over AMQP 0-9-1 (pika); why and how:
docs/design/ingest.md, "The cluster". Each delivery reaches the handler as a
:class:`sitewatch.mqtt.Message` (its MQTT topic back from the routing key), as from MQTT.

Invariants of :class:`AmqpConsumer`:

- One thread owns the pika ``BlockingConnection``; other threads reach it only through
  ``add_callback_threadsafe`` (:meth:`AmqpConsumer.ack`).
- It tries the node URLs in turn, forever, waiting ``reconnect_min_s`` doubling to
  ``reconnect_max_s`` seconds after a round in which no node took it.
- At most ``prefetch`` messages are unacknowledged (``basic_qos``); one is acknowledged only by
  :meth:`AmqpConsumer.ack`, after its commit. An ack for a delivery of an earlier connection is
  dropped and the broker delivers the message again: handling must be idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

import pika  # type: ignore[import-untyped]  # pika ships no types
import pika.exceptions  # type: ignore[import-untyped]
from pika.adapters.blocking_connection import BlockingChannel  # type: ignore[import-untyped]

from sitewatch.mqtt import Message, Receipt

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often the connection thread looks at close(), in seconds
HEARTBEAT_S = 15  # a node that is gone without a word is noticed within ~2 of these


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


@dataclass
class _Link:
    """One open connection with its consuming channel; ``number`` counts from 1."""

    number: int
    connection: pika.BlockingConnection
    channel: BlockingChannel


class AmqpConsumer:
    """Consume ``queue`` from the first of ``urls`` that takes us; ``start()`` / ``close()``.
    Each connection's consumer tag is ``<tag>.<connection number>`` (``tag``: the replica's
    name, e.g. its MQTT client id), so ``rabbitmqctl list_consumers`` shows which is active.

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
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        name: str = "ingest-amqp",
    ) -> None:
        if not urls:
            raise ValueError("expected at least one amqp:// URL (SITEWATCH_AMQP_URLS), got none")
        if prefetch < 1:
            raise ValueError(f"expected a prefetch of at least 1 message, got {prefetch}")
        self._urls = list(urls)
        self._queue = queue
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

    @property
    def connected(self) -> bool:
        """Connected to a node and subscribed to the queue (maybe waiting as the standby)."""
        return self._consuming.is_set()

    @property
    def connections(self) -> int:
        """Connections opened so far (each loss and reconnect adds one)."""
        return self._connections

    def wait_consuming(self, timeout_s: float) -> bool:
        """True once subscribed to the queue on some node."""
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
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self._prefetch)
            with self._lock:
                self._connections += 1
                link = _Link(self._connections, connection, channel)
                self._link = link
            channel.basic_consume(
                self._queue,
                partial(self._deliver, link.number),
                auto_ack=False,
                consumer_tag=f"{self._tag}.{link.number}",  # rabbitmqctl list_consumers
            )
            self._consuming.set()
            consumed = True
            log.info("%s consumes %s on %s (link %d)", self._name, self._queue, where, link.number)
            while not self._closing.is_set():
                connection.process_data_events(time_limit=POLL_S)
        except pika.exceptions.ChannelClosedByBroker as exc:
            hint = ""
            if exc.reply_code == 404:
                hint = ": the queue does not exist; import deploy/cluster/definitions.json"
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
