"""Fixtures for the browser tests: the console served by uvicorn on a free port (a real SQLite
file, MQTT ingest from a real mosquitto), headless Chromium through playwright, and an edge
stand-in that publishes exactly as the edge does (evidence files first, then the alert).

    from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, served, mqtt)
        Served, SiteEdge, browser_fixture, mqtt_fixture, served_fixture,
    )

The served console, the broker and the browser live for a whole test module (starting them
takes seconds); every test uses its own site ids and users, so tests do not see each other.

The console's pages run under a strict CSP without ``unsafe-eval``: give ``wait_for_function``
an arrow function (``"() => ..."``, evaluated once), never a bare expression, which playwright
evaluates again with ``eval`` at every poll and the CSP refuses.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from sitewatch.console.app import create_app
from sitewatch.console.domain.users import create_user
from sitewatch.console.settings import Settings
from sitewatch.console.state import AppState
from sitewatch.contract import messages as m
from sitewatch.edge.publish.transport import MqttTransport
from tests.support.console_support import clip_bytes
from tests.support.mqtt_broker import HOST, Collector, Mosquitto

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
PASSWORD = "correct-horse-battery"
PREFIX = "sitewatch"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """The console running in uvicorn on ``url``."""

    url: str
    settings: Settings
    state: AppState

    def add_user(self, username: str, role: str, sites: list[str], language: str = "en") -> None:
        with self.state.db.session() as s:
            create_user(s, username, PASSWORD, role, sites, language)

    def api(self, username: str) -> httpx.Client:
        """An HTTP client logged in as ``username`` (sends the ``X-CSRF-Token`` header)."""
        client = httpx.Client(base_url=self.url, timeout=10.0)
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = "console"
        return client

    def get_json(self, client: httpx.Client, path: str) -> Any:
        """GET ``path`` until it answers 200 (a fresh login's session may lag its answer)."""
        deadline = time.monotonic() + 10
        while True:
            r = client.get(path)
            if r.status_code == 200 or time.monotonic() > deadline:
                assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
                return r.json()
            time.sleep(0.05)


class _Uvicorn(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread: leave signals alone
        pass


@pytest.fixture(name="mqtt", scope="module")
def mqtt_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto for the whole module."""
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="served", scope="module")
def served_fixture(tmp_path_factory: pytest.TempPathFactory, mqtt: Mosquitto) -> Iterator[Served]:
    """The console app in uvicorn (background thread) with ingest subscribed to ``mqtt``."""
    folder = tmp_path_factory.mktemp("console")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'console.db'}",
        evidence_dir=folder / "evidence",
        signing_key_file=folder / "console.key",
        mqtt_host=HOST,
        mqtt_port=mqtt.port,
        mqtt_client_id=f"console-{uuid.uuid4().hex[:8]}",
        topic_prefix=PREFIX,
    )
    app = create_app(settings)
    port = _free_port()
    server = _Uvicorn(
        uvicorn.Config(app, host=HOST, port=port, log_level="warning", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console did not start in uvicorn within 30 s (see the log above)")
        time.sleep(0.05)
    state: AppState = app.state.sitewatch
    ingest: Any = state.ingest
    assert ingest is not None, "the console started without MQTT ingest"
    assert ingest.wait_ready(20.0), "console ingest did not subscribe to the broker in 20 s"
    yield Served(f"http://{HOST}:{port}", settings, state)
    server.should_exit = True
    thread.join(20)


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Any]:
    """Headless Debian Chromium driven by playwright (skips only if Chromium is missing)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (`make system-deps`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(context: Any) -> tuple[Any, list[str]]:
    """A new page and the list its uncaught script errors and console errors go to (an HTTP
    error status the page handles, such as 401 before login, is not one)."""
    page = context.new_page()
    errors: list[str] = []

    def console(msg: Any) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console error: {msg.text}")

    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", console)
    return page, errors


def login(page: Any, url: str, username: str) -> None:
    """Open the console and sign in; returns once the shell and the live stream are up."""
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1'] #username")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    try:
        page.wait_for_selector("header.top", timeout=15_000)
    except Exception:
        said = page.locator("#login-error")
        error = said.inner_text() if said.count() else ""
        pytest.fail(f"login as {username} did not open the console; the page says {error!r}")
    page.wait_for_selector("body[data-live=open]")


def h264_clip(folder: Path, seconds: int = 4) -> bytes:
    """A real H.264 MP4 (faststart) made by ffmpeg from its test pattern."""
    return clip_bytes(folder, seconds)


def jpeg(folder: Path, name: str = "snap.jpg") -> bytes:
    """A real JPEG (ffmpeg's test pattern, 640x360)."""
    out = folder / name
    if not out.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             "testsrc=size=640x360:rate=1", "-frames:v", "1", str(out)],
            check=True, timeout=60,
        )  # fmt: skip
    return out.read_bytes()


@dataclass
class SiteEdge:
    """Publishes for one site as its edge would: retained status/config/snapshot, evidence
    files before the alert that lists them, config results."""

    broker: Mosquitto
    site: str
    version: str = "7"
    transport: MqttTransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = self.broker.transport()
        assert self.transport.wait_connected(10.0), "edge stand-in could not connect"

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self.transport.publish(topic, payload, qos=1, retain=retain).wait(10.0), topic

    def online(
        self,
        cameras: dict[str, str],
        snapshot: bytes,
        zones: list[m.ZoneSpec],
        warnings: Sequence[m.EdgeWarning] = (),
    ) -> None:
        """Retained status of the edge and its cameras, each carrying ``warnings``."""
        now = datetime.now(UTC)
        self.send(
            m.edge_status(PREFIX, self.site),
            m.encode(
                m.EdgeStatus(
                    site_id=self.site, state="online", software_version="0.4.0",
                    config_version=self.version, started_at=now, cameras=len(cameras), at=now,
                    warnings=list(warnings),
                )
            ),
            retain=True,
        )  # fmt: skip
        for camera, name in cameras.items():
            self.send(m.camera_snapshot(PREFIX, self.site, camera), snapshot, retain=True)
            self.camera_config(camera, name, zones)
            self.send(
                m.camera_status(PREFIX, self.site, camera),
                m.encode(
                    m.CameraStatus(
                        site_id=self.site, camera_id=camera, state="online", fps_in=10.0,
                        fps_analysed=5.0, frames_dropped=0, reconnects=0, last_frame_at=now,
                        at=now, warnings=list(warnings),
                    )
                ),
                retain=True,
            )  # fmt: skip

    def camera_config(self, camera: str, name: str, zones: list[m.ZoneSpec]) -> None:
        rules: dict[str, dict[str, Any]] = {
            "no_helmet": {"enabled": True, "min_score": 0.4, "dwell_s": 2.0, "cooldown_s": 60.0},
            "smoking": {"enabled": True, "min_score": 0.5, "dwell_s": 3.0, "cooldown_s": 60.0},
        }
        msg = m.CameraConfig(
            site_id=self.site, camera_id=camera, name=name, version=self.version, zones=zones,
            rules=rules, at=datetime.now(UTC),
        )  # fmt: skip
        self.send(m.camera_config(PREFIX, self.site, camera), m.encode(msg), retain=True)

    def evidence(self, alert_id: uuid.UUID, files: dict[str, tuple[str, bytes]]) -> list[Any]:
        """Publish the files (name -> (kind, bytes)) and return their EvidenceFile entries."""
        listed = []
        for name, (kind, data) in files.items():
            self.send(m.evidence(PREFIX, self.site, str(alert_id), name), data)
            listed.append(
                m.EvidenceFile(
                    kind=kind,
                    name=name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    content_type="video/mp4" if kind == "clip" else "image/jpeg",
                    duration_s=4.0 if kind == "clip" else None,
                )
            )
        return listed

    def alert_start(
        self, alert_id: uuid.UUID, camera: str, evidence: list[Any], started: datetime
    ) -> m.AlertEvent:
        return m.AlertEvent(
            id=alert_id, seq=0, event="start", site_id=self.site, camera_id=camera,
            rule="no_helmet", track_id=3, zone_id="floor", label="head", score=0.91,
            box=(0.4, 0.2, 0.5, 0.35), started_at=started,
            last_seen_at=started + timedelta(seconds=2), sent_at=started + timedelta(seconds=2),
            evidence=evidence, config_version=self.version,
        )  # fmt: skip

    def publish_alert(self, msg: m.AlertEvent) -> None:
        self.send(m.alerts(PREFIX, self.site), m.encode(msg))

    def config_result(self, request_id: str, status: str, version: str, reason: str | None) -> None:
        msg = m.ConfigResult(
            request_id=uuid.UUID(request_id), site_id=self.site, status=status,
            version=version, reason=reason, at=datetime.now(UTC),
        )  # fmt: skip
        self.send(m.config_result(PREFIX, self.site), m.encode(msg))

    def listen_commands(self) -> Collector:
        """Config commands the console sends to this site (subscription live on return)."""
        collector = Collector()
        self.transport.subscribe(m.config_command(PREFIX, self.site), collector)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the broker has the subscription
            self.transport.publish(m.config_command(PREFIX, self.site), b"probe", qos=1).wait(2)
            if b"probe" in collector.payloads():
                collector.clear()
                return collector
            time.sleep(0.05)
        pytest.fail(f"the subscription to {m.config_command(PREFIX, self.site)} did not start")

    def close(self) -> None:
        self.transport.close()


class CuttableProxy:
    """A TCP relay in front of the console that can cut every open connection and refuse new
    ones: a real network fault for the page (browsers keep an open stream through their own
    offline emulation)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}"
        self.cut_off = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            upstream = socket.create_connection((HOST, self.upstream_port))
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._open.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        self.cut_off = True
        with self._lock:
            victims = list(self._open)
        for sock in victims:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


def wait_until(what: str, check: Any, timeout_s: float = 20.0) -> Any:
    """Poll ``check()`` until it returns something truthy; fail saying ``what`` never came."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)
