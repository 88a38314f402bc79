"""Broker identities on a real RabbitMQ 3.10 node (its MQTT plugin, as the cluster's edges use
it) from the definitions ``sitewatch server add-edge --rabbitmq FILE`` writes: each edge logs
in with its own password, writes only its own site's topics and reads only its own commands;
the console consumes the ingest queues over AMQP and commands the edges over MQTT. The node
runs as in deploy/cluster/ but for one thing: anonymous MQTT logins are on in the test node's
config, so the test deletes the ``guest`` user they log in as (as the deployment README says to
do), and an anonymous client is refused too.

One node serves the whole module (a boot takes 20-40 s on a shared 2-core box)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pika  # type: ignore[import-untyped]  # pika ships no types
import pika.exceptions  # type: ignore[import-untyped]
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sitewatch.cli import main as sitewatch
from sitewatch.console.domain.broker_accounts import (
    BrokerAccountError,
    rabbitmq_password_hash,
    rabbitmq_password_matches,
)
from sitewatch.console.domain.broker_accounts_rabbitmq import definitions, routing_key_regex
from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract import messages as m
from sitewatch.contract import topics as t
from sitewatch.contract.topics import edge_client_id
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.mqtt import Handler, MqttClient
from tests.support.mqtt_broker import Collector, until_received
from tests.support.rabbitmq import HOST, RabbitCluster

PREFIX = "sitewatch"
CONSOLE_USER = "sitewatch-console"
CONSOLE_PASSWORD = "a long console password for the cluster"
QUEUE = "sitewatch.ingest"  # SITEWATCH_AMQP_QUEUE's default: the shards are QUEUE.<n>


@dataclass
class Rabbit:
    """One RabbitMQ node that imported the accounts of sites north and south and the console."""

    tmp: Path
    cluster: RabbitCluster

    @property
    def mqtt_port(self) -> int:
        return self.cluster.nodes[0].mqtt_port

    def login(self, who: str) -> tuple[str, str]:
        """``who``'s user name and password: the console's, or a site edge's from edge.env."""
        if who == "console":
            return CONSOLE_USER, CONSOLE_PASSWORD
        lines = (self.tmp / "data" / "edges" / who / "edge.env").read_text().splitlines()
        env = dict(line.split("=", 1) for line in lines)
        return env["SITEWATCH_EDGE_MQTT_USERNAME"], env["SITEWATCH_EDGE_MQTT_PASSWORD"]

    def edge(self, site: str, subscriptions: dict[str, Collector]) -> MqttTransport:
        """``site``'s edge as the worker connects it: its own client id, a lasting session."""
        user, password = self.login(site)
        edge = MqttTransport(
            HOST,
            self.mqtt_port,
            client_id=edge_client_id(site),
            username=user,
            password=password,
            subscriptions=dict(subscriptions),
        )
        assert edge.wait_connected(10.0), f"edge {site} could not log in"
        return edge

    def console_mqtt(self, subscriptions: dict[str, Collector] | None = None) -> MqttClient:
        client = MqttClient(
            HOST,
            self.mqtt_port,
            client_id=f"sitewatch-console-{uuid.uuid4().hex[:6]}",  # one per replica
            username=CONSOLE_USER,
            password=CONSOLE_PASSWORD,
            clean_session=True,
            subscriptions={topic: _taking(c) for topic, c in (subscriptions or {}).items()},
        )
        client.start()
        assert client.wait_subscribed(10.0), "the console could not log in and subscribe"
        return client

    def amqp(self, who: str) -> pika.BlockingConnection:
        user, password = self.login(who)
        port = self.cluster.nodes[0].amqp_port
        return pika.BlockingConnection(
            pika.URLParameters(f"amqp://{user}:{password}@{HOST}:{port}/%2F")
        )

    def ingest_queues(self) -> list[str]:
        rows = json.loads(self.cluster.ctl("list_queues", "name", "--formatter", "json", "-q"))
        names = [r["name"] for r in rows if r["name"] == QUEUE or r["name"].startswith(QUEUE)]
        assert names, f"expected the ingest queue(s) {QUEUE}* on the node, got {rows}"
        return names


def _taking(collector: Collector) -> Handler:
    return lambda message: collector(message.topic, message.payload)


def _wait_imported(cluster: RabbitCluster, users: set[str]) -> None:
    """``import_definitions`` returns before the import is done (3.10 says so): wait for
    the users."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        rows = json.loads(cluster.ctl("list_users", "--formatter", "json", "-q"))
        if users <= {r["user"] for r in rows}:
            return
        time.sleep(0.2)
    pytest.fail(f"the users {sorted(users)} were not imported in 30 s")


@pytest.fixture(scope="module", name="rabbit")
def rabbit_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rabbit]:
    tmp = tmp_path_factory.mktemp("rabbitmq-accounts")
    defs = str(tmp / "rabbitmq-definitions.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp)  # the console's default files: data/console.db, data/edges/SITE, ...
        patch.setenv("SITEWATCH_MQTT_USERNAME", CONSOLE_USER)
        patch.setenv("SITEWATCH_MQTT_PASSWORD", CONSOLE_PASSWORD)
        for site in ("north", "south"):
            assert sitewatch(["server", "add-edge", site, "--rabbitmq", defs]) == 0
        assert sitewatch(["server", "broker-files", "--rabbitmq", defs]) == 0
    assert not (tmp / "data" / "broker").exists(), "--rabbitmq wrote mosquitto's files too"
    cluster = RabbitCluster(tmp / "rabbitmq", size=1)  # skips, naming the package, without it
    try:
        cluster.start()  # with deploy/cluster/definitions.json: the ingest queues
        cluster.ctl("import_definitions", defs)
        cluster.ctl("delete_user", "guest")  # whom anonymous MQTT logins would be
        _wait_imported(cluster, {CONSOLE_USER, "edge-north", "edge-south"})
        yield Rabbit(tmp, cluster)
    finally:
        cluster.stop()


@dataclass
class Probe:
    """What one raw MQTT connection saw: the broker's CONNACK, SUBACKs, PUBACKs and whether
    the broker closed it (how RabbitMQ 3.10 refuses a publish or subscribe: it disconnects)."""

    events: list[str]

    @property
    def refused(self) -> bool:
        """The broker closed the connection before it acknowledged anything after CONNACK."""
        after = self.events[1:]
        return bool(after) and after[0].startswith("closed")


def probe(
    port: int,
    login: tuple[str, str] | None,
    client_id: str,
    action: Callable[[mqtt.Client], object] | None = None,
) -> Probe:
    """Connect once (no reconnects), do ``action``, and say what the broker answered."""
    events: list[str] = []
    changed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if login is not None:
        client.username_pw_set(*login)

    def record(what: str) -> None:
        events.append(what)
        changed.set()

    client.on_connect = lambda c, u, f, reason, p: record(f"connack {reason}")
    client.on_disconnect = lambda c, u, f, reason, p: record(f"closed {reason}")
    client.on_subscribe = lambda c, u, mid, codes, p: record(f"suback {codes[0]}")
    client.on_publish = lambda c, u, mid, reason, p: record(f"puback {reason}")
    client.connect(HOST, port)
    try:
        client.loop_start()
        deadline = time.monotonic() + 10.0
        while not events and time.monotonic() < deadline:
            changed.wait(0.1)
        assert events, "no CONNACK in 10 s"
        if action is not None and events[0] == "connack Success":
            changed.clear()
            action(client)
            assert changed.wait(10.0), f"no answer to the action in 10 s: {events}"
    finally:
        client.reconnect_delay_set(3600, 3600)  # paho would reconnect at once after a close
        client.disconnect()
        client.loop_stop()
    return Probe(events)


def publishing(topic: str) -> Callable[[mqtt.Client], object]:
    return lambda client: client.publish(topic, b"forged", qos=1)


def subscribing(topic: str) -> Callable[[mqtt.Client], object]:
    return lambda client: client.subscribe(topic, qos=1)


def test_the_hash_is_rabbitmqs_salted_sha256() -> None:
    # the worked example of RabbitMQ's "Credentials and Passwords" guide: salt 908DC60A
    assert rabbitmq_password_hash("test12", salt=bytes.fromhex("908DC60A")) == (
        "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    )
    hashed = rabbitmq_password_hash("s3cret pass")
    assert rabbitmq_password_matches("s3cret pass", hashed)
    assert not rabbitmq_password_matches("s3cret pasS", hashed)
    assert not rabbitmq_password_matches("s3cret pass", None)


def test_an_account_without_a_rabbitmq_hash_stops_the_file_saying_what_to_do() -> None:
    old = BrokerAccount(username="edge-north", role="edge", site_id="north", rabbitmq_hash=None)
    with pytest.raises(BrokerAccountError, match="add-edge SITE --rotate") as caught:
        definitions([old], PREFIX)
    assert "north" in str(caught.value)


@pytest.mark.parametrize(
    ("patterns", "key", "matches"),
    [
        (["sitewatch/north/alerts"], "sitewatch.north.alerts", True),
        (["sitewatch/north/alerts"], "sitewatch.north.alertsX", False),
        (["sitewatch/+/alerts"], "sitewatch.*.alerts", True),  # a subscription's key
        (["sitewatch/north/cameras/+/status"], "sitewatch.north.cameras.a.b.status", False),
        (["sitewatch/north/evidence/+/+"], "sitewatch.north.evidence.a1.a1_clip.mp4", True),
        (["sitewatch/#"], "sitewatch", True),
        (["sitewatch/#"], "sitewatch.south.#", True),
        (["sitewatch/#"], "sitewatchX.a", False),
        (["acme/sw/+/stats"], "acme.sw.north.stats", True),
    ],
)
def test_routing_key_regex(patterns: list[str], key: str, matches: bool) -> None:
    assert bool(re.search(routing_key_regex(patterns), key)) is matches


def test_only_the_imported_accounts_log_in(rabbit: Rabbit) -> None:
    port = rabbit.mqtt_port
    user, password = rabbit.login("north")
    assert probe(port, (user, password), "p-north").events[0] == "connack Success"
    assert probe(port, rabbit.login("console"), "p-console").events[0] == "connack Success"
    for login in [(user, password + "x"), (user, rabbit.login("south")[1]), None]:
        events = probe(port, login, "p-refused").events
        assert events[0] == "connack Bad user name or password", (login, events)


def test_an_edge_publishes_only_its_own_sites_topics(rabbit: Rabbit) -> None:
    port, login = rabbit.mqtt_port, rabbit.login("north")
    seen = Collector()
    console = rabbit.console_mqtt({f"{PREFIX}/#": seen})
    north = rabbit.edge("north", {})
    try:
        until_received(seen, north, m.stats(PREFIX, "north"))
        forged = [
            m.alerts(PREFIX, "south"),
            m.edge_status(PREFIX, "south"),
            m.config_result(PREFIX, "south"),
            m.config_command(PREFIX, "north"),  # not even its own: commands are the console's
            m.video_command(PREFIX, "north"),
            f"{PREFIX}/north/other",  # nothing outside the contract's topics
        ]
        for topic in forged:
            answer = probe(port, login, "p-forger", publishing(topic))
            assert answer.refused, f"publishing {topic}: {answer.events}"
        own = [  # every topic of the contract an edge publishes
            spec.topic.replace("{stream}", "record")
            for spec in t.topic_table(PREFIX, "north", "gate")
            if spec.direction == t.EDGE_TO_CONSOLE
        ] + [
            m.camera_snapshot(PREFIX, "north", "gate"),
            m.evidence(PREFIX, "north", "a1", "a1_snapshot.jpg"),
        ]
        for topic in own:
            assert north.publish(topic, b"genuine", qos=1).wait(5.0), topic
        got = seen.wait_for(len(own))
        # RabbitMQ hands an MQTT subscriber a topic's own '.' as '/' (the file name's dot)
        expected = [topic.replace(".", "/") for topic in own]
        assert [topic for topic, _ in got] == expected, "a forged topic reached the console"
    finally:
        north.close()
        console.close()


def test_an_edge_reads_only_its_own_commands(rabbit: Rabbit) -> None:
    port, login = rabbit.mqtt_port, rabbit.login("north")
    north_id = edge_client_id("north")
    for topic in [f"{PREFIX}/south/#", m.config_command(PREFIX, "south"), f"{PREFIX}/north/#"]:
        answer = probe(port, login, north_id, subscribing(topic))
        assert answer.refused, f"subscribing {topic}: {answer.events}"
    # its own command topic, but on another edge's session (client id): queue refused
    own = m.config_command(PREFIX, "north")
    answer = probe(port, login, edge_client_id("south"), subscribing(own))
    assert answer.refused, f"subscribing on south's session: {answer.events}"
    # and the console's commands do reach it
    got = Collector()
    north = rabbit.edge("north", {own: got, m.video_command(PREFIX, "north"): got})
    console = rabbit.console_mqtt()
    try:
        until_received(got, console, own)  # type: ignore[arg-type]
        assert console.publish(m.video_command(PREFIX, "north"), b"play", qos=1).wait(5.0)
        assert console.publish(own, b"set", qos=1).wait(5.0)
        assert [p for _, p in got.wait_for(2)] == [b"play", b"set"]
    finally:
        north.close()
        console.close()


def test_the_console_consumes_the_ingest_queues_and_an_edge_cannot(rabbit: Rabbit) -> None:
    with rabbit.amqp("north") as connection:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
            channel.basic_consume(rabbit.ingest_queues()[0], lambda *a: None)
    north = rabbit.edge("north", {})
    marker = f"alert {uuid.uuid4().hex}".encode()
    try:
        assert north.publish(m.alerts(PREFIX, "north"), marker, qos=1).wait(5.0)
    finally:
        north.close()
    bodies: list[bytes] = []
    with rabbit.amqp("console") as connection:
        channel = connection.channel()
        for queue in rabbit.ingest_queues():
            channel.basic_consume(queue, lambda ch, d, p, body: bodies.append(body), True)
        deadline = time.monotonic() + 10.0
        while marker not in bodies and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
    assert marker in bodies, f"the console did not get north's alert from {QUEUE}*"
