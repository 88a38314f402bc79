"""Playback and range exports (issue 15) through the real console on uvicorn, a real
mosquitto, a real SQLite file and a real MP4 (cut by ffmpeg from ../shared/clips).

The test plays the site's edge, with an Ed25519 key registered for the site: it publishes a
signed RecordingIndex and a signed alert over MQTT, receives the console's VideoCommands on
its topic (checking the console's signature) and answers each with a signed upload to the
command's ``upload_url``, as docs/design/live-video.md says an edge does. Two viewers of one
window cost one command; a window the edge has deleted since its index answers 404
``video.not_recorded``; an export's file hashes to its listed SHA-256, is audited, and goes
into the alert's police package, which ``sitewatch verify`` passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.domain.security import hash_password
from sitewatch.console.domain.verify_package import verify_package
from sitewatch.console.settings import Settings
from sitewatch.console.state import AppState
from sitewatch.console.store.models import AuditEntry, BrokerAccount, User
from sitewatch.contract import messages as m
from sitewatch.contract.signing import (
    parse_public_key,
    public_key_text,
    sign,
    sign_bytes,
    verify,
    video_upload_text,
)
from tests.support.console_support import PASSWORD
from tests.support.ingest_support import alert
from tests.support.mqtt_broker import HOST, Mosquitto, broker_fixture  # noqa: F401

PREFIX = "sitewatch"
SITE, CAMERA = "north", "gate"
CLIPS = Path(__file__).resolve().parents[3] / "shared" / "clips"
NOW = float(int(time.time()))
ALERT_AT = (NOW - 600) // 60 * 60 + 20  # 20 s into a playback window, ten minutes ago
RECORDED = (NOW - 3600, NOW - 30)  # what the edge's index says it holds


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Six seconds of a real site clip as an edge's range cut would be (H.264, faststart)."""
    out = tmp_path_factory.mktemp("clip") / "range.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
         str(CLIPS / "factory_floor_cctv.mp4"), "-t", "6", "-an", "-vf", "scale=320:-2",
         "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    return out.read_bytes()


@dataclass
class FakeEdge:
    """The site's edge as the console sees it: MQTT in and out, signed uploads over HTTP."""

    broker: Mosquitto
    key: Ed25519PrivateKey
    console_key: str  # base64 public key the commands must verify with
    body: bytes
    deleted: set[float] = field(default_factory=set)  # window starts answered not_recorded
    commands: list[m.VideoCommand] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.transport = self.broker.transport()
        assert self.transport.wait_connected(10.0)
        self.probed = threading.Event()
        topic = m.video_command(PREFIX, SITE)
        self.transport.subscribe(topic, self._command)
        for _ in range(50):  # until the subscription is live at the broker
            self.transport.publish(topic, b"probe", qos=1).wait(1.0)
            if self.probed.wait(0.2):
                break
        assert self.probed.is_set(), f"the subscription to {topic} did not start"

    def publish(self, msg: m.Message, topic: str, retain: bool = False) -> None:
        payload = m.encode(sign(msg, self.key))
        assert self.transport.publish(topic, payload, qos=1, retain=retain).wait(10.0)

    def _command(self, topic: str, payload: bytes) -> None:
        if payload == b"probe":
            self.probed.set()
            return
        command = m.decode(payload, m.VideoCommand)
        assert verify(command, parse_public_key(self.console_key)), "unsigned command"
        self.commands.append(command)
        threading.Thread(target=self._answer, args=(command,), daemon=True).start()

    def _answer(self, command: m.VideoCommand) -> None:
        assert command.action == "range" and command.start and command.end
        start = command.start.timestamp()
        if start in self.deleted:
            body = json.dumps({"code": "not_recorded", "detail": "segment deleted"}).encode()
            self.answers.append(self.upload(command, "error", body, time.time(), None))
        else:
            self.answers.append(self.upload(command, "range", self.body, start + 0.2, start + 6))

    def upload(
        self, command: m.VideoCommand, part: Any, body: bytes, at: float, end: float | None
    ) -> int:
        sent = time.time()
        text = video_upload_text(SITE, str(command.request_id), part, 0, at, end, sent, body)
        headers = {
            "X-SiteWatch-Site": SITE,
            "X-SiteWatch-Part": part,
            "X-SiteWatch-Seq": "0",
            "X-SiteWatch-Time": repr(at),
            "X-SiteWatch-Sent": repr(sent),
            "X-SiteWatch-Signature": sign_bytes(text, self.key),
            "Content-Type": "application/json" if part == "error" else "video/mp4",
        }
        if end is not None:
            headers["X-SiteWatch-End"] = repr(end)
        return httpx.post(command.upload_url, content=body, headers=headers, timeout=30).status_code

    def close(self) -> None:
        self.transport.close()


class _Uvicorn(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@dataclass
class Served:
    url: str
    state: AppState

    def client(self, username: str) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=30.0)
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = "console"
        return c

    def add_users(self, *users: tuple[str, str, list[str]]) -> None:
        """``(username, role, sites)`` users with :data:`PASSWORD`."""
        with self.state.db.session() as s:
            for username, role, sites in users:
                s.add(User(username=username, password_hash=hash_password(PASSWORD), role=role,
                           language="en", sites=sites, active=True))  # fmt: skip

    def rows(self, model: Any, *where: Any) -> list[Any]:
        with self.state.db.session() as s:
            return list(s.scalars(select(model).where(*where)))


@contextmanager
def serve(tmp_path: Path, broker: Mosquitto, **extra: Any) -> Iterator[Served]:
    """The console app in uvicorn (a background thread), ingest subscribed to ``broker``."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    url = f"http://{HOST}:{port}"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'console.db'}", evidence_dir=tmp_path / "evidence",
        video_dir=tmp_path / "video", signing_key_file=tmp_path / "console.key", edge_url=url,
        mqtt_host=HOST, mqtt_port=broker.port, mqtt_client_id=f"console-{uuid.uuid4().hex[:8]}",
        topic_prefix=PREFIX, notify_poll_s=0, **extra,
    )  # fmt: skip
    app = create_app(settings)
    server = _Uvicorn(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    state: AppState = app.state.sitewatch
    assert state.ingest is not None and state.ingest.wait_ready(20.0)  # type: ignore[attr-defined]
    try:
        yield Served(url, state)
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def served(tmp_path: Path, broker: Mosquitto) -> Iterator[Served]:
    with serve(tmp_path, broker) as console:
        yield console


def _register(served: Served, key: Ed25519PrivateKey) -> None:
    """Register the site's edge key, as 'sitewatch server add-edge' does (password unused)."""
    with served.state.db.session() as s:
        account = BrokerAccount(
            username=f"edge-{SITE}",
            role="edge",
            site_id=SITE,
            password_hash="$7$unused",
            public_key=public_key_text(key),
        )
        s.add(account)  # fmt: skip


def _edge(served: Served, broker: Mosquitto, body: bytes) -> FakeEdge:
    """A registered edge for the site, connected and listening for video commands."""
    key = Ed25519PrivateKey.generate()
    _register(served, key)
    assert served.state.signing_key is not None
    return FakeEdge(broker, key, public_key_text(served.state.signing_key), body)


def _timeline(client: httpx.Client) -> Any:
    """The camera's timeline of the last two hours."""
    return client.get(f"/api/video/timeline/{SITE}/{CAMERA}?from={NOW - 7200}&to={NOW}").json()


def _until(what: str, check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout_s} s")


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _index_and_alert(edge: FakeEdge, served: Served) -> str:
    """Publish the camera's index (retained) and one alert, signed; returns the alert id."""
    index = m.RecordingIndex(
        site_id=SITE, camera_id=CAMERA, stream="detect", size_bytes=123_456_789, keep_s=604800.0,
        spans=[m.RecordedSpan(start=utc(RECORDED[0]), end=utc(RECORDED[1]))], at=utc(NOW),
    )  # fmt: skip
    edge.publish(index, m.recording_index(PREFIX, SITE, CAMERA, "detect"), retain=True)
    aid = uuid.uuid4()
    t0 = utc(ALERT_AT)
    for msg in (
        alert(aid, 0, started_at=t0, last_seen_at=t0, sent_at=t0, zone_id="floor"),
        alert(aid, 1, end=True, started_at=t0, last_seen_at=t0 + timedelta(seconds=5),
              ended_at=t0 + timedelta(seconds=5), sent_at=t0 + timedelta(seconds=5)),
    ):  # fmt: skip
        edge.publish(msg, m.alerts(PREFIX, SITE))
    return str(aid)


def test_playback_export_and_police_package(
    served: Served, broker: Mosquitto, mp4: bytes, tmp_path: Path
) -> None:
    served.add_users(("ana", "manager", [SITE]), ("olga", "operator", [SITE]),
                     ("bob", "manager", ["south"]))  # fmt: skip
    edge = _edge(served, broker, mp4)
    try:
        alert_id = _index_and_alert(edge, served)
        ana, olga, bob = served.client("ana"), served.client("olga"), served.client("bob")
        where = f"{SITE}/{CAMERA}?from={NOW - 7200}&to={NOW}"

        # the index and the alert came over MQTT: the timeline shows them, clipped to the range
        line = _until(
            "the timeline shows the index and the alert",
            lambda: (r := ana.get(f"/api/video/timeline/{where}").json())["alerts"] and r,
        )
        assert line["spans"] == [{"start": RECORDED[0], "end": RECORDED[1]}]
        assert [a["id"] for a in line["alerts"]] == [alert_id]
        assert line["keep_s"] == 604800.0 and line["index_at"] == pytest.approx(NOW)
        clipped = ana.get(f"/api/video/timeline/{SITE}/{CAMERA}?from={NOW - 600}&to={NOW - 500}")
        assert clipped.json()["spans"] == [{"start": NOW - 600, "end": NOW - 500}]
        hidden = bob.get(f"/api/video/timeline/{where}")
        assert (hidden.status_code, hidden.json()["code"]) == (404, "scope.no_site")

        # two viewers of one window at once: one command, one upload, the same cached file
        play = f"/api/video/playback/{SITE}/{CAMERA}?at={ALERT_AT}"
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(lambda c: c.get(play), (ana, olga))
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        assert first.json() == second.json()
        window = first.json()
        assert (window["window_start"], window["window_end"]) == (ALERT_AT - 20, ALERT_AT + 40)
        assert window["start"] == pytest.approx(ALERT_AT - 19.8)
        _until("the edge's upload answered", lambda: edge.answers)
        assert len(edge.commands) == 1 and edge.answers == [204]
        command = edge.commands[0]
        assert command.start and command.start.timestamp() == ALERT_AT - 20
        assert command.issued_by in ("ana", "olga") and command.camera_id == CAMERA
        again = ana.get(play)
        assert again.json() == window and len(edge.commands) == 1  # from the cache
        whole = ana.get(window["url"])
        assert whole.status_code == 200 and whole.content == mp4
        part = ana.get(window["url"], headers={"Range": "bytes=0-99"})
        assert (part.status_code, part.content) == (206, mp4[:100])
        assert bob.get(window["url"]).status_code == 404

        # a window deleted since the index: the edge says so, the viewer gets 404 and the code
        gone = ALERT_AT - 20 - 120
        edge.deleted.add(gone)
        lost = ana.get(f"/api/video/playback/{SITE}/{CAMERA}?at={gone + 1}")
        assert (lost.status_code, lost.json()["code"]) == (404, "video.not_recorded"), lost.text
        assert len(edge.commands) == 2
        # a time the index does not hold is refused without asking the edge
        before = ana.get(f"/api/video/playback/{SITE}/{CAMERA}?at={RECORDED[0] - 600}")
        assert (before.status_code, before.json()["code"]) == (404, "video.not_recorded")
        assert len(edge.commands) == 2

        # an export from the alert: ready with the SHA-256 of the very bytes the edge sent
        body = {"site_id": SITE, "camera_id": CAMERA, "start": ALERT_AT - 10,
                "end": ALERT_AT + 20, "alert_id": alert_id}  # fmt: skip
        assert olga.post("/api/video/exports", json=body).status_code == 403
        made = ana.post("/api/video/exports", json=body)
        assert made.status_code == 202 and made.json()["state"] == "pending", made.text
        export_id = made.json()["id"]
        ready = _until(
            "the export is ready",
            lambda: (
                (r := ana.get(f"/api/video/exports/{export_id}").json())["state"] != "pending" and r
            ),
        )
        assert ready["state"] == "ready", ready
        assert ready["sha256"] == hashlib.sha256(mp4).hexdigest()
        assert ready["size_bytes"] == len(mp4) and ready["alert_id"] == alert_id
        got = ana.get(ready["url"])
        assert hashlib.sha256(got.content).hexdigest() == ready["sha256"]
        listed = ana.get(f"/api/video/exports?alert_id={alert_id}").json()
        assert [e["id"] for e in listed] == [export_id]
        assert bob.get("/api/video/exports").json() == []  # another site's user sees none
        other = bob.get(f"/api/video/exports/{export_id}")
        assert (other.status_code, other.json()["code"]) == (404, "video.export_not_found")

        # the audit trail: one playback row per user and camera, the export, the download
        rows = served.rows(AuditEntry, AuditEntry.action.in_(["video.playback", "video.export",
                                                              "download"]))  # fmt: skip
        seen = sorted((r.username, r.action, r.object_type) for r in rows)
        assert seen == [
            ("ana", "download", "alert"),
            ("ana", "video.export", "alert"),
            ("ana", "video.playback", "camera"),
            ("olga", "video.playback", "camera"),
        ]

        # the alert's police package carries the export, and its verifier passes
        police = ana.get(f"/api/alerts/{alert_id}/export")
        assert police.status_code == 200, police.text
        with zipfile.ZipFile(io.BytesIO(police.content)) as zf:
            names = zf.namelist()
            root = names[0].split("/")[0]
            manifest = json.loads(zf.read(f"{root}/manifest.json"))
            assert zf.read(f"{root}/video/{export_id}.mp4") == mp4
        entry = next(f for f in manifest["files"] if f["kind"] == "video_export")
        assert entry["sha256"] == ready["sha256"] and entry["camera_id"] == CAMERA
        package = tmp_path / "package.zip"
        package.write_bytes(police.content)
        report = verify_package(package)
        assert report.count("FAILED") == 0 and report.count("UNSIGNED") == 0, report.text()
        assert any("video video/" in text for status, text in report.lines if status == "OK")
    finally:
        edge.close()


def test_an_export_left_pending_by_a_console_that_stopped_shows_failed(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """An export asked for while the edge does not answer, then the console stops: the next
    console (same database) shows it failed, with the reason, instead of pending for ever."""
    key = Ed25519PrivateKey.generate()
    with serve(tmp_path, broker) as first:
        first.add_users(("ana", "manager", [SITE]))
        _register(first, key)
        edge = broker.transport()
        try:
            assert edge.wait_connected(10.0)
            index = m.RecordingIndex(
                site_id=SITE, camera_id=CAMERA, stream="detect", size_bytes=1, keep_s=3600.0,
                spans=[m.RecordedSpan(start=utc(RECORDED[0]), end=utc(RECORDED[1]))], at=utc(NOW),
            )  # fmt: skip
            topic = m.recording_index(PREFIX, SITE, CAMERA, "detect")
            assert edge.publish(topic, m.encode(sign(index, key)), qos=1).wait(10.0)
        finally:
            edge.close()
        ana = first.client("ana")
        _until("the index is stored", lambda: _timeline(ana)["spans"])
        body = {"site_id": SITE, "camera_id": CAMERA, "start": NOW - 600, "end": NOW - 540}
        made = ana.post("/api/video/exports", json=body)
        assert made.status_code == 202, made.text
        export_id = made.json()["id"]
        assert ana.get(f"/api/video/exports/{export_id}").json()["state"] == "pending"
    with serve(tmp_path, broker) as second:
        got = second.client("ana").get(f"/api/video/exports/{export_id}").json()
    assert got["state"] == "failed" and "console stopped" in got["error"], got


def test_the_cache_keeps_to_its_budget_and_outlives_the_edge(
    tmp_path: Path, broker: Mosquitto, mp4: bytes
) -> None:
    """With room for one window (video_cache_gb), a second window pushes the first out, and
    asking for the first again sends the edge a new command. With the edge offline, a window
    not cached is refused at once (503), a cached one still plays."""
    with serve(tmp_path, broker, video_cache_gb=len(mp4) * 1.5 / 1e9) as served:
        served.add_users(("ana", "manager", [SITE]))
        edge = _edge(served, broker, mp4)
        try:
            _index_and_alert(edge, served)
            ana = served.client("ana")
            _until(
                "the index is stored",
                lambda: ana.get(
                    f"/api/video/timeline/{SITE}/{CAMERA}?from={NOW - 7200}&to={NOW}"
                ).json()["spans"],
            )
            play = f"/api/video/playback/{SITE}/{CAMERA}?at="
            first = ana.get(play + str(ALERT_AT)).json()
            second = ana.get(play + str(ALERT_AT + 60)).json()
            assert ana.get(second["url"]).content == mp4
            gone = ana.get(first["url"])
            assert (gone.status_code, gone.json()["code"]) == (404, "video.cache_gone")
            assert len(list((tmp_path / "video" / "cache").glob("*.mp4"))) == 1
            assert ana.get(play + str(ALERT_AT)).status_code == 200
            assert len(edge.commands) == 3

            # the edge goes offline (its will): a window not cached is refused at once
            offline = m.EdgeStatus(
                site_id=SITE, state="offline", software_version="1", config_version="1",
                started_at=utc(NOW - 86400), cameras=1, at=datetime.now(UTC),
            )  # fmt: skip
            edge.publish(offline, m.edge_status(PREFIX, SITE), retain=True)
            _until("the edge is offline", lambda: _timeline(ana)["edge"]["state"] == "offline")
            refused = ana.get(play + str(ALERT_AT + 120))
            assert (refused.status_code, refused.json()["code"]) == (503, "video.edge_offline")
            assert ana.get(play + str(ALERT_AT)).status_code == 200  # cached: still served
            assert len(edge.commands) == 3
        finally:
            edge.close()
