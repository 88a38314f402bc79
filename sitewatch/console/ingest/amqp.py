"""The ingest queues of a RabbitMQ cluster consumed over AMQP 0-9-1 (pika; docs/design/ingest.md,
"The cluster"): each delivery reaches the handler as a :class:`sitewatch.mqtt.Message`.

``shards`` quorum queues ``<queue>.0`` .. ``<queue>.<shards-1>`` (or ``<queue>`` alone), each with
a single active consumer. A replica consumes its own shards (``shard % replicas == replica``) on
one channel at once, each other one on a channel of its own ``standby_after_s`` later, and every
``standby_after_s`` renews those: a standby one at once, one it is active on by a hand-back
(:meth:`AmqpConsumer._offer`). RabbitMQ 3.10 shows no client whether a consumer waits (queue.
declare-ok counts the active one only), so every such shard is offered: deliveries stop reaching
the handler, those handed are acked, then the channel ends without basic.cancel, so the broker
puts the rest back at the shard's head before it activates the consumer that waited longest.

Invariants: one thread owns the connection; at most ``prefetch`` unacked per shard, each acked
only by :meth:`AmqpConsumer.ack` after its commit (a stale ack is dropped and the message comes
again: handling is idempotent); no consumer tag is ever used twice; each shard's order kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
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
DRAIN_S = 5.0  # a hand-back waits at most this long for the acks of what the handler holds
HAND_BACK = "hand-back"  # <queue>.<shard>.hand-back: no such queue (its 404 ends a channel)


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
    """One channel of an open connection and its consumers: this replica's own shards, or one
    other replica's shard. ``number`` counts every channel this consumer opened, from 1: a
    receipt's ``connection`` is it, and so is the consumer tags' middle part (never reused)."""

    number: int
    connection: pika.BlockingConnection
    channel: BlockingChannel
    shards: tuple[int, ...]
    delivered: int = 0  # deliveries on this channel so far
    held: int = 0  # of those, come while offered back: never handled, never acked
    handed: set[int] = field(default_factory=set)  # delivery tags with the handler, not acked
    draining_since: float | None = None  # monotonic s: offered back; deliveries are held


def shard_queues(queue: str, shards: int) -> list[str]:
    """The ingest queues of ``shards`` shards: ``queue`` itself for 1 (a cluster set up before
    shards), else ``<queue>.0`` .. ``<queue>.<shards-1>`` (deploy/cluster/definitions.json)."""
    if shards < 1:
        raise ValueError(f"expected at least 1 shard (SITEWATCH_AMQP_SHARDS), got {shards}")
    return [queue] if shards == 1 else [f"{queue}.{i}" for i in range(shards)]


class AmqpConsumer:
    """Consume the shards of ``queue`` from the first of ``urls`` that takes us; ``start()`` /
    ``close()``. Each consumer tag is ``<tag>.<channel number>`` (one shard) or ``<tag>.<channel
    number>.<shard>`` (``tag``: the replica's name, e.g. its MQTT client id), so ``rabbitmqctl
    list_consumers`` shows which replica is active on which shard.

    ``replica`` is ``(place, replicas)``: the shards ``s % replicas == place`` are subscribed at
    once on each connection, on one channel; each other one ``standby_after_s`` seconds later on
    a channel of its own (then this replica waits behind the one active there, or takes a shard
    nobody consumes), and every ``standby_after_s`` again: renewed if nothing came on it,
    offered back if something did (:meth:`_offer`, :meth:`_hand_back`).

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
        drain_s: float = DRAIN_S,
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
        self._drain_s = drain_s
        self._handler = handler
        self._prefetch = prefetch
        self._tag = tag
        self._prefix = prefix  # the topics' (SITEWATCH_TOPIC_PREFIX)
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._name = name
        self._lock = threading.Lock()
        self._links: dict[int, _Link] = {}  # the open channels by number (ack finds its own)
        self._channels = 0
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
        """Acknowledge a handled message; False if it cannot be (its channel is gone, or
        closed): the broker then delivers it again."""
        with self._lock:
            link = self._links.get(receipt.connection)
        if link is None or self._closing.is_set():
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
        consumed = False
        try:
            self._check_queues(connection, where)
            with self._lock:
                self._connections += 1
            own = self._open(connection, tuple(self._own))
            self._consuming.set()
            consumed = True
            standby = [i for i in range(len(self._queues)) if i not in self._own]
            log.info(
                "%s consumes %s on %s (channel %d)%s",
                self._name,
                ", ".join(self._queues[i] for i in self._own),
                where,
                own.number,
                f"; the other {len(standby)} shard(s) in {self._standby_after_s:.0f} s"
                if standby
                else "",
            )
            self._serve(connection, standby)
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
                self._links = {}  # one connection at a time: every channel was on this one
            if connection.is_open:
                with suppress(pika.exceptions.AMQPError, OSError):  # gone anyway
                    connection.close()
        return consumed

    def _serve(self, connection: pika.BlockingConnection, standby: Sequence[int]) -> None:
        """Process the connection's events until close(); the other replicas' shards
        (``standby``) subscribed ``standby_after_s`` in, then renewed or offered back every
        ``standby_after_s``; an offered one handed back once drained."""
        others: dict[int, _Link] = {}  # shard -> its channel
        look_at = time.monotonic() + self._standby_after_s
        while not self._closing.is_set():
            connection.process_data_events(time_limit=POLL_S)
            for shard, link in list(others.items()):
                if link.draining_since is not None and self._drained(link):
                    others[shard] = self._hand_back(link)
            if not standby or time.monotonic() < look_at:
                continue
            if not others:
                others = {i: self._open(connection, (i,)) for i in standby}
                log.info("%s also consumes %d other shard(s)", self._name, len(standby))
            else:
                others = {i: self._offer(link) for i, link in others.items()}
            look_at = time.monotonic() + self._standby_after_s

    def _open(self, connection: pika.BlockingConnection, shards: tuple[int, ...]) -> _Link:
        """A new channel consuming ``shards``, each with a consumer tag never used before."""
        channel = connection.channel()
        channel.basic_qos(prefetch_count=self._prefetch)
        with self._lock:
            self._channels += 1
            link = _Link(self._channels, connection, channel, shards)
            self._links[link.number] = link
        for i in shards:
            channel.basic_consume(
                self._queues[i],
                partial(self._deliver, link),
                auto_ack=False,
                consumer_tag=self._consumer_tag(link, i),
            )
        return link

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.pop(link.number, None)

    def _offer(self, link: _Link) -> _Link:
        """Another replica's shard, every ``standby_after_s``: nothing came on it (this replica
        waits there): renewed at once, on a new channel with a new tag (RabbitMQ 3.10.8 crashes
        a channel that consumes again under a cancelled tag while deliveries are on their way,
        rabbitmq-server#5927), which puts it behind a returning owner. Something came (this
        replica is or was active there): from now on deliveries are held, not handled, and the
        channel is handed back once the handler's are acked (:meth:`_hand_back`)."""
        if link.draining_since is not None:
            return link
        if link.delivered == 0 and not link.handed:
            self._forget(link)
            link.channel.close()  # a waiting consumer holds nothing: cancel and close
            return self._open(link.connection, link.shards)
        link.draining_since = time.monotonic()
        return link

    def _drained(self, link: _Link) -> bool:
        """Whether an offered channel may end: the handler's deliveries acked, or ``drain_s``
        passed (what it still holds then comes again, to whoever is active next)."""
        if not link.handed:
            return True
        if link.draining_since is None or time.monotonic() - link.draining_since < self._drain_s:
            return False
        log.warning(
            "%s: %d delivery(ies) of %s not acked %.0f s after the shard was offered back; "
            "they come again to the next active consumer (ingest stores each once)",
            self._name,
            len(link.handed),
            self._queues[link.shards[0]],
            self._drain_s,
        )
        return True

    def _hand_back(self, link: _Link) -> _Link:
        """End ``link``'s channel without basic.cancel (a passive declare of a queue that does
        not exist: the broker closes the channel, 404): RabbitMQ 3.10 then returns every
        delivery not acked to the head of the shard, in order, and activates the consumer that
        waited longest in the same step (after a basic.cancel it would activate that one first
        and return ours after what it already sent). Subscribes again on a new channel: active
        again at once if nobody waited, else waiting."""
        self._forget(link)
        (shard,) = link.shards
        probe = f"{self._queues[shard]}.{HAND_BACK}"
        _quiet_not_found(probe)
        try:
            link.channel.queue_declare(probe, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
        else:  # someone made that queue: close as usual (order may then differ at the handover)
            log.error("%s: queue %s exists; delete it (it ends hand-backs)", self._name, probe)
            link.channel.close()
        again = self._open(link.connection, link.shards)
        log.info(
            "%s offered %s back (%d delivery(ies) held return to its head); channel %d waits "
            "or takes it again",
            self._name,
            self._queues[shard],
            link.held,
            again.number,
        )
        return again

    def _consumer_tag(self, link: _Link, shard: int) -> str:
        suffix = "" if len(self._queues) == 1 else f".{shard}"
        return f"{self._tag}.{link.number}{suffix}"  # rabbitmqctl list_consumers

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
        link: _Link,
        channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        link.delivered += 1
        if link.draining_since is not None:
            link.held += 1  # never acked: back at the shard's head when the channel ends
            return
        tag = method.delivery_tag
        link.handed.add(tag)
        receipt = Receipt(mid=tag, qos=1, connection=link.number)
        topic = routing_key_to_topic(method.routing_key, self._prefix)
        try:
            self._handler(Message(topic, bytes(body), 1, False, receipt))
        except Exception:  # an exception here would end the connection
            link.handed.discard(tag)  # never acked: it comes again after this channel
            log.exception("%s: the handler failed on a message on %s", self._name, topic)

    @staticmethod
    def _ack_now(link: _Link, tag: int) -> None:
        link.handed.discard(tag)
        if link.channel.is_open:
            # the channel may close meanwhile: the broker delivers the message again
            with suppress(pika.exceptions.AMQPError):
                link.channel.basic_ack(tag)
