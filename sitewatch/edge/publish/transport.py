"""The edge's link to the broker, behind a tiny interface: publish / subscribe / close.

:class:`MqttTransport` runs paho-mqtt's network loop in its background thread, reconnects
forever with a capped backoff and re-subscribes after every reconnect. A publish hands back a
:class:`Delivery` that says when the broker acknowledged it (PUBACK for QoS 1). A publish while
disconnected never raises and is not queued behind the caller's back: its delivery is
``abandoned`` at once, and the caller (the outbox) keeps the message and publishes it again.
A message handed to paho while connected is kept by paho and re-sent after a reconnect until
acknowledged, so its delivery may complete later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)
Handler = Callable[[str, bytes], None]  # (topic, payload); runs on the network thread


class Delivery(Protocol):
    """What became of one publish."""

    @property
    def acknowledged(self) -> bool:
        """The broker acknowledged the message (for QoS 0: it was written to the socket)."""
        ...

    @property
    def abandoned(self) -> bool:
        """The transport will never deliver this message; publish it again."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block until acknowledged or abandoned, at most ``timeout_s``; True if acknowledged."""
        ...


class Transport(Protocol):
    """What the edge needs from a message broker; :class:`MqttTransport` is the real one."""

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> Delivery: ...

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None: ...

    def close(self) -> None: ...


class PendingDelivery:
    """A :class:`Delivery` completed from another thread."""

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


class MqttTransport:
    """A paho-mqtt client (MQTT 3.1.1): persistent session, background loop, reconnect forever.

    Connecting starts in the constructor, in paho's thread; a broker that is down is retried
    with a backoff from ``reconnect_min_s`` doubling to ``reconnect_max_s``. ``on_connect`` runs
    on the network thread after every (re)connect, once subscriptions are renewed: the edge
    republishes its retained online status there and wakes its outbox publisher.
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
        on_connect: Callable[[], None] | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        subscriptions: dict[str, Handler] | None = None,
    ) -> None:
        """``subscriptions`` (topic filter → handler, QoS 1) are in place before the first
        connect: messages the broker kept for a persistent session arrive on the very first
        connect, and a handler registered later by :meth:`subscribe` would miss them."""
        if not client_id and not clean_session:
            raise ValueError("a persistent session (clean_session=False) needs a fixed client_id")
        self._will = will
        self._on_connect_hook = on_connect
        self._lock = threading.Lock()
        self._subscriptions: dict[str, tuple[Handler, int]] = {
            topic: (handler, 1) for topic, handler in (subscriptions or {}).items()
        }
        self._pending: dict[int, PendingDelivery] = {}
        self._early_acks: set[int] = set()
        self._connected = threading.Event()
        self._closed = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
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
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        self._client = client
        self._where = f"{host}:{port}"
        client.connect_async(host, port, keepalive)
        client.loop_start()  # connects, and reconnects forever, in paho's thread

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

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
        """Call ``handler(topic, payload)`` for each message matching ``topic_filter``.

        Kept across reconnects. Handlers run on the network thread: keep them short.
        """
        with self._lock:
            self._subscriptions[topic_filter] = (handler, qos)
        if self._connected.is_set():
            self._client.subscribe(topic_filter, qos)

    def set_will(self, will: Will) -> None:
        """Replace the last will (e.g. after a config change); used from the next (re)connect."""
        self._will = will
        self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def close(self) -> None:
        """Publish the will ourselves (a clean disconnect cancels it), then disconnect."""
        if self._closed:
            return
        if self._will is not None and self._connected.is_set():
            will = self._will
            self.publish(will.topic, will.payload, will.qos, will.retain).wait(2.0)
        self._closed = True
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        with self._lock:
            pending, self._pending = self._pending, {}
        for delivery in pending.values():
            delivery.finish(acknowledged=False)

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self._where, reason)
            return
        log.info("connected to %s (session present: %s)", self._where, flags.session_present)
        with self._lock:
            subscriptions = [(topic, qos) for topic, (_, qos) in self._subscriptions.items()]
        if subscriptions:
            client.subscribe(subscriptions)
        self._connected.set()
        if self._on_connect_hook is not None:
            try:
                self._on_connect_hook()
            except Exception:
                log.exception("on_connect hook failed")

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("lost the broker %s (%s); reconnecting", self._where, reason)

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        with self._lock:
            delivery = self._pending.pop(mid, None)
            if delivery is None:
                self._early_acks.add(mid)
        if delivery is not None:
            delivery.finish(acknowledged=True)

    def _handle_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        with self._lock:
            handlers = [
                handler
                for topic_filter, (handler, _) in self._subscriptions.items()
                if mqtt.topic_matches_sub(topic_filter, message.topic)
            ]
        for handler in handlers:
            try:
                handler(message.topic, bytes(message.payload))
            except Exception:
                log.exception("handler for %s failed on a message", message.topic)
