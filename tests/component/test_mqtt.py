"""sitewatch.mqtt.MqttClient against a real mosquitto: QoS 1 round trip, last will on an
unclean disconnect, and manual acknowledgement over a persistent session."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from textwrap import dedent
from typing import Any

import pytest

from sitewatch.mqtt import Message, MqttClient
from tests.support.mqtt_broker import (  # noqa: F401   (the fixtures "broker" and "persistent_broker")
    HOST,
    Mosquitto,
    broker_fixture,
    persistent_broker_fixture,
)

TOPIC = "sitewatch/s1/alerts"


class Inbox:
    """A handler that keeps the messages that arrive and lets a test wait for them."""

    def __init__(self, fail_first: bool = False) -> None:
        self.messages: list[Message] = []
        self._fail_next = fail_first
        self._changed = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
            if self._fail_next:
                self._fail_next = False
                raise RuntimeError("a handler that fails on its first message")

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Message]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout_s):
                pytest.fail(f"expected {count} message(s) in {timeout_s} s, got {self.messages}")
            return list(self.messages)

    def payloads(self) -> list[bytes]:
        with self._changed:
            return [message.payload for message in self.messages]


def _client(broker: Mosquitto, **options: Any) -> MqttClient:
    """A started client of ``broker`` (a fresh client id unless given, 1 s reconnect cap)."""
    options.setdefault("client_id", f"test-{uuid.uuid4().hex[:12]}")
    client = MqttClient(HOST, broker.port, reconnect_max_s=1, **options)
    client.start()
    return client


def test_round_trip_at_qos_1(broker: Mosquitto) -> None:
    inbox = Inbox()
    console = _client(broker, subscriptions={"sitewatch/+/alerts": inbox})
    edge = _client(broker)
    try:
        assert console.wait_subscribed(5) and edge.wait_connected(5)
        delivery = edge.publish(TOPIC, b"hello", qos=1)
        assert delivery.wait(5) and delivery.acknowledged and not delivery.abandoned
        [got] = inbox.wait_for(1)
        assert (got.topic, got.payload, got.qos, got.retained) == (TOPIC, b"hello", 1, False)
        assert got.receipt.connection == 1
    finally:
        console.close()
        edge.close()
    assert edge.publish(TOPIC, b"after close").abandoned


def test_a_failing_handler_neither_stops_the_client_nor_doubles_on_overlapping_filters(
    broker: Mosquitto,
) -> None:
    inbox = Inbox(fail_first=True)
    console = _client(broker, subscriptions={"sitewatch/+/alerts": inbox, "sitewatch/#": inbox})
    edge = _client(broker)
    try:
        assert console.wait_subscribed(5) and edge.wait_connected(5)
        for payload in (b"one", b"two", b"end"):
            assert edge.publish(TOPIC, payload).wait(5)
        with inbox._changed:
            assert inbox._changed.wait_for(lambda: b"end" in inbox.payloads(), 10)
        # mosquitto sends one copy to a client however many of its filters match; each
        # handler is called once per copy, and the first one's exception changed nothing
        assert inbox.payloads() == [b"one", b"two", b"end"]
    finally:
        console.close()
        edge.close()


VANISHING_CLIENT = dedent(
    """
    import sys, time
    from sitewatch.mqtt import MqttClient, Will
    host, port, topic = sys.argv[1:]
    client = MqttClient(host, int(port), client_id="vanishing", will=Will(topic, b"gone"))
    client.start()
    assert client.wait_connected(10)
    print("up", flush=True)
    time.sleep(60)
    """
)


def test_last_will_is_delivered_on_an_unclean_disconnect(broker: Mosquitto) -> None:
    topic = "sitewatch/s1/status"
    watching = Inbox()
    watcher = _client(broker, subscriptions={topic: watching})
    process = subprocess.Popen(
        [sys.executable, "-c", VANISHING_CLIENT, HOST, str(broker.port), topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    with process:
        try:
            assert watcher.wait_subscribed(5)
            assert process.stdout is not None and process.stdout.readline().strip() == "up"
            process.send_signal(signal.SIGKILL)  # no DISCONNECT packet: the broker sends the will
            process.wait(5)
            [will] = watching.wait_for(1)
            assert (will.topic, will.payload) == (topic, b"gone")
        finally:
            process.kill()
            watcher.close()
    late_inbox = Inbox()
    late = _client(broker, subscriptions={topic: late_inbox})
    try:
        [kept] = late_inbox.wait_for(1)
        assert (kept.payload, kept.retained) == (b"gone", True)  # the will is retained
    finally:
        late.close()


def _settle(edge: MqttClient, inbox: Inbox) -> list[bytes]:
    """Everything ``inbox`` gets up to a marker published now: the broker resends what a
    session holds right after the connect, before the marker."""
    marker = f"marker-{uuid.uuid4().hex[:6]}".encode()
    assert edge.publish(TOPIC, marker).wait(5)
    with inbox._changed:
        assert inbox._changed.wait_for(lambda: marker in inbox.payloads(), 10), inbox.payloads()
    return [p for p in inbox.payloads() if not p.startswith(b"marker-")]


def test_a_message_not_acked_comes_again_after_reconnect(broker: Mosquitto) -> None:
    edge = _client(broker)
    first = Inbox()
    console = _client(broker, client_id="console-1", manual_ack=True, subscriptions={TOPIC: first})
    try:
        assert console.wait_subscribed(5) and edge.wait_connected(5)
        assert edge.publish(TOPIC, b"unhandled").wait(5)
        first.wait_for(1)
        console.close()  # the message was never acknowledged
        second = Inbox()
        console = _client(
            broker, client_id="console-1", manual_ack=True, subscriptions={TOPIC: second}
        )
        assert console.wait_connected(5)
        [again] = second.wait_for(1)
        assert again.payload == b"unhandled"
        assert console.ack(again.receipt)
        _settle(edge, second)
        console.close()
        assert not console.ack(again.receipt)  # closed: nothing to send it on
        third = Inbox()
        console = _client(
            broker, client_id="console-1", manual_ack=True, subscriptions={TOPIC: third}
        )
        assert console.wait_subscribed(5)
        assert _settle(edge, third) == []  # acknowledged: not sent again
    finally:
        console.close()
        edge.close()


def test_an_ack_goes_back_only_on_the_connection_that_delivered(
    persistent_broker: Mosquitto,
) -> None:
    """A broker restart ends the connection: the old receipt is refused, the broker resends."""
    inbox = Inbox()
    console = _client(
        persistent_broker, client_id="console-2", manual_ack=True, subscriptions={TOPIC: inbox}
    )
    edge = _client(persistent_broker)
    try:
        assert console.wait_subscribed(5) and edge.wait_connected(5)
        assert edge.publish(TOPIC, b"held").wait(5)
        [old] = inbox.wait_for(1)
        persistent_broker.stop()
        persistent_broker.start()
        assert console.wait_subscribed(10) and edge.wait_connected(10)
        [_, again] = inbox.wait_for(2)
        assert again.payload == b"held" and again.receipt.connection == 2
        assert not console.ack(old.receipt)
        assert console.ack(again.receipt)
    finally:
        console.close()
        edge.close()
