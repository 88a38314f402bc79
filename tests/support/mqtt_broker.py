"""Fixtures with a real mosquitto broker: started on a free port, stoppable and restartable.

Import the fixtures into a test module:

    from tests.support.mqtt_broker import Collector, broker_fixture  # noqa: F401

(``broker_fixture`` is the fixture "broker").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitewatch.edge.publish.transport import MqttTransport

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(
            "the MQTT tests need a real broker and mosquitto is not installed: run "
            "`apt-get install mosquitto` (`make system-deps` does it)",
            pytrace=False,
        )
    return found


class Mosquitto:
    """One mosquitto process on a fixed port; ``stop`` and ``start`` again keep the port.

    Anonymous by default; with ``password_file`` (and ``acl_file``) anonymous clients are
    refused and each client may do what the ACL grants its user name, as in production."""

    def __init__(
        self,
        folder: Path,
        *,
        persistence: bool = False,
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ) -> None:
        self.binary = _mosquitto_binary()
        self.folder = folder
        self.port = _free_port()
        self.log = folder / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} {HOST}"]
        if password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if acl_file is not None:
            lines.append(f"acl_file {acl_file}")
        if persistence:  # sessions and queued messages survive stop/start
            lines += ["persistence true", f"persistence_location {folder}/", "autosave_interval 0"]
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot write here
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        assert not self.running, "broker already running"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"mosquitto exited at start:\n{self.log.read_text()}", pytrace=False)
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"mosquitto did not listen on {self.port}:\n{self.log.read_text()}")

    def reload(self) -> None:
        """SIGHUP: mosquitto reads its password and ACL files again (as ``kill -HUP``)."""
        assert self._process is not None and self.running, "broker not running"
        self._process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def transport(self, **options: Any) -> MqttTransport:
        """A client of this broker with a fresh client id and a 1 s reconnect cap."""
        options.setdefault("client_id", f"test-{uuid.uuid4().hex[:12]}")
        options.setdefault("reconnect_max_s", 1)
        return MqttTransport(HOST, self.port, **options)


class Collector:
    """A subscription handler that keeps what arrives and lets a test wait for it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()

    def __call__(self, topic: str, payload: bytes) -> None:
        with self._changed:
            self.messages.append((topic, payload))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
        """At least ``count`` messages, or the test fails saying what did arrive."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout_s):
                pytest.fail(f"expected {count} message(s) in {timeout_s} s, got {self.messages}")
            return list(self.messages)

    def payloads(self) -> list[bytes]:
        with self._changed:
            return [payload for _, payload in self.messages]

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()


def until_received(
    collector: Collector, publisher: MqttTransport, topic: str, timeout_s: float = 10.0
) -> None:
    """Publish probes to ``topic`` until one arrives: the subscription is live at the broker."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publisher.publish(topic, b"probe", qos=1).wait(1.0)
        with collector._changed:
            if collector._changed.wait_for(lambda: b"probe" in collector.payloads(), 0.2):
                collector.messages.clear()
                return
    pytest.fail(f"no probe came back on {topic} in {timeout_s} s: the subscription is not live")


@pytest.fixture(name="broker")
def broker_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running mosquitto without persistence (a restart forgets sessions and subscriptions)."""
    server = Mosquitto(tmp_path / "mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="persistent_broker")
def persistent_broker_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running mosquitto that keeps persistent sessions and their queues over stop/start."""
    server = Mosquitto(tmp_path / "mosquitto-persistent", persistence=True)
    server.start()
    yield server
    server.stop()
