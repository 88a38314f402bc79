"""A real haproxy in TCP mode on loopback, spreading connections over a few backends the way
deploy/cluster/haproxy.cfg spreads the edges' MQTT over the RabbitMQ nodes (``leastconn``).

    from tests.support.haproxy import TcpFront, tcp_front

    with tcp_front(tmp_path / "haproxy", cluster.mqtt_ports()) as front:
        MqttTransport("127.0.0.1", front.port, client_id="edge-north")

API: :class:`TcpFront` ``(folder, ports)``: ``port`` (where clients connect), ``start()``,
``stop()``, ``running``; :func:`tcp_front` ``(folder, ports)``: a context manager, the started
front. Each backend is checked every 0.5 s and left out after one failed check; a connection
that finds its backend dead is sent to another (``option redispatch``), so a client of a killed
node is back on a live one at its next reconnect. haproxy runs as we are (no ``user`` line).
Without haproxy the caller is skipped, naming Debian's package.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.rabbitmq import HOST, free_port, listening

START_S = 10.0


def _binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("haproxy is not installed: install Debian's 'haproxy' package")
    return found


class TcpFront:
    """haproxy on a free port of 127.0.0.1 in front of ``ports`` (on 127.0.0.1)."""

    def __init__(self, folder: Path, ports: Sequence[int], name: str = "mqtt") -> None:
        if not ports:
            raise ValueError("expected at least one backend port, got none")
        self.binary = _binary()
        self.folder = folder
        self.port = free_port()
        self.log = folder / "haproxy.log"
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(
            f"    server {name}{i} {HOST}:{port} check inter 500ms fall 1 rise 1"
            for i, port in enumerate(ports, 1)
        )
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            f"""global
    maxconn 2000

defaults
    mode tcp
    timeout connect 2s
    timeout client 90s
    timeout server 90s
    retries 3
    option redispatch

frontend {name}
    bind {HOST}:{self.port}
    default_backend {name}-nodes

backend {name}-nodes
    balance leastconn
{servers}
"""
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start haproxy (foreground, ``-db``) and wait until it listens."""
        assert not self.running, "haproxy already running"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_S
        while not listening(self.port):
            if not self.running or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"haproxy did not listen on {self.port} in {START_S:.0f} s:\n"
                    f"{self.log.read_text()}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop haproxy (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def tcp_front(folder: Path, ports: Sequence[int], name: str = "mqtt") -> Iterator[TcpFront]:
    """A started :class:`TcpFront`, stopped on exit."""
    front = TcpFront(folder, ports, name)
    front.start()
    try:
        yield front
    finally:
        front.stop()
