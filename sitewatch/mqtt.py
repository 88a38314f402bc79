"""The one MQTT client of SiteWatch: a paho-mqtt wrapper that both the edge and the console use.

:class:`MqttClient` speaks MQTT 3.1.1 with a fixed client id, optional TLS and user name, and a
last will; its invariants (reconnect, publish while disconnected, handlers, manual ack, close)
are in its docstring.

Imports no wing of SiteWatch: it carries bytes, and the contract says what they mean.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """What became of one publish."""

    @property
    def acknowledged(self) -> bool:
        """The broker acknowledged the message (for QoS 0: it was written to the socket)."""
        ...

    @property
    def abandoned(self) -> bool:
        """The client will never deliver this message; publish it again."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block until acknowledged or abandoned, at most ``timeout_s``; True if acknowledged."""
        ...


class PendingDelivery:
    """A :class:`Delivery` completed from another thread; the first :meth:`finish` decides."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._acknowledged = False

    @property
    def acknowledged(self) -> bool:
        return self._acknowledged

    @property
    def abandoned(self) -> bool:
        return self._done.is_set() and not self._acknowledged

    def wait(self, timeout_s: float) -> bool:
        self._done.wait(timeout_s)
        return self._acknowledged

    def finish(self, acknowledged: bool) -> None:
        if not self._done.is_set():
            self._acknowledged = acknowledged
            self._done.set()


@dataclass(frozen=True)
class Tls:
    """TLS to the broker; all None = verify against the system's CA store."""

    ca_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False  # skip the host name check (never in production)


@dataclass(frozen=True)
class Will:
    """Sent (retained) by the broker when this client vanishes without a clean disconnect."""

    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


@dataclass(frozen=True)
class Receipt:
    """What acknowledging one received message takes (see :meth:`MqttClient.ack`)."""

    mid: int
    qos: int
    connection: int  # which connection (counted from 1) delivered it


@dataclass(frozen=True)
class Message:
    """One message as received."""

    topic: str
    payload: bytes
    qos: int
    retained: bool
    receipt: Receipt


Handler = Callable[[Message], None]  # runs on the network thread


class MqttClient:
    """A paho-mqtt client (MQTT 3.1.1). Invariants:

    - paho's network thread connects and reconnects forever (backoff ``reconnect_min_s`` doubling
      to ``reconnect_max_s``, in seconds); every subscription is renewed after every (re)connect.
    - A publish while disconnected or closed never raises and is not queued behind the caller's
      back: its :class:`Delivery` is abandoned at once and the caller publishes it again. One handed
      to paho while connected is kept by paho and re-sent after a reconnect until acknowledged
      (PUBACK for QoS 1), so its delivery may complete later.
    - Handlers run on the network thread, one message at a time; an exception in one is logged and
      never ends that thread.
    - With ``manual_ack`` a QoS 1 message is acknowledged only by :meth:`MqttClient.ack`, so one
      received but never handled is sent again by the broker (a persistent session keeps it). An
      ack goes back only on the connection that delivered the message: after a reconnect the broker
      sends it again anyway. Without ``manual_ack`` paho acknowledges once the handler returns.
    - :meth:`MqttClient.close` publishes the will itself (a clean disconnect cancels it), then
      disconnects; the broker keeps a persistent session (``clean_session=False``) across it.

    ``subscriptions`` (topic filter → handler, at ``qos``) are in place before the first
    connect, so messages a persistent session kept arrive to them on the very first connect.
    ``on_connect`` runs on the network thread after every (re)connect, once subscriptions are
    sent. ``name`` and ``hint`` go into log lines (``hint``: what to check when the broker
    cannot be reached). Nothing connects before :meth:`start`.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        client_id: str,
        tls: Tls | None = None,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        will: Will | None = None,
        clean_session: bool = False,
        manual_ack: bool = False,
        subscriptions: Mapping[str, Handler] | None = None,
        qos: int = 1,
        on_connect: Callable[[], None] | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        name: str = "mqtt",
        hint: str = "check the broker's host and port and that it runs",
    ) -> None:
        if not client_id and not clean_session:
            raise ValueError("a persistent session (clean_session=False) needs a fixed client_id")
        self._host, self._port, self._keepalive = host, port, keepalive
        self._where, self._name, self._hint = f"{host}:{port}", name, hint
        self._will = will
        self._on_connect_hook = on_connect
        self._lock = threading.Lock()
        self._subscriptions = {t: (h, qos) for t, h in (subscriptions or {}).items()}
        self._pending: dict[int, PendingDelivery] = {}
        self._early_acks: set[int] = set()
        self._connection = 0
        self._renewal: tuple[int | None, list[str]] = (None, [])  # the latest connect's SUBSCRIBE
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._closed = False
        self._unreachable_told = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
            manual_ack=manual_ack,
        )
        if tls is not None:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.certfile, keyfile=tls.keyfile)
            client.tls_insecure_set(tls.insecure)
        if username is not None:
            client.username_pw_set(username, password)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        self._client = client

    def start(self) -> None:
        """Connect, and reconnect forever, in paho's background thread."""
        self._client.connect_async(self._host, self._port, self._keepalive)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def wait_subscribed(self, timeout_s: float) -> bool:
        """True once connected and the broker granted the subscriptions renewed on connecting
        (those given to the constructor, and those added by :meth:`subscribe` before)."""
        return self._subscribed.wait(timeout_s)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> Delivery:
        delivery = PendingDelivery()
        if self._closed or not self._connected.is_set():
            delivery.finish(acknowledged=False)
            return delivery
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: paho keeps a QoS>0 message and sends it after the reconnect
            log.warning("publish to %s refused by paho: %s", topic, mqtt.error_string(info.rc))
            delivery.finish(acknowledged=False)
            return delivery
        with self._lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                delivery.finish(acknowledged=True)
            else:
                self._pending[info.mid] = delivery
        return delivery

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Call ``handler`` for each message matching ``topic_filter``; kept across reconnects."""
        with self._lock:
            self._subscriptions[topic_filter] = (handler, qos)
        if self._connected.is_set():
            self._client.subscribe(topic_filter, qos)

    def ack(self, receipt: Receipt) -> bool:
        """Acknowledge a handled message (``manual_ack``); False if it cannot be now (another
        connection, or closed): the broker then sends it again, so handling must be idempotent."""
        if receipt.qos == 0:
            return True
        with self._lock:
            same = receipt.connection == self._connection
        if self._closed or not same or not self._connected.is_set():
            return False
        return self._client.ack(receipt.mid, receipt.qos) == mqtt.MQTT_ERR_SUCCESS

    def set_will(self, will: Will) -> None:
        """Replace the last will (e.g. after a config change); used from the next (re)connect."""
        self._will = will
        self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def close(self) -> None:
        """Publish the will ourselves (a clean disconnect cancels it), then disconnect; pending
        deliveries are abandoned. Idempotent."""
        if self._closed:
            return
        if self._will is not None and self._connected.is_set():
            will = self._will
            self.publish(will.topic, will.payload, will.qos, will.retain).wait(2.0)
        self._closed = True
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._subscribed.clear()
        with self._lock:
            pending, self._pending = self._pending, {}
        for delivery in pending.values():
            delivery.finish(acknowledged=False)

    # -- paho callbacks (network thread) -------------------------------------------------------
    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the %s client: %s", self._where, self._name, reason)
            return
        present = flags.session_present
        log.info("%s connected to %s (session present: %s)", self._name, self._where, present)
        self._unreachable_told = False
        with self._lock:
            self._connection += 1
            wanted = [(topic, qos) for topic, (_, qos) in self._subscriptions.items()]
            if wanted:
                self._renewal = (client.subscribe(wanted)[1], [topic for topic, _ in wanted])
        if not wanted:
            self._subscribed.set()
        self._connected.set()
        if self._on_connect_hook is not None:
            try:
                self._on_connect_hook()
            except Exception:
                log.exception("on_connect hook failed")

    def _handle_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._unreachable_told:  # once per outage; paho retries with its backoff
            self._unreachable_told = True
            log.warning(
                "%s cannot reach the MQTT broker %s: retrying in the background; %s",
                self._name,
                self._where,
                self._hint,
            )

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        with self._lock:
            renewal, topics = self._renewal[0] == mid, self._renewal[1]
        if any(r.is_failure for r in reasons):
            refused = [t for t, r in zip(topics, reasons, strict=False) if r.is_failure]
            where, name = self._where, self._name
            log.error(
                "broker %s refused %s's subscriptions %s: check its ACL", where, name, refused
            )
        elif renewal:
            self._subscribed.set()

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._closed:
            log.warning("%s lost the broker %s (%s); reconnecting", self._name, self._where, reason)

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        with self._lock:
            delivery = self._pending.pop(mid, None)
            if delivery is None:
                self._early_acks.add(mid)
        if delivery is not None:
            delivery.finish(acknowledged=True)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            receipt = Receipt(msg.mid, msg.qos, self._connection)
            handlers = {  # one call per handler, however many of its filters match
                handler: None
                for topic_filter, (handler, _) in self._subscriptions.items()
                if mqtt.topic_matches_sub(topic_filter, msg.topic)
            }
        message = Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), receipt)
        for handler in handlers:
            try:
                handler(message)
            except Exception:  # an exception here would end paho's network thread
                log.exception("%s: a handler failed on a message on %s", self._name, msg.topic)
