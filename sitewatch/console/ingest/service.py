"""MQTT ingest: every site's alerts, evidence, status and stats into the console's database.

One :class:`sitewatch.mqtt.MqttClient` (fixed client id, persistent session; or a cluster's
queues: :mod:`sitewatch.console.ingest.amqp`); a message is acknowledged only once stored, so
what edges publish while the console is away waits at the broker. One worker thread handles
messages in arrival order (per-alert order holds), up to ``ingest_batch`` of those received
in one transaction, each in its own savepoint (again on another replica's ``IntegrityError``),
then acknowledges them and publishes their live events. Memory is bounded
(``sitewatch.console.ingest.queue``): QoS 0 messages beyond ``ingest_queue_bytes`` /
``ingest_queue_messages`` are dropped and counted, a QoS 1 one waits for room holding paho's
network thread (the backlog waits at the broker; AMQP: the prefetch), one over its kind's size
is refused. A bad message is logged, counted and kept in ``ingest_rejects`` (the newest
:data:`REJECTS_KEPT`); a database that is down is waited for (up to :data:`DB_RETRY_MAX_S` s
apart), never skipped. Why: docs/design/ingest.md ("Batches", "Bounded memory", "The cluster").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from sitewatch.console.domain import retention
from sitewatch.console.domain.incidents import Windows
from sitewatch.console.events import EventHub, LiveEvent
from sitewatch.console.ingest.alerts import on_alert, on_evidence
from sitewatch.console.ingest.amqp import AmqpConsumer
from sitewatch.console.ingest.bounds import Bounds, check_bounds
from sitewatch.console.ingest.context import Context, IngestError
from sitewatch.console.ingest.queue import BoundedQueue
from sitewatch.console.ingest.status import (
    on_camera_config,
    on_camera_status,
    on_config_result,
    on_edge_status,
    on_snapshot,
    on_stats,
    running_camera,
)
from sitewatch.console.ingest.topics import MODELS, TopicError, route
from sitewatch.console.ingest.trust import check_sender
from sitewatch.console.settings import Settings
from sitewatch.console.store.blob_backends import evidence_store
from sitewatch.console.store.db import Database, lock_key
from sitewatch.console.store.evidence import OverQuota, Quota, UnsafePath
from sitewatch.console.store.models import IngestReject
from sitewatch.console.video import exports, recordings
from sitewatch.contract import messages as m
from sitewatch.mqtt import Message, MqttClient, Receipt, Tls

log = logging.getLogger(__name__)
REJECTS_KEPT = 1000
SWEEP_EVERY_S = 3600.0
DB_RETRY_MAX_S = 30.0
RACE_RETRIES = 5
"""Fresh transactions for a message that met another writer (IntegrityError): one is enough
for a race; one that fails every time is a bug, kept as a console error."""
REFUSED = (TopicError, m.ContractError, IngestError, UnsafePath, OverQuota)
DEFAULT_BOUNDS = Bounds()


class Abandoned(Exception):
    """Messages left unhandled at stop (the database was down); the broker sends them again."""


class IngestNotConnected(RuntimeError):
    """The console is not connected to the MQTT broker, so nothing can be sent to an edge."""


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retained: bool
    receipt: Receipt  # what acknowledging it takes, on the connection that delivered it
    at: datetime
    refused: str | None = None  # refused on arrival (too large): its payload was not kept


Job = Callable[[], object]


@dataclass(frozen=True)
class _Stored:
    """A message handled in a batch: what is left to do once the batch committed."""

    item: Received
    rejects: list[tuple[str, str]]  # (topic, reason): to count
    events: list[LiveEvent]
    relayed: bool  # the events went to the other replicas in the transaction (deliver them)


def _is_received(item: Received | Job | None) -> bool:
    """Whether ``item`` may join a batch: a message (a job and the stop mark come alone)."""
    return isinstance(item, Received)


def dispatch(
    s: Session,
    ctx: Context,
    payload: bytes,
    bounds: Bounds = DEFAULT_BOUNDS,
    decoded: m.Message | None = None,
) -> None:
    """Hand one message to its handler by the kind of its topic, once it is known to come
    from its site's edge and to keep ``bounds``; ``decoded``: ``payload`` decoded already."""
    kind = ctx.route.kind
    if kind == "evidence":
        on_evidence(s, ctx, payload)
        return
    if kind == "snapshot":
        on_snapshot(s, ctx, payload)
        return
    msg = decoded if decoded is not None else m.decode(payload, MODELS[kind])
    check_sender(s, ctx, msg)
    check_bounds(s, ctx, msg, bounds)
    if isinstance(msg, m.AlertEvent):
        on_alert(s, ctx, msg)
    elif isinstance(msg, m.CameraStatus):
        on_camera_status(s, ctx, msg)
    elif isinstance(msg, m.EdgeStatus):
        on_edge_status(s, ctx, msg)
    elif isinstance(msg, m.EdgeStats):
        on_stats(s, ctx, msg)
    elif isinstance(msg, m.CameraConfig):
        on_camera_config(s, ctx, msg)
    elif isinstance(msg, m.ConfigResult):
        on_config_result(s, ctx, msg, bounds.clock_skew_max_s)
    elif isinstance(msg, m.RecordingIndex):
        ctx.same_camera(msg.camera_id)
        if msg.stream != ctx.route.name:
            raise IngestError(
                f"expected stream {ctx.route.name!r} (the topic's), got {msg.stream!r}: the edge "
                "publishes one stream's index on the other's topic"
            )
        if running_camera(s, msg.site_id, msg.camera_id) is not None:  # not one removed
            recordings.store_index(s, msg, ctx.received_at)


class Ingest:
    """The console's MQTT ingest; ``start()`` / ``stop()`` with the app (see
    sitewatch.console.app)."""

    def __init__(self, settings: Settings, db: Database, hub: EventHub) -> None:
        if not settings.mqtt_host:
            raise ValueError("ingest needs SITEWATCH_MQTT_HOST (the broker the edges publish to)")
        self.settings = settings
        self.db = db
        self.hub = hub
        self.quota = Quota(
            file_bytes=settings.evidence_file_max_bytes,
            snapshot_bytes=settings.snapshot_max_bytes,
            alert_bytes=settings.evidence_alert_max_bytes,
            site_staged_bytes=settings.evidence_staged_site_max_bytes,
        )
        self.bounds = Bounds(settings.clock_skew_max_s, self.quota)
        per_rule = {str(rule): sec for rule, sec in settings.incident_windows_s.items()}
        self.windows = Windows(settings.incident_window_s, per_rule)
        self.store = evidence_store(settings, self.quota)
        self.prefix = settings.topic_prefix
        self.subscriptions = m.console_subscriptions(self.prefix)
        self._amqp = (
            AmqpConsumer.from_settings(settings, self._on_message) if settings.amqp_urls else None
        )
        self._where = f"{settings.mqtt_host}:{settings.mqtt_port}"
        self._queue: BoundedQueue[Received | Job | None] = BoundedQueue(
            settings.ingest_queue_bytes, settings.ingest_queue_messages
        )
        self._counts = threading.Condition()
        self._received = 0
        self._dropped = 0
        self._dropping = False  # warned about the current run of drops
        self._handled = 0
        self._rejected = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client = MqttClient(
            settings.mqtt_host,
            settings.mqtt_port,
            client_id=settings.mqtt_client_id,
            tls=None if settings.mqtt_tls_ca is None else Tls(ca_file=str(settings.mqtt_tls_ca)),
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            clean_session=self._amqp is not None,  # AMQP mode: no session to keep
            manual_ack=True,
            subscriptions=(
                {} if self._amqp else {topic: self._on_message for topic in self.subscriptions}
            ),
            name="ingest",
            hint="check SITEWATCH_MQTT_HOST/PORT and that the broker runs",
        )

    # -- the IngestHandle protocol (sitewatch.console.state) ------------------------------------
    @property
    def connected(self) -> bool:
        """Connected to the MQTT broker and, in AMQP mode, consuming the ingest queue."""
        return self._client.connected and (self._amqp is None or self._amqp.connected)

    @property
    def received(self) -> int:
        return self._received

    @property
    def rejected(self) -> int:
        return self._rejected

    @property
    def dropped(self) -> int:
        """QoS 0 messages dropped because the queue was full (see the module)."""
        return self._dropped

    @property
    def evidence_evicted(self) -> int:
        """Staged evidence files deleted, oldest first, for their site's quota."""
        return self.store.evicted

    @property
    def queue(self) -> BoundedQueue[Received | Job | None]:
        """The worker's queue (its ``bytes`` and ``peak_bytes`` show what it holds)."""
        return self._queue

    @property
    def worker_alive(self) -> bool:
        """Whether the worker thread runs: nothing a message holds may end it."""
        return bool(self._threads) and self._threads[0].is_alive()

    @property
    def handled(self) -> int:
        """Messages handled (stored or rejected) by the worker."""
        return self._handled

    @property
    def oldest_waiting_at(self) -> datetime | None:
        """When the oldest message still in the worker's queue arrived (the console's clock),
        None when none waits; the batch being handled now is not in the queue. The metric
        ``sitewatch_ingest_lag_seconds`` is its age (sitewatch.console.domain.metrics)."""
        queue = self._queue
        with queue._changed:  # read-only peek: the queue has no method for it
            return next((x.at for x, _ in queue._items if isinstance(x, Received)), None)

    def send_config(self, command: m.Command) -> None:
        """Publish ``command`` to its site's edge (QoS 1); :class:`IngestNotConnected` if the
        broker is not connected (nothing is sent then)."""
        if not self._client.connected:  # commands go over MQTT, whatever ingest consumes
            raise IngestNotConnected(
                f"the console is not connected to the MQTT broker {self._where}: the change "
                "was not sent; check the broker (SITEWATCH_MQTT_HOST/PORT) and try again"
            )
        self._send(m.config_command(self.prefix, command.site_id), command)

    def send_video(self, command: m.VideoCommand) -> None:
        """Publish a video command (live view, playback range) to its site's edge (QoS 1);
        :class:`IngestNotConnected` if the broker is not connected (nothing is sent then)."""
        if not self._client.connected:  # commands go over MQTT, whatever ingest consumes
            raise IngestNotConnected(
                f"the console is not connected to the MQTT broker {self._where}: the video "
                "request was not sent; check the broker (SITEWATCH_MQTT_HOST/PORT) and try again"
            )
        self._send(m.video_command(self.prefix, command.site_id), command)

    def _send(self, topic: str, command: m.Message) -> None:
        # once taken, the client keeps the QoS 1 message and re-sends it after a reconnect
        if self._client.publish(topic, m.encode(command), qos=1).abandoned:
            raise IngestNotConnected(
                f"the MQTT client did not take the message for {topic}: the link to the broker "
                f"{self._where} dropped just now, or the client refused it (see the log); "
                "try again"
            )

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (in the background, retrying forever) and start handling messages."""
        worker = threading.Thread(target=self._work, name="ingest-worker", daemon=True)
        sweeper = threading.Thread(target=self._sweep_loop, name="ingest-sweeper", daemon=True)
        self._threads = [worker, sweeper]
        for thread in self._threads:
            thread.start()
        self._client.start()
        if self._amqp is not None:
            self._amqp.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Disconnect, then finish the messages already received (those not acknowledged
        come again on the next start: the broker keeps the session; in AMQP mode they go to
        the replica that takes over)."""
        self._stopping.set()
        if self._amqp is not None:  # first: the queue goes to another replica at once
            self._amqp.close(timeout_s)
        self._client.close()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout_s)

    def wait_ready(self, timeout_s: float) -> bool:
        """True once connected and subscribed to every topic, or in AMQP mode connected to
        the MQTT broker and consuming the queue (tests wait on this)."""
        if self._amqp is None:
            return self._client.wait_subscribed(timeout_s)
        deadline = time.monotonic() + timeout_s
        if not self._client.wait_connected(timeout_s):
            return False
        return self._amqp.wait_consuming(max(0.0, deadline - time.monotonic()))

    def wait_handled(self, count: int, timeout_s: float) -> bool:
        """True once at least ``count`` messages have been handled since start."""
        with self._counts:
            return self._counts.wait_for(lambda: self._handled >= count, timeout_s)

    def sweep(self) -> None:
        """Queue a retention sweep on the worker (it runs in order with the messages)."""
        self._queue.put(self._run_sweep)

    # -- the client's network thread ---------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        with self._counts:
            self._received += 1
        item = Received(
            topic=message.topic,
            payload=message.payload,
            retained=message.retained,
            receipt=message.receipt,
            at=datetime.now(UTC),
        )
        limit = self._size_limit(item.topic)
        if len(item.payload) > limit:
            reason = (
                f"expected at most {limit} bytes on this topic, got {len(item.payload)}: "
                "refused on arrival (not kept); the sender must send smaller messages, or the "
                "broker's message_size_limit should stop them"
            )
            item = replace(item, payload=b"", refused=reason)
        if item.receipt.qos > 0 and self._amqp is not None:
            self._queue.put(item, len(item.payload))  # the consumer's prefetch bounds these
        elif item.receipt.qos > 0:
            # blocks paho's network thread until the worker makes room (see the module)
            if not self._queue.put_when_room(item, len(item.payload), self._stopping):
                log.info("stopping: %s left unacknowledged to the broker", item.topic)
        elif self._queue.offer(item, len(item.payload)):
            self._dropping = False
        else:
            with self._counts:
                self._dropped += 1
            if not self._dropping:  # once per run of drops
                self._dropping = True
                log.warning(
                    "ingest is dropping QoS 0 messages (first: %s, %d bytes): %d messages of "
                    "%d bytes wait for the worker, the bound is %d messages or %d bytes "
                    "(SITEWATCH_INGEST_QUEUE_MESSAGES/_BYTES); a flood, or a console too slow",
                    item.topic,
                    len(item.payload),
                    len(self._queue),
                    self._queue.bytes,
                    self._queue.max_items,
                    self._queue.max_bytes,
                )

    def _size_limit(self, topic: str) -> int:
        """The largest payload a message on ``topic`` may have (its kind decides)."""
        try:
            kind = route(self.prefix, topic).kind
        except TopicError:
            return m.MAX_MESSAGE_BYTES  # refused by the worker anyway, with its reason
        if kind == "evidence":
            return self.quota.file_bytes
        if kind == "snapshot":
            return self.quota.snapshot_bytes
        return m.MAX_MESSAGE_BYTES

    # -- the worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            batch = self._queue.get_batch(self.settings.ingest_batch, _is_received)
            first = batch[0]
            if first is None:
                return
            if isinstance(first, Received):
                self._work_on([item for item in batch if isinstance(item, Received)])
                continue
            try:
                first()
            except Exception:
                log.exception("ingest job %r failed", first)

    def _work_on(self, items: list[Received]) -> None:
        """Store ``items`` in as few transactions as :meth:`_store` allows; after a failure of
        no one message (a bug outside the handlers) they go one per transaction."""
        most = len(items)
        while items:
            batch = items[:most]
            try:
                done = self._store(batch)
            except Abandoned:
                log.warning(
                    "stopping with the database down: %d messages from %s on are left to the "
                    "broker",
                    len(batch),
                    batch[0].topic,
                )
                done = len(batch)
            except Exception as exc:  # a bug: log it, keep it, go on with the next message
                if len(batch) > 1:
                    log.exception("ingest failed on a batch; handling it one message at a time")
                    most = 1
                    continue
                log.exception("ingest failed on a message on %s", batch[0].topic)
                self._reject(batch[0].topic, f"console error {type(exc).__name__}: {exc}")
                self._ack(batch[0])
                done = 1
            items = items[done:]
            with self._counts:
                self._handled += done
                self._counts.notify_all()

    def _store(self, items: list[Received]) -> int:
        """Handle the first messages of ``items`` in one transaction (all of them, unless one
        needs an alert another transaction holds: the batch ends before it), then acknowledge
        them, count their rejects and publish their live events, in order; how many.

        A database that is locked or down is waited for and the whole batch handled again
        (:class:`Abandoned` at stop): a message's files are staged, moved into place or
        deleted before its commit, and its handling again redoes or finds them
        (:meth:`EvidenceStore.promote` takes a file moved in by an attempt that did not
        commit), as a redelivered message does after a crash."""
        attempt = 0
        while True:
            try:
                with self.db.session() as s:
                    stored = self._fill(s, items)
                break
            except OperationalError as exc:
                # unacknowledged messages wait at the broker meanwhile
                if self._stopping.is_set():
                    raise Abandoned(items[0].topic) from exc
                delay = min(2.0**attempt, DB_RETRY_MAX_S)
                attempt += 1
                log.warning(
                    "database unavailable (%s); retrying %d messages from %s in %.0f s",
                    exc,
                    len(items),
                    items[0].topic,
                    delay,
                )
                self._stopping.wait(delay)
        for done in stored:
            self._ack(done.item)
            for topic, reason in done.rejects:
                self._count_reject(topic, reason)
            for event in done.events:
                if done.relayed:
                    self.hub.deliver(event)
                else:
                    self.hub.publish(event)
        return len(stored)

    def _fill(self, s: Session, items: list[Received]) -> list[_Stored]:
        """Each message in its own savepoint of ``s``, in order, until one may not join.

        Alert locks (PostgreSQL, ``lock_alert``): the first message waits for its alert's
        lock holding nothing else; each later one only tries its alert's lock, and the batch
        ends before it if another transaction (an HTTP upload, another replica) holds it. So a
        batch never waits for an alert lock while it holds one, and no cycle of alert locks
        can form. Rows read by an earlier message are read again (``expire_all``), as a fresh
        transaction would. SQLite: ``BEGIN IMMEDIATE`` takes the one write lock for the batch
        (pysqlite begins no transaction before a SAVEPOINT, whose RELEASE would commit)."""
        if not self.db.shared:
            s.execute(text("BEGIN IMMEDIATE"))
        stored: list[_Stored] = []
        held: set[str] = set()  # alerts whose lock this transaction holds
        for item in items:
            if stored and self.db.shared:
                s.expire_all()
            done = self._one(s, item, not stored, held)
            if done is None:
                break
            stored.append(done)
        return stored

    def _one(self, s: Session, item: Received, first: bool, held: set[str]) -> _Stored | None:
        """Handle one message in a savepoint of ``s``; None (nothing done) when its alert is
        locked by another transaction and it is not the ``first`` of its batch (``held``: the
        alerts whose lock the batch holds, this message's added). A refused
        message, or one that meets a bug, is rolled back alone and kept as a reject; one that
        met another writer (``IntegrityError``) is handled again, where it is a repeat."""
        if item.refused is not None:
            return self._refused(s, item, item.refused)
        try:
            where = route(self.prefix, item.topic)
            decoded = m.decode(item.payload, m.AlertEvent) if where.kind == "alert" else None
        except REFUSED as exc:
            return self._refused(s, item, str(exc))
        alert_id = str(decoded.id) if decoded is not None else where.alert_id
        if where.kind not in ("alert", "evidence"):
            alert_id = None  # only those handlers lock an alert
        if not first and alert_id is not None and alert_id not in held:
            if not self._try_lock(s, alert_id):
                return None
            held.add(alert_id)
        races = 0
        while True:
            ctx = Context(self.store, self.prefix, item.topic, where, item.at, item.retained)
            ctx.incident_windows = self.windows
            try:
                with s.begin_nested():
                    dispatch(s, ctx, item.payload, self.bounds, decoded)
                    for topic, reason in ctx.rejects:
                        add_reject(s, topic, reason)
                    # the other replicas get the events at this commit or never
                    relayed = self.hub.publish_in(s, ctx.events)
                if alert_id is not None:
                    held.add(alert_id)  # its savepoint released: the transaction holds it
                return _Stored(item, ctx.rejects, ctx.events, relayed)
            except REFUSED as exc:
                return self._refused(s, item, str(exc))
            except IntegrityError as exc:
                # another replica stored the same row between our read and our commit: again,
                # after its savepoint, where the message is a repeat (never a reject)
                races += 1
                if races <= RACE_RETRIES:
                    log.info("ingest met another writer on %s; handling it again", item.topic)
                    continue
                bug: Exception = exc
            except OperationalError:
                raise  # the database: the whole batch again (see _store)
            except Exception as exc:
                bug = exc
            log.error("ingest failed on a message on %s", item.topic, exc_info=bug)
            return self._refused(s, item, f"console error {type(bug).__name__}: {bug}")

    def _try_lock(self, s: Session, alert_id: str) -> bool:
        """Take the alert lock the message's handler takes (``lock_alert``: an alert message's
        id, an evidence file's alert) without waiting; False if another transaction holds it.
        Held to the transaction's end; SQLite has none (True)."""
        if not self.db.shared:
            return True
        key = lock_key(f"alert:{alert_id}")  # as ingest.context.lock_alert
        return bool(s.scalar(select(func.pg_try_advisory_xact_lock(key))))

    def _refused(self, s: Session, item: Received, reason: str) -> _Stored:
        """Keep the reject of the whole message in the batch's transaction."""
        add_reject(s, item.topic, reason)
        return _Stored(item, [(item.topic, reason)], [], relayed=False)

    def _ack(self, item: Received) -> None:
        if not self._stopping.is_set():
            source = self._client if self._amqp is None else self._amqp
            source.ack(item.receipt)
        # if not acknowledged, the broker sends it again on the next connection; a repeat
        # changes nothing

    def _count_reject(self, topic: str, reason: str) -> None:
        log.warning("ingest refused a message on %s: %s", topic, reason)
        with self._counts:
            self._rejected += 1

    def _reject(self, topic: str, reason: str) -> None:
        self._count_reject(topic, reason)
        try:
            with self.db.session() as s:
                add_reject(s, topic, reason)
        except SQLAlchemyError:
            log.exception("could not record the rejected message on %s", topic)

    def _sweep_loop(self) -> None:
        # often enough that staged evidence lives at most 1.5x its maximum age
        every_s = min(SWEEP_EVERY_S, self.settings.evidence_staged_max_age_s / 2)
        self.sweep()
        while not self._stopping.wait(every_s):
            self.sweep()

    def _run_sweep(self) -> None:
        retention.sweep(
            self.db,
            self.store,
            self.settings.evidence_retention_days,
            false_positive_days=self.settings.false_positive_retention_days,
            incoming_max_age_s=self.settings.evidence_staged_max_age_s,
        )
        # video range exports: the same retention, kept while their alert keeps its evidence
        with self.db.exclusive("retention.exports") as mine:
            if mine:
                exports.sweep(
                    self.db,
                    self.settings.evidence_retention_days,
                    false_positive_days=self.settings.false_positive_retention_days,
                )


def add_reject(s: Session, topic: str, reason: str) -> None:
    """Keep the reject, and only the newest :data:`REJECTS_KEPT` of them."""
    s.add(IngestReject(topic=topic[:300], reason=reason))
    s.flush()
    newest = s.scalar(select(func.max(IngestReject.id))) or 0
    s.execute(delete(IngestReject).where(IngestReject.id <= newest - REJECTS_KEPT))
