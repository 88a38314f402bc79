"""Identities on a real mosquitto with the files ``sitewatch server add-edge`` writes (issue 12,
item 1): each edge logs in with its own password, writes only its own site's topics and reads
only its own ``config/set``; only the console commands edges; anonymous clients are refused;
``--rotate`` ends the old password. The password hash format is checked against the real
mosquitto_passwd."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select

from sitewatch.cli import main as sitewatch
from sitewatch.console.domain.broker_accounts import password_hash, password_matches
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import Alert, BrokerAccount
from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer, load_key, public_key_text
from sitewatch.edge.publish.transport import MqttTransport
from tests.support.ingest_support import alert, live_console
from tests.support.mqtt_broker import HOST, Collector, Mosquitto, until_received

PREFIX = "sitewatch"
CONSOLE_USER = "console-test"
CONSOLE_PASSWORD = "a long console password for the broker"


@dataclass
class Identities:
    """Two sites' edges and the console, registered by the CLI, and a broker that uses them."""

    tmp: Path
    broker: Mosquitto

    def env(self, site: str) -> dict[str, str]:
        """The edge's MQTT credentials as add-edge wrote them (edge.env)."""
        lines = (self.tmp / "edges" / site / "edge.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    def login(self, site: str) -> tuple[str, str]:
        env = self.env(site)
        return env["SITEWATCH_EDGE_MQTT_USERNAME"], env["SITEWATCH_EDGE_MQTT_PASSWORD"]

    def client(self, who: str, **options: object) -> MqttTransport:
        """A connected client as ``who``: a site's edge or "console"."""
        user, password = (CONSOLE_USER, CONSOLE_PASSWORD) if who == "console" else self.login(who)
        transport = self.broker.transport(username=user, password=password, **options)
        assert transport.wait_connected(10.0), (
            f"{who} could not log in:\n{self.broker.log.read_text()}"
        )
        return transport


def add_edge(*args: str) -> int:
    return sitewatch(["server", "add-edge", *args])


@pytest.fixture(name="ids")
def identities_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Identities]:
    env = {
        "SITEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        "SITEWATCH_SIGNING_KEY_FILE": str(tmp_path / "console.key"),
        "SITEWATCH_BROKER_PASSWORD_FILE": str(tmp_path / "broker" / "passwd"),
        "SITEWATCH_BROKER_ACL_FILE": str(tmp_path / "broker" / "acl"),
        "SITEWATCH_MQTT_USERNAME": CONSOLE_USER,
        "SITEWATCH_MQTT_PASSWORD": CONSOLE_PASSWORD,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for site in ("north", "south"):
        assert add_edge(site, "--out", str(tmp_path / "edges" / site)) == 0
    broker = Mosquitto(
        tmp_path / "mosquitto",
        password_file=tmp_path / "broker" / "passwd",
        acl_file=tmp_path / "broker" / "acl",
    )
    broker.start()
    yield Identities(tmp_path, broker)
    broker.stop()


def connack(port: int, username: str | None, password: str | None) -> ReasonCode:
    """The broker's answer to one connect with these credentials (no retries)."""
    answer: list[ReasonCode] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        answer.append(reason)
        done.set()

    client.on_connect = on_connect
    client.connect(HOST, port)
    client.loop_start()
    try:
        assert done.wait(10.0), "no CONNACK in 10 s"
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0]


def test_password_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    file = tmp_path / "passwd"
    subprocess.run(
        ["/usr/bin/mosquitto_passwd", "-c", "-b", str(file), "edge-north", "s3cret pass"],
        check=True,
    )
    theirs = file.read_text().strip().split(":", 1)[1]
    _, kind, rounds, salt, _ = theirs.split("$")
    assert kind == "7"
    assert password_matches("s3cret pass", theirs)
    assert not password_matches("s3cret pasS", theirs)
    assert password_hash("s3cret pass", salt=base64.b64decode(salt), iterations=int(rounds)) == (
        theirs
    )
    assert password_hash("s3cret pass").startswith(f"$7${rounds}$")  # the same rounds as theirs


def test_the_generated_files_let_in_only_the_registered_identities(ids: Identities) -> None:
    port = ids.broker.port
    user, password = ids.login("north")
    assert not connack(port, user, password).is_failure
    assert not connack(port, CONSOLE_USER, CONSOLE_PASSWORD).is_failure
    assert connack(port, user, password + "x").is_failure
    assert connack(port, user, ids.login("south")[1]).is_failure  # another edge's password
    assert connack(port, None, None).is_failure  # anonymous
    assert connack(port, "console", "").is_failure


def test_an_edge_publishes_only_under_its_own_site(ids: Identities) -> None:
    seen = Collector()
    console = ids.client("console", subscriptions={f"{PREFIX}/#": seen}, clean_session=True)
    north = ids.client("north")
    try:
        until_received(seen, north, m.stats(PREFIX, "north"))
        forged = [
            m.alerts(PREFIX, "south"),
            m.edge_status(PREFIX, "south"),  # a retained "offline" of item 9
            m.config_result(PREFIX, "south"),  # a forged config result of item 9
            m.camera_status(PREFIX, "south", "gate"),
            m.evidence(PREFIX, "south", "a1", "a1_snapshot.jpg"),
            m.config_command(PREFIX, "south"),
            m.config_command(PREFIX, "north"),  # not even its own: commands come from the console
            f"{PREFIX}/north/other",  # nothing outside the contract's topics
        ]
        for topic in forged:
            north.publish(topic, b"forged", qos=1, retain=True).wait(5.0)
        own = [
            m.alerts(PREFIX, "north"),
            m.camera_snapshot(PREFIX, "north", "gate"),
            m.evidence(PREFIX, "north", "a1", "a1_snapshot.jpg"),
            m.config_result(PREFIX, "north"),
        ]
        for topic in own:
            assert north.publish(topic, b"genuine", qos=1).wait(5.0)
        got = seen.wait_for(len(own))
        assert [topic for topic, _ in got] == own, "a forged topic reached the console"
    finally:
        north.close()
        console.close()


def test_only_the_console_commands_an_edge_and_only_that_edge_reads_it(ids: Identities) -> None:
    north_got, south_got = Collector(), Collector()
    # south tries to read north's commands, by name and by wildcard
    spy = {m.config_command(PREFIX, "north"): south_got, f"{PREFIX}/#": south_got}
    south = ids.client("south", subscriptions=spy)
    north = ids.client("north", subscriptions={m.config_command(PREFIX, "north"): north_got})
    console = ids.client("console")
    try:
        until_received(north_got, console, m.config_command(PREFIX, "north"))
        # the attack of item 1: a client without credentials is not even let in ...
        assert connack(ids.broker.port, None, None).is_failure
        # ... and the other site's edge (or the edge itself) cannot command the edge
        south.publish(m.config_command(PREFIX, "north"), b"from south", qos=1).wait(5.0)
        north.publish(m.config_command(PREFIX, "north"), b"from itself", qos=1).wait(5.0)
        assert console.publish(m.config_command(PREFIX, "north"), b"console", qos=1).wait(5.0)
        assert console.publish(m.config_command(PREFIX, "south"), b"console", qos=1).wait(5.0)
        assert north_got.wait_for(1) == [(m.config_command(PREFIX, "north"), b"console")]
        # south's own command came after north's: once it is in, north's would have been too
        got = south_got.wait_for(1)
        assert got == [(m.config_command(PREFIX, "south"), b"console")], "south read north's"
    finally:
        for client in (north, south, console):
            client.close()


def test_rotate_ends_the_old_password(ids: Identities) -> None:
    old_user, old_password = ids.login("north")
    assert add_edge("north", "--out", str(ids.tmp / "edges" / "north")) == 2  # no silent replace
    assert ids.login("north")[1] == old_password
    assert add_edge("north", "--rotate", "--out", str(ids.tmp / "edges" / "north")) == 0
    user, password = ids.login("north")
    assert (user, password != old_password) == (old_user, True)
    ids.broker.reload()
    deadline = time.monotonic() + 10
    while not connack(ids.broker.port, user, old_password).is_failure:  # until it has reloaded
        assert time.monotonic() < deadline, "the old password still logs in"
    assert not connack(ids.broker.port, user, password).is_failure


def test_add_edge_hands_the_edge_its_files_privately(
    ids: Identities, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = ids.tmp / "edges" / "north"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("edge.key", "edge.env", "edge-config.yaml"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    capsys.readouterr()
    assert sitewatch(["server", "public-key"]) == 0
    console_key = capsys.readouterr().out.strip()
    snippet = yaml.safe_load((folder / "edge-config.yaml").read_text())
    assert snippet == {
        "mqtt": {
            "username_env": "SITEWATCH_EDGE_MQTT_USERNAME",
            "password_env": "SITEWATCH_EDGE_MQTT_PASSWORD",
        },
        "trust": {"key_file": "edge.key", "console_public_key": console_key},
    }
    edge_key = public_key_text(load_key(folder / "edge.key"))
    assert _registered_key(ids, "north") == edge_key
    # an edge that made its own key: registered as given, no private key written
    own = public_key_text(load_key(ids.tmp / "console.key"))  # any Ed25519 key will do
    out = ids.tmp / "edges" / "north-own"
    assert add_edge("north", "--rotate", "--public-key", own, "--out", str(out)) == 0
    assert _registered_key(ids, "north") == own
    assert sorted(p.name for p in out.iterdir()) == ["edge-config.yaml", "edge.env"]
    assert add_edge("north", "--rotate", "--public-key", "not a key") == 2
    assert "expected an Ed25519 public key" in capsys.readouterr().err
    assert os.environ["SITEWATCH_MQTT_USERNAME"] == CONSOLE_USER


def _registered_key(ids: Identities, site: str) -> str | None:
    db = Database(f"sqlite:///{ids.tmp / 'console.db'}")
    try:
        with db.session() as s:
            return s.scalar(select(BrokerAccount.public_key).where(BrokerAccount.site_id == site))
    finally:
        db.close()


def test_the_console_ingests_with_its_identity_what_the_edge_signed(ids: Identities) -> None:
    """End to end: the console logs in with its account, the edge with its own and signs with
    the key add-edge gave it; the alert is stored. The same alert from south's identity never
    reaches the console (the broker drops it)."""
    signer = Signer(load_key(ids.tmp / "edges" / "north" / "edge.key"))
    now = datetime.now(UTC).replace(microsecond=0)
    genuine = alert(uuid.uuid4(), 0, started_at=now, last_seen_at=now, sent_at=now)
    forged = alert(uuid.uuid4(), 0, started_at=now, last_seen_at=now, sent_at=now)
    with live_console(
        ids.tmp / "app",
        ids.broker,
        database_url=f"sqlite:///{ids.tmp / 'console.db'}",
        signing_key_file=ids.tmp / "console.key",
        mqtt_username=CONSOLE_USER,
        mqtt_password=CONSOLE_PASSWORD,
    ) as console:
        south, north = ids.client("south"), ids.client("north")
        try:
            south.publish(m.alerts(PREFIX, "north"), signer.encode(forged), qos=1).wait(5.0)
            topic = m.alerts(PREFIX, "north")
            assert north.publish(topic, signer.encode(genuine), qos=1).wait(5.0)
            console.settle(1)
        finally:
            south.close()
            north.close()
        assert [a.id for a in console.rows(Alert)] == [str(genuine.id)]


def test_broker_files_come_back_from_the_table_and_say_what_the_console_lacks(
    ids: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = ids.tmp / "broker" / "passwd", ids.tmp / "broker" / "acl"
    before = passwd.read_text(), acl.read_text()
    passwd.unlink()
    acl.write_text("topic readwrite #\n")  # someone edited it by hand
    capsys.readouterr()
    assert sitewatch(["server", "broker-files"]) == 0
    assert (passwd.read_text(), acl.read_text()) == before
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o640
    # a console set up without its broker login: told what to set, its old account kept
    monkeypatch.delenv("SITEWATCH_MQTT_USERNAME")
    monkeypatch.delenv("SITEWATCH_MQTT_PASSWORD")
    assert sitewatch(["server", "broker-files"]) == 0
    assert f"{CONSOLE_USER!r}: kept (SITEWATCH_MQTT_USERNAME is unset here)" in (
        capsys.readouterr().out
    )
    fresh = ids.tmp / "fresh"
    monkeypatch.setenv("SITEWATCH_DATABASE_URL", f"sqlite:///{fresh / 'console.db'}")
    monkeypatch.setenv("SITEWATCH_BROKER_PASSWORD_FILE", str(fresh / "passwd"))
    monkeypatch.setenv("SITEWATCH_BROKER_ACL_FILE", str(fresh / "acl"))
    fresh.mkdir()
    assert add_edge("east", "--out", str(fresh / "east")) == 0
    err = capsys.readouterr().err
    assert "set SITEWATCH_MQTT_USERNAME and SITEWATCH_MQTT_PASSWORD" in err
    assert (fresh / "passwd").read_text().startswith("edge-east:$7$")
    assert "user edge-east\n" in (fresh / "acl").read_text()
    assert "topic read sitewatch/#" not in (fresh / "acl").read_text()  # no console: nobody
