"""The console's live relay on a real uvicorn port, a real mosquitto and real SQLite: the test
stands in for the edge (it takes the signed ``live`` command from the broker and POSTs
signed fMP4 parts that ffmpeg made, with an Ed25519 key registered for the site) and for the
browsers (HTTP streams of /api/video/live). docs/design/live-video.md is the contract."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.app import create_app
from sitewatch.console.domain.security import hash_password
from sitewatch.console.settings import Settings
from sitewatch.console.state import AppState
from sitewatch.console.store.models import AuditEntry, BrokerAccount, Camera, Site, User
from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign_bytes, verify, video_upload_text
from tests.support.mqtt_broker import HOST, Collector, Mosquitto, broker_fixture  # noqa: F401

PASSWORD = "correct-horse-battery"
PREFIX = "sitewatch"
SITE, CAMERA = "north", "gate"


def _fmp4(folder: Path, name: str, *args: str) -> tuple[bytes, list[bytes]]:
    """The init part (ftyp+moov) and the media parts (moof+mdat) of an fMP4 from ffmpeg, cut
    at top-level boxes as the edge cuts its ffmpeg's stdout."""
    out = folder / f"{name}.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-movflags", "empty_moov+default_base_moof+frag_keyframe",
         "-f", "mp4", str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    data, pos, boxes = out.read_bytes(), 0, []
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append((data[pos + 4 : pos + 8], data[pos : pos + size]))
        pos += size
    init = b"".join(b for kind, b in boxes if kind in (b"ftyp", b"moov"))
    media = [
        moof + mdat
        for (k1, moof), (k2, mdat) in itertools.pairwise(boxes)
        if k1 == b"moof" and k2 == b"mdat"
    ]
    return init, media


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, list[bytes]]]:
    folder = tmp_path_factory.mktemp("clips")
    small = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "3", "-g", "10",
             "-profile:v", "high", "-level", "3.1"]  # fmt: skip
    # ~0.5 MB per fragment (constant 40 Mbit/s, a keyframe per frame): fills a slow viewer
    big = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10", "-t", "2", "-g", "1",
           "-preset", "ultrafast", "-b:v", "40M", "-minrate", "40M", "-maxrate", "40M",
           "-bufsize", "8M", "-x264-params", "nal-hrd=cbr"]  # fmt: skip
    return {"small": _fmp4(folder, "small", *small), "big": _fmp4(folder, "big", *big)}


class _Uvicorn(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@dataclass
class Rig:
    """The served console, the site's edge key and the edge's view of the broker."""

    url: str
    state: AppState
    edge_key: Ed25519PrivateKey
    commands: Collector
    sent: list[m.VideoCommand] = field(default_factory=list)

    def client(self, username: str) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=30.0)
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return c

    def command(self, index: int, timeout_s: float = 15.0) -> m.VideoCommand:
        """The ``index``-th video command the edge got, checked against the console's key."""
        payload = self.commands.wait_for(index + 1, timeout_s)[index][1]
        command = m.VideoCommand.model_validate_json(payload)
        assert self.state.signing_key is not None
        assert verify(command, self.state.signing_key.public_key()), "unsigned command"
        return command

    def upload(
        self, url: str, part: str, seq: int, body: bytes, *, site: str = SITE,
        key: Ed25519PrivateKey | None = None, sent: float | None = None, sign: bool = True,
    ) -> httpx.Response:  # fmt: skip
        """POST one part as the edge does (docs/design/live-video.md, "Uploads")."""
        request_id = url.rsplit("/", 1)[1]
        t, sent = time.time(), sent or time.time()
        headers = {"X-SiteWatch-Site": site, "X-SiteWatch-Part": part,
                   "X-SiteWatch-Seq": str(seq), "X-SiteWatch-Time": repr(t),
                   "X-SiteWatch-Sent": repr(sent), "Content-Type": "video/mp4"}  # fmt: skip
        if sign:
            text = video_upload_text(site, request_id, part, seq, t, None, sent, body)  # type: ignore[arg-type]
            headers["X-SiteWatch-Signature"] = sign_bytes(text, key or self.edge_key)
        return httpx.post(url, content=body, headers=headers, timeout=30.0)


@pytest.fixture
def rig(tmp_path: Path, broker: Mosquitto) -> Iterator[Rig]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
        evidence_dir=tmp_path / "evidence",
        video_dir=tmp_path / "video",
        signing_key_file=tmp_path / "console.key",
        mqtt_host=HOST,
        mqtt_port=broker.port,
        mqtt_client_id=f"console-{uuid.uuid4().hex[:8]}",
        topic_prefix=PREFIX,
        video_live_grace_s=1.0,
        video_viewer_buffer_bytes=1024 * 1024,
    )
    app = create_app(settings)
    port = _free_port()
    server = _Uvicorn(uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                                     timeout_graceful_shutdown=5))  # fmt: skip
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    state: AppState = app.state.sitewatch
    assert state.ingest is not None
    assert state.ingest.wait_ready(20.0), "ingest did not subscribe"  # type: ignore[attr-defined]
    edge_key = Ed25519PrivateKey.generate()
    _seed(state, edge_key)
    edge = broker.transport()
    assert edge.wait_connected(10.0)
    commands = Collector()
    topic = m.video_command(PREFIX, SITE)
    edge.subscribe(topic, commands)
    deadline = time.monotonic() + 10
    while b"probe" not in commands.payloads():  # the subscription is live at the broker
        assert time.monotonic() < deadline, f"no subscription to {topic}"
        edge.publish(topic, b"probe", qos=1).wait(2)
        time.sleep(0.05)
    commands.clear()
    yield Rig(f"http://{HOST}:{port}", state, edge_key, commands)
    edge.close()
    server.should_exit = True
    thread.join(20)
    assert not thread.is_alive(), "uvicorn did not stop: a live stream was left open"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _seed(state: AppState, edge_key: Ed25519PrivateKey) -> None:
    """The site (edge online) and its cameras, the edge's registered key, and the users:
    a manager of the site and an operator limited to camera ``yard``."""
    hashed = hash_password(PASSWORD)
    with state.db.session() as s:
        s.add(Site(id=SITE, name="North", edge_state="online"))
        key = public_key_text(edge_key)
        s.add(BrokerAccount(username=f"edge-{SITE}", role="edge", site_id=SITE,
                            password_hash="$7$unused", public_key=key))  # fmt: skip
        s.flush()
        for camera in (CAMERA, "yard"):
            s.add(Camera(site_id=SITE, camera_id=camera, name=camera.title(), state="online"))
        for username, role, cameras in (("li.wei", "manager", None),
                                        ("wang.fang", "operator", [f"{SITE}/yard"])):  # fmt: skip
            s.add(User(username=username, password_hash=hashed, role=role, language="en",
                       sites=[SITE], cameras=cameras, active=True))  # fmt: skip


class Watch:
    """A viewer's live stream read in a thread; ``got`` grows as bytes come."""

    def __init__(self, client: httpx.Client, path: str = f"/api/video/live/{SITE}/{CAMERA}"):
        self.client, self.path = client, path
        self.got = bytearray()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = threading.Event()
        self.socket: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.client.stream("GET", self.path) as r:
                self.status, self.headers = r.status_code, dict(r.headers)
                self.socket = r.extensions["network_stream"].get_extra_info("socket")
                for chunk in r.iter_raw():
                    self.got += chunk
        except httpx.HTTPError:
            pass  # closed by close()
        finally:
            self.ended.set()

    def wait_bytes(self, n: int, timeout_s: float = 15.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while len(self.got) < n:
            assert time.monotonic() < deadline, f"expected {n} bytes, got {len(self.got)}"
            assert not self.ended.is_set() or len(self.got) >= n, f"ended after {len(self.got)}"
            time.sleep(0.02)
        return bytes(self.got)

    def close(self) -> None:
        """Hang up as a closed browser tab does."""
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        self.client.close()


def _wait(what: str, check: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.05)
    return value


def test_two_viewers_share_one_upstream_and_get_the_parts_in_order(
    rig: Rig, clips: dict[str, tuple[bytes, list[bytes]]]
) -> None:
    init, media = clips["small"]
    assert len(media) >= 3, "ffmpeg made fewer fragments than the test needs"
    first = Watch(rig.client("li.wei"))
    command = rig.command(0)
    assert (command.action, command.camera_id, command.stream) == ("live", CAMERA, "detect")
    assert command.upload_url == f"{rig.url}/api/edge/video/{command.request_id}"
    left = (command.expires_at - command.issued_at).total_seconds()
    assert left == pytest.approx(30, abs=1)
    url = command.upload_url
    assert rig.upload(url, "init", 0, init).status_code == 204
    assert rig.upload(url, "media", 1, media[0]).status_code == 204
    assert first.wait_bytes(len(init + media[0])) == init + media[0]
    assert first.status == 200
    assert first.headers["x-sitewatch-mime"] == 'video/mp4; codecs="avc1.64001f"'
    assert first.headers["content-type"] == "video/mp4"

    second = Watch(rig.client("li.wei"))  # joins: the init part and the newest fragment at once
    assert second.wait_bytes(len(init + media[0])) == init + media[0]
    for seq, part in enumerate(media[1:3], start=2):
        assert rig.upload(url, "media", seq, part).status_code == 204
    assert rig.upload(url, "media", 2, media[1]).status_code == 204  # a retry: not sent again
    expected = init + b"".join(media[:3])
    assert first.wait_bytes(len(expected)) == expected
    assert second.wait_bytes(len(expected)) == expected

    info = rig.client("li.wei").get(f"/api/video/live/{SITE}/{CAMERA}/info").json()
    assert info["session"] == str(command.request_id)
    assert (info["viewers"], info["parts"]) == (2, 4)
    assert info["upstream_bytes"] == len(expected)
    assert info["mime"] == 'video/mp4; codecs="avc1.64001f"'
    assert info["last_part_at"] == pytest.approx(time.time(), abs=10)
    ids = {json.loads(p)["request_id"] for p in rig.commands.payloads()}
    assert ids == {str(command.request_id)}, "one upstream: every command is of one session"
    with rig.state.db.session() as s:
        rows = s.query(AuditEntry).filter(AuditEntry.action == "video.live").all()
        assert [(r.username, r.object_id) for r in rows] == [("li.wei", f"{SITE}/{CAMERA}")] * 2
    first.close()
    second.close()


def test_an_upload_not_signed_by_the_site_s_edge_key_is_refused(
    rig: Rig, clips: dict[str, tuple[bytes, list[bytes]]]
) -> None:
    init, _ = clips["small"]
    viewer = Watch(rig.client("li.wei"))
    url = rig.command(0).upload_url
    refusals = {
        "unsigned": rig.upload(url, "init", 0, init, sign=False),
        "another key": rig.upload(url, "init", 0, init, key=Ed25519PrivateKey.generate()),
        "sent 20 min ago": rig.upload(url, "init", 0, init, sent=time.time() - 1200),
        "another site": rig.upload(url, "init", 0, init, site="south"),
        "unknown session": rig.upload(f"{rig.url}/api/edge/video/{uuid.uuid4()}", "init", 0, init),
    }
    got = {why: (r.status_code, r.json()["code"]) for why, r in refusals.items()}
    assert got == {
        "unsigned": (401, "video.upload_refused"),  # no X-SiteWatch-Signature header
        "another key": (401, "video.upload_refused"),
        "sent 20 min ago": (401, "video.upload_refused"),
        "another site": (403, "video.upload_refused"),
        "unknown session": (410, "video.session_over"),
    }
    assert "registered edge key" in refusals["another key"].json()["detail"]
    assert viewer.got == b"" and viewer.status is None, "nothing refused reached the viewer"
    assert rig.upload(url, "init", 0, init).status_code == 204
    assert viewer.wait_bytes(len(init)) == init
    viewer.close()


def test_a_camera_outside_the_user_s_scope_is_not_found(rig: Rig) -> None:
    outsider = rig.client("wang.fang")  # an operator of camera 'yard' only
    for path in (f"/api/video/live/{SITE}/{CAMERA}", f"/api/video/live/{SITE}/{CAMERA}/info"):
        r = outsider.get(path)
        assert (r.status_code, r.json()["code"]) == (404, "scope.no_camera"), path
    cameras = outsider.get("/api/video/cameras").json()
    assert [(c["site_id"], c["camera_id"]) for c in cameras] == [(SITE, "yard")]
    assert cameras[0]["edge_state"] == "online" and cameras[0]["streams"] == ["detect"]
    assert rig.commands.payloads() == [], "no command went to the edge"


def test_the_session_ends_after_the_grace_and_the_next_upload_is_told_to_stop(
    rig: Rig, clips: dict[str, tuple[bytes, list[bytes]]]
) -> None:
    init, media = clips["small"]
    viewer = Watch(rig.client("li.wei"))
    command = rig.command(0)
    assert rig.upload(command.upload_url, "init", 0, init).status_code == 204
    viewer.wait_bytes(len(init))
    viewer.close()  # the last viewer leaves; the grace is 1 s in this rig
    stop = rig.command(1, timeout_s=10)
    assert (stop.action, stop.request_id) == ("stop", command.request_id)
    r = rig.upload(command.upload_url, "media", 1, media[0])
    assert (r.status_code, r.json()["code"]) == (410, "video.session_over")
    info = rig.client("li.wei").get(f"/api/video/live/{SITE}/{CAMERA}/info").json()
    assert info["session"] is None and info["viewers"] == 0


def test_a_slow_viewer_is_dropped_and_does_not_stall_the_others(
    rig: Rig, clips: dict[str, tuple[bytes, list[bytes]]]
) -> None:
    init, media = clips["big"]
    parts = (media * 4)[:40]  # ~20 MB: past the slow viewer's socket buffers and its 1 MiB
    api = rig.client("li.wei")
    info = f"/api/video/live/{SITE}/{CAMERA}/info"
    # the slow viewer asks for the stream and then reads nothing (a tab frozen in the background)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((HOST, int(rig.url.rsplit(":", 1)[1])))
    cookie = "; ".join(f"{k}={v}" for k, v in api.cookies.items())
    slow.sendall(f"GET /api/video/live/{SITE}/{CAMERA} HTTP/1.1\r\nHost: {HOST}\r\n"
                 f"Cookie: {cookie}\r\n\r\n".encode())  # fmt: skip
    url = rig.command(0).upload_url
    assert rig.upload(url, "init", 0, init).status_code == 204
    _wait("the slow viewer to join", lambda: api.get(info).json()["viewers"] == 1)
    fast = Watch(rig.client("li.wei"))
    fast.wait_bytes(len(init))
    started = time.monotonic()
    for seq, part in enumerate(parts, start=1):
        r = rig.upload(url, "media", seq, part)
        assert r.status_code == 204, r.text
    took = time.monotonic() - started
    expected = init + b"".join(parts)
    assert fast.wait_bytes(len(expected), timeout_s=60) == expected
    assert took < 30, f"the upstream took {took:.1f} s for {len(parts)} parts"
    assert api.get(info).json()["viewers"] == 1, "the slow viewer was dropped"
    slow.settimeout(10)
    got = b""
    while chunk := slow.recv(1 << 20):  # what it had in its buffers, then the end
        got += chunk
    assert b"200 OK" in got.split(b"\r\n", 1)[0]
    assert len(got) < len(expected), "the slow viewer got everything: it was never behind"
    slow.close()
    fast.close()
