"""The cluster example (deploy/cluster/, not yet measured): 3 RabbitMQ nodes that know each
other, the ingest quorum queues (shards, each with a single active consumer) filled through a
consistent-hash exchange bound to every topic the edges publish,
2 console replicas on PostgreSQL with their own MQTT client ids consuming that queue from every
node, and haproxy in front naming only services that exist (``haproxy -c`` when haproxy is
installed)."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sitewatch.console.ingest.amqp import routing_key_to_topic, shard_queues
from sitewatch.console.settings import Settings
from sitewatch.console.settings_env import SettingsProblem, settings_from_env
from sitewatch.contract.topics import console_subscriptions
from tests.unit.test_deploy_files import (
    compose_problems,
    load_compose,
    parse_sitewatch,
    settings_problems,
    sitewatch_services,
)

CLUSTER = Path(__file__).resolve().parents[2] / "deploy" / "cluster"


def amqp_binding_key(mqtt_filter: str) -> str:
    """RabbitMQ's MQTT plugin maps topic ``a/+/b`` to routing key ``a.*.b`` on amq.topic and
    keeps a topic's own ``.``: an evidence file name (``a1_clip.mp4``) is two key levels or
    more, so evidence is bound with ``#`` (bench/RESULTS.md, "Broker choice (issue 16)")."""
    key = mqtt_filter.replace("/", ".").replace("+", "*")
    return (
        key.removesuffix(".evidence.*.*") + ".evidence.#" if key.endswith(".evidence.*.*") else key
    )


def test_cluster_compose_names_only_what_exists() -> None:
    assert compose_problems(CLUSTER / "compose.yaml") == []


def test_three_rabbitmq_nodes_that_list_each_other() -> None:
    services = load_compose(CLUSTER / "compose.yaml")["services"]
    rabbits = {n: s for n, s in services.items() if s["image"].startswith("rabbitmq:3.10")}
    assert len(rabbits) == 3
    conf = (CLUSTER / "rabbitmq.conf").read_text()
    nodes = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$", conf, re.M)
    assert sorted(nodes) == sorted(f"rabbit@{s['hostname']}" for s in rabbits.values())
    assert re.search(r"^mqtt\.durable_queue_type = quorum$", conf, re.M)
    assert "rabbitmq_mqtt" in (CLUSTER / "enabled_plugins").read_text()


def test_the_ingest_shards_are_filled_from_every_topic_the_edges_publish() -> None:
    definitions = json.loads((CLUSTER / "definitions.json").read_text())
    (exchange,) = definitions["exchanges"]
    assert exchange["type"] == "x-consistent-hash" and exchange["durable"]
    assert "rabbitmq_consistent_hash_exchange" in (CLUSTER / "enabled_plugins").read_text()
    keys = {b["routing_key"] for b in definitions["bindings"] if b["source"] == "amq.topic"}
    assert all(
        b["destination"] == exchange["name"] and b["destination_type"] == "exchange"
        for b in definitions["bindings"]
        if b["source"] == "amq.topic"
    )
    expected = {amqp_binding_key(t) for t in console_subscriptions()}
    assert keys == expected, "the contract's topics changed: bind definitions.json's exchange"
    shards = {
        b["destination"]: b["routing_key"]
        for b in definitions["bindings"]
        if b["source"] == exchange["name"]
    }
    assert shards == {q["name"]: "1" for q in definitions["queues"]}  # equal weights


def test_one_replica_at_a_time_consumes_each_shard_in_order() -> None:
    queues = json.loads((CLUSTER / "definitions.json").read_text())["queues"]
    fields = Settings.model_fields
    assert [q["name"] for q in queues] == shard_queues(
        str(fields["amqp_queue"].default), int(fields["amqp_shards"].default)
    )
    for queue in queues:
        assert queue["arguments"]["x-queue-type"] == "quorum" and queue["durable"]
        assert queue["arguments"]["x-single-active-consumer"] is True
        assert queue["arguments"]["x-quorum-initial-group-size"] == 3


@pytest.mark.parametrize(
    ("routing_key", "topic"),
    [
        ("sitewatch.north.alerts", "sitewatch/north/alerts"),
        (
            "sitewatch.north.cameras.gate.recordings.detect",
            "sitewatch/north/cameras/gate/recordings/detect",
        ),
        (
            "sitewatch.north.evidence.a1.a1_clip.mp4",  # the plugin keeps the name's own dot
            "sitewatch/north/evidence/a1/a1_clip.mp4",
        ),
        ("sitewatch.north.evidence.a1.clip", "sitewatch/north/evidence/a1/clip"),
        ("other.north.alerts", "other/north/alerts"),  # not ours: ingest refuses it
    ],
)
def test_a_routing_key_is_its_mqtt_topic_again(routing_key: str, topic: str) -> None:
    assert routing_key_to_topic(routing_key) == topic


def test_a_topic_prefix_with_levels_comes_back_whole() -> None:
    key = "acme.sw.north.evidence.a1.a1.still.jpg"
    assert routing_key_to_topic(key, "acme/sw") == "acme/sw/north/evidence/a1/a1.still.jpg"


def test_every_replica_consumes_from_every_node_over_amqp() -> None:
    services = load_compose(CLUSTER / "compose.yaml")["services"]
    rabbits = {n for n, s in services.items() if s["image"].startswith("rabbitmq:")}
    for name, service in sitewatch_services({"services": services}).items():
        if name == "migrate":
            continue
        env = service["environment"]
        urls = env["SITEWATCH_AMQP_URLS"].replace("${SITEWATCH_MQTT_PASSWORD}", "pw")
        settings = Settings(amqp_urls=urls)  # the environment's form: "a,b,c"
        hosts = {re.sub(r"^amqp://[^@]+@([^:/]+):5672/%2F$", r"\1", u) for u in settings.amqp_urls}
        assert hosts == rabbits, f"{name} consumes from {hosts}, expected every node {rabbits}"
        assert env["SITEWATCH_MQTT_HOST"] == "proxy", "commands to the edges go over MQTT"
    conf = (CLUSTER / "rabbitmq.conf").read_text()
    assert re.search(r"^listeners\.tcp\.default = 5672$", conf, re.M)


@pytest.mark.parametrize("urls", ["http://u:secret@rabbit1:5672/", "amqp://a/%2F,u:secret@b:5672"])
def test_amqp_urls_that_are_not_amqp_are_refused_without_showing_them(
    urls: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEWATCH_AMQP_URLS", urls)
    with pytest.raises(SettingsProblem) as caught:
        settings_from_env()
    [line] = [line for line in caught.value.lines if "AMQP_URLS" in line]
    assert line.startswith("SITEWATCH_AMQP_URLS=***: ") and "expected amqp://" in line, line
    assert "secret" not in line


def test_two_console_replicas_on_postgresql_after_one_migration() -> None:
    services = sitewatch_services(load_compose(CLUSTER / "compose.yaml"))
    commands = {name: parse_sitewatch(s["command"]).action for name, s in services.items()}
    replicas = [name for name, action in commands.items() if action == "run"]
    assert len(replicas) == 2 and list(commands.values()).count("migrate") == 1, commands
    ids = set()
    for name in replicas:
        env = services[name]["environment"]
        assert settings_problems(env) == []
        assert env["SITEWATCH_DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert services[name]["depends_on"]["migrate"]["condition"].endswith("successfully")
        ids.add(env["SITEWATCH_MQTT_CLIENT_ID"])
    assert len(ids) == 2, "each replica needs its own MQTT client id"


def test_the_proxy_names_only_services_of_the_compose_file() -> None:
    services = load_compose(CLUSTER / "compose.yaml")["services"]
    cfg = (CLUSTER / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s+server \S+ (\S+):(\d+)", cfg, re.M)
    assert {host for host, _ in servers} <= set(services)
    consoles = {h for h, port in servers if port == "8080"}
    assert consoles == {n for n in sitewatch_services({"services": services}) if n != "migrate"}
    assert re.search(r"^\s+timeout server 1h$", cfg, re.M), "the SSE feed outlives 60 s"


def test_haproxy_accepts_the_config(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if haproxy is None:
        pytest.skip("haproxy is not installed here (Debian's haproxy package)")
    pem = tmp_path / "site.pem"
    pem.write_bytes(_self_signed_pem())
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        (CLUSTER / "haproxy.cfg").read_text().replace("/usr/local/etc/haproxy/site.pem", str(pem))
    )
    done = subprocess.run(
        [haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60
    )
    warnings = [line for line in done.stderr.splitlines() if "[WARNING]" in line]
    # the services' names resolve only inside the compose network
    assert done.returncode == 0, done.stdout + done.stderr
    assert [w for w in warnings if "could not resolve address" not in w] == []


def _self_signed_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "sitewatch.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2025, 1, 1))
        .not_valid_after(datetime.datetime(2099, 1, 1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key_pem
