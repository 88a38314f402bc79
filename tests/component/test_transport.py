"""MqttTransport against a real mosquitto: publish/subscribe, last will, broker restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from textwrap import dedent

import pytest

from sitewatch.contract import messages as m
from sitewatch.edge.publish.transport import MqttTransport, Will
from tests.support.mqtt_broker import HOST, Collector, Mosquitto, broker_fixture, until_received  # noqa: F401

STATUS = m.EdgeStatus(
    site_id="s1",
    state="online",
    software_version="0.1.0",
    config_version="c1",
    started_at=datetime(2025, 5, 1, tzinfo=UTC),
    cameras=2,
    at=datetime(2025, 5, 1, tzinfo=UTC),
)
STATUS_TOPIC = m.edge_status("sitewatch", "s1")


def _states(collector: Collector) -> list[str]:
    return [m.decode(p, m.EdgeStatus).state for p in collector.payloads()]


def test_publish_subscribe_and_acknowledge(broker: Mosquitto) -> None:
    console, edge, got = broker.transport(), broker.transport(), Collector()
    try:
        assert console.wait_connected(5) and edge.wait_connected(5)
        console.subscribe("sitewatch/+/alerts", got)
        until_received(got, edge, "sitewatch/s1/alerts")
        delivery = edge.publish("sitewatch/s1/alerts", b"hello", qos=1)
        assert delivery.wait(5) and delivery.acknowledged and not delivery.abandoned
        assert got.wait_for(1) == [("sitewatch/s1/alerts", b"hello")]
        edge.publish("sitewatch/s1/other", b"not for the console").wait(5)
        time.sleep(0.2)
        assert got.payloads() == [b"hello"]
    finally:
        console.close()
        edge.close()


def test_publish_while_broker_is_away_is_abandoned_not_raised(broker: Mosquitto) -> None:
    broker.stop()
    edge = broker.transport()
    try:
        time.sleep(0.3)
        assert not edge.connected
        delivery = edge.publish("sitewatch/s1/alerts", b"x", qos=1)
        assert delivery.abandoned and not delivery.acknowledged
        assert delivery.wait(0.1) is False
    finally:
        edge.close()


EDGE_PROCESS = dedent(
    """
    import sys, time
    from sitewatch.edge.publish.transport import MqttTransport, Will
    host, port, topic, online, offline = sys.argv[1:]
    transport = MqttTransport(
        host, int(port), client_id="edge-s1", will=Will(topic, offline.encode())
    )
    assert transport.wait_connected(10)
    assert transport.publish(topic, online.encode(), qos=1, retain=True).wait(10)
    print("online", flush=True)
    time.sleep(60)
    """
)


def test_last_will_marks_a_killed_edge_offline_retained(broker: Mosquitto) -> None:
    online, offline = m.encode(STATUS).decode(), m.encode(m.last_will(STATUS)).decode()
    edge = subprocess.Popen(
        [sys.executable, "-c", EDGE_PROCESS, HOST, str(broker.port), STATUS_TOPIC, online, offline],
        stdout=subprocess.PIPE,
        text=True,
    )
    watcher, seen = broker.transport(), Collector()
    with edge:
        try:
            assert edge.stdout is not None and edge.stdout.readline().strip() == "online"
            watcher.subscribe(STATUS_TOPIC, seen)
            seen.wait_for(1)
            assert _states(seen) == ["online"]  # retained, so a late subscriber sees it
            edge.send_signal(signal.SIGKILL)  # no DISCONNECT packet: the broker sends the will
            edge.wait(5)
            seen.wait_for(2)
            assert _states(seen) == ["online", "offline"]
        finally:
            edge.kill()
            watcher.close()
    late, late_seen = broker.transport(), Collector()
    late.subscribe(STATUS_TOPIC, late_seen)
    late_seen.wait_for(1)
    late.close()
    assert _states(late_seen) == ["offline"]
    assert m.decode(late_seen.payloads()[0], m.EdgeStatus) == m.last_will(STATUS)


def test_clean_close_publishes_the_will_too(broker: Mosquitto) -> None:
    will = Will(STATUS_TOPIC, m.encode(m.last_will(STATUS)))
    edge = broker.transport(will=will)
    assert edge.wait_connected(5)
    edge.publish(STATUS_TOPIC, m.encode(STATUS), retain=True).wait(5)
    newer = STATUS.model_copy(update={"config_version": "c2"})
    edge.set_will(Will(STATUS_TOPIC, m.encode(m.last_will(newer))))
    edge.close()
    assert edge.publish(STATUS_TOPIC, b"after close").abandoned
    watcher, seen = broker.transport(), Collector()
    watcher.subscribe(STATUS_TOPIC, seen)
    seen.wait_for(1)
    watcher.close()
    assert _states(seen) == ["offline"]
    assert m.decode(seen.payloads()[0], m.EdgeStatus).config_version == "c2"


def test_resubscribes_and_calls_on_connect_after_broker_restart(broker: Mosquitto) -> None:
    connects: list[float] = []
    console, got = (
        broker.transport(on_connect=lambda: connects.append(time.monotonic())),
        Collector(),
    )
    edge = broker.transport()
    try:
        assert console.wait_connected(5) and edge.wait_connected(5)
        console.subscribe("sitewatch/+/alerts", got)
        until_received(got, edge, "sitewatch/s1/alerts")
        broker.stop()  # no persistence: the restarted broker has forgotten the subscription
        deadline = time.monotonic() + 5
        while console.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not console.connected
        broker.start()
        assert console.wait_connected(10) and edge.wait_connected(10)
        until_received(got, edge, "sitewatch/s1/alerts")
        assert len(connects) == 2
    finally:
        console.close()
        edge.close()


def test_persistent_session_needs_a_client_id() -> None:
    with pytest.raises(ValueError, match="needs a fixed client_id"):
        MqttTransport(HOST, 1, client_id="")


def test_messages_kept_for_a_persistent_session_reach_constructor_subscriptions(
    broker: Mosquitto,
) -> None:
    """A config command sent while the edge was away is delivered on its very first connect;
    a handler registered only after the constructor (which starts connecting) could miss it."""
    topic = m.config_command("sitewatch", "s1")
    first = broker.transport(client_id="edge-s1")
    assert first.wait_connected(5)
    first.subscribe(topic, Collector())
    time.sleep(0.3)  # the broker now holds a QoS 1 subscription for the session
    first.close()  # away: the broker keeps the persistent session and queues for it
    console = broker.transport()
    assert console.wait_connected(5)
    console.publish(topic, b"queued while away", qos=1).wait(5)
    got = Collector()
    again = broker.transport(client_id="edge-s1", subscriptions={topic: got})
    try:
        assert got.wait_for(1) == [(topic, b"queued while away")]
    finally:
        again.close()
        console.close()
