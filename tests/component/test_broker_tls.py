"""The README's broker configuration, as written there, on a real mosquitto: TLS on two
listeners, client certificates required of the edges (8883), the console on its own TLS
listener (8884) with its CA only; passwords and the per-site ACL that add-edge wrote apply on
both. Certificates are made here with ``cryptography`` (a CA, the broker's, an edge's)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sitewatch.cli import main as sitewatch
from sitewatch.contract import messages as m
from sitewatch.edge.publish.transport import MqttTransport, Tls
from tests.support.mqtt_broker import HOST, Collector, Mosquitto, _free_port, until_received

REPO = Path(__file__).resolve().parents[2]
PREFIX = "sitewatch"
CONSOLE = ("sitewatch-console", "a long console password for the broker")


def readme_broker_config() -> str:
    """The mosquitto.conf block of the README's deployment section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Deployment") :]
    found = re.search(r"```\n(per_listener_settings.*?)```", section, re.S)
    assert found, "the README's deployment section has no mosquitto.conf block"
    return found[1]


def _cert(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0] if issuer[0] else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if name == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), False)
    return builder.sign(issuer[1], hashes.SHA256())


def make_certs(folder: Path) -> dict[str, Path]:
    """ca.pem, broker.pem/.key and edge-cert.pem/.key in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ca", ca_key, (x509.Name([]), ca_key))
    ca_name = ca.subject
    files = {"ca": folder / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name in ("broker", "edge-cert"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, key, (ca_name, ca_key))
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{name}-key"] = folder / f"{name}.key"
        files[f"{name}-key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


@pytest.fixture(name="tls_broker")
def tls_broker_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Mosquitto, int, dict[str, Path]]]:
    """mosquitto on the README's config: its files, ports and certificates made here."""
    for name, value in {
        "SITEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        "SITEWATCH_SIGNING_KEY_FILE": str(tmp_path / "console.key"),
        "SITEWATCH_BROKER_PASSWORD_FILE": str(tmp_path / "broker" / "passwd"),
        "SITEWATCH_BROKER_ACL_FILE": str(tmp_path / "broker" / "acl"),
        "SITEWATCH_MQTT_USERNAME": CONSOLE[0],
        "SITEWATCH_MQTT_PASSWORD": CONSOLE[1],
    }.items():
        monkeypatch.setenv(name, value)
    assert sitewatch(["server", "add-edge", "north", "--out", str(tmp_path / "edge")]) == 0
    certs = make_certs(tmp_path / "certs")
    broker = Mosquitto(tmp_path / "mosquitto")  # its own config is replaced by the README's
    console_port = _free_port()
    config = readme_broker_config()
    for old, new in {
        "/srv/sitewatch/data/broker/": f"{tmp_path / 'broker'}/",
        "/etc/mosquitto/certs/ca.pem": str(certs["ca"]),
        "/etc/mosquitto/certs/broker.pem": str(certs["broker"]),
        "/etc/mosquitto/certs/broker.key": str(certs["broker-key"]),
        "listener 8883": f"listener {broker.port} {HOST}",
        "listener 8884": f"listener {console_port} {HOST}",
    }.items():
        assert old in config, f"the README's broker config has no {old!r}"
        config = config.replace(old, new)
    lines = broker.config.read_text().splitlines()
    root = [line for line in lines if line.startswith("user ")]  # running as root here
    broker.config.write_text(config + "\n".join(root) + "\n")
    broker.start()
    yield broker, console_port, certs
    broker.stop()


def test_the_readme_broker_config_with_tls_and_identities(
    tls_broker: tuple[Mosquitto, int, dict[str, Path]], tmp_path: Path
) -> None:
    broker, console_port, certs = tls_broker
    env = dict(line.split("=", 1) for line in (tmp_path / "edge" / "edge.env").read_text().split())
    user, password = env["SITEWATCH_EDGE_MQTT_USERNAME"], env["SITEWATCH_EDGE_MQTT_PASSWORD"]
    edge_tls = Tls(
        ca_file=str(certs["ca"]),
        certfile=str(certs["edge-cert"]),
        keyfile=str(certs["edge-cert-key"]),
    )
    seen = Collector()
    # the console as the README sets it: its CA only, on its own listener
    console = MqttTransport(
        HOST,
        console_port,
        client_id="console",
        tls=Tls(ca_file=str(certs["ca"])),
        username=CONSOLE[0],
        password=CONSOLE[1],
        clean_session=True,
        subscriptions={f"{PREFIX}/#": seen},
    )
    edge = MqttTransport(
        HOST, broker.port, client_id="edge", tls=edge_tls, username=user, password=password
    )
    ca_only = Tls(ca_file=str(certs["ca"]))
    no_cert = MqttTransport(
        HOST, broker.port, client_id="no-cert", tls=ca_only, username=user, password=password
    )
    wrong = MqttTransport(HOST, broker.port, client_id="wrong", tls=edge_tls, username=user)
    try:
        assert console.wait_connected(10.0), broker.log.read_text()
        assert edge.wait_connected(10.0), broker.log.read_text()
        until_received(seen, edge, m.stats(PREFIX, "north"))
        assert edge.publish(m.stats(PREFIX, "south"), b"forged", qos=1).wait(5.0)
        assert edge.publish(m.stats(PREFIX, "north"), b"genuine", qos=1).wait(5.0)
        assert seen.wait_for(1) == [(m.stats(PREFIX, "north"), b"genuine")]
        assert not no_cert.wait_connected(2.0), "8883 let in a client without a certificate"
        assert not wrong.wait_connected(0.5), "a certificate without the password was let in"
    finally:
        for client in (console, edge, no_cert, wrong):
            client.close()
