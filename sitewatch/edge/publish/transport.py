"""The edge's link to the broker, behind a tiny interface: publish / subscribe / close.

:class:`MqttTransport` is :class:`sitewatch.mqtt.MqttClient` (the one MQTT client, whose
docstring holds the invariants: reconnect forever, subscriptions renewed, a publish while
disconnected abandoned at once and never raised, the will published on close) with handlers
of ``(topic, payload)`` and connecting from the constructor. The outbox keeps what a publish
abandons and publishes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sitewatch.mqtt import Delivery, Message, MqttClient, Tls, Will

__all__ = ["Delivery", "Handler", "MqttTransport", "Tls", "Transport", "Will"]

Handler = Callable[[str, bytes], None]  # (topic, payload); runs on the network thread


class Transport(Protocol):
    """What the edge needs from a message broker; :class:`MqttTransport` is the real one."""

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> Delivery: ...

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None: ...

    def close(self) -> None: ...


def _taking_message(handler: Handler) -> Callable[[Message], None]:
    return lambda message: handler(message.topic, message.payload)


class MqttTransport:
    """The edge's MQTT client: persistent session (a fixed ``client_id``), QoS 1, last will.

    Connecting starts in the constructor. ``on_connect`` runs on the network thread after every
    (re)connect, once subscriptions are renewed: the edge republishes its retained online status
    there and wakes its outbox publisher.
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
        self._client = MqttClient(
            host,
            port,
            client_id=client_id,
            tls=tls,
            username=username,
            password=password,
            keepalive=keepalive,
            will=will,
            clean_session=clean_session,
            subscriptions={t: _taking_message(h) for t, h in (subscriptions or {}).items()},
            on_connect=on_connect,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
            name="edge",
            hint="check mqtt.host and mqtt.port in the edge's config and that the broker runs",
        )
        self._client.start()

    @property
    def connected(self) -> bool:
        return self._client.connected

    def wait_connected(self, timeout_s: float) -> bool:
        return self._client.wait_connected(timeout_s)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> Delivery:
        return self._client.publish(topic, payload, qos, retain)

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Call ``handler(topic, payload)`` for each message matching ``topic_filter``.

        Kept across reconnects. Handlers run on the network thread: keep them short.
        """
        self._client.subscribe(topic_filter, _taking_message(handler), qos)

    def set_will(self, will: Will) -> None:
        """Replace the last will (e.g. after a config change); used from the next (re)connect."""
        self._client.set_will(will)

    def close(self) -> None:
        """Publish the will ourselves (a clean disconnect cancels it), then disconnect."""
        self._client.close()
