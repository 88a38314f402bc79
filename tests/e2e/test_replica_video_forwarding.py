"""Video across console replicas (issue 16, docs/design/replicas.md "Uploads to the replica that
asked"), every part a real process on loopback: a throw-away PostgreSQL, mosquitto with the
production accounts, two ``sitewatch server run`` replicas (each with ``SITEWATCH_REPLICA_URL``)
and haproxy in HTTP mode before them, balancing every request in turn (round robin, no
stickiness), which is the address the edges are told to upload to (``SITEWATCH_EDGE_URL``).

The edge here is the test: it takes the signed video commands from the broker with the site's
account and answers them with the edge's own upload client (:class:`sitewatch.edge.video.
uploader.Uploader`, signed by the site's registered key) through the proxy, so every other
upload lands on the replica that did not ask. A viewer on replica A gets every byte of the
live parts (none is refused 410 on B); a hold asked on A and answered through the proxy (one
of two answers lands on B) completes, and so do two playback windows asked on A (a range of
3 MB each, streamed on); an upload naming a replica that is gone is refused 410.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sitewatch.console.store.models import Camera, RecordingIndexRow
from sitewatch.contract import messages as m
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.edge.video.uploader import Uploader
from tests.support.console_rig import HOST, ConsoleRig, free_port, stop_process
from tests.support.console_rig import wait_listening as wait_port
from tests.support.haproxy import _binary

SITE, CAMERA = "north", "gate"
PASSWORD = "a-long-password-for-boss"
PARTS = 8  # media parts after the init part: every other one through the replica that did not ask
WAIT_S = 20.0


class RoundRobinFront:
    """haproxy in HTTP mode before the replicas: each request to the next replica, whatever
    connection it came on (``http-server-close``: no server connection reused)."""

    def __init__(self, folder: Path, ports: list[int]) -> None:
        self.port, self.log = free_port(), folder / "haproxy.log"
        servers = "\n".join(
            f"    server r{i} {HOST}:{p} check inter 500ms fall 1 rise 1"
            for i, p in enumerate(ports, 1)
        )
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            "global\n    maxconn 200\n\ndefaults\n    mode http\n    timeout connect 2s\n"
            "    timeout client 60s\n    timeout server 60s\n    option http-server-close\n\n"
            f"frontend edges\n    bind {HOST}:{self.port}\n    default_backend consoles\n\n"
            "backend consoles\n    balance roundrobin\n    option httpchk GET /api/health\n"
            f"{servers}\n"
        )
        self.proc: Any = None

    def start(self) -> None:
        import subprocess

        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_binary(), "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_port(self.port, self.proc, "haproxy", self.log, 10.0)


class ReplicaRig(ConsoleRig):
    """Two replicas on PostgreSQL and mosquitto; edges upload through :class:`RoundRobinFront`."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, database="postgresql", replicas=2)
        self.front = RoundRobinFront(folder, [r.port for r in self.replicas])

    def env(self, replica: Any) -> dict[str, str]:
        env = super().env(replica)
        env["SITEWATCH_EDGE_URL"] = f"http://{HOST}:{self.front.port}"
        env["SITEWATCH_REPLICA_URL"] = replica.url
        env["SITEWATCH_VIDEO_DIR"] = str(self.folder / f"video-{replica.name}")  # not shared
        env["SITEWATCH_LOG_LEVEL"] = "DEBUG"  # each upload passed on is logged
        return env

    def start_front(self) -> None:
        self.front.start()

    def close(self) -> None:
        stop_process(self.front.proc, 5.0)
        super().close()

    def passed_on(self, index: int) -> int:
        """How many uploads replica ``index`` passed on to another (its log)."""
        text = self.replicas[index].log.read_text(errors="replace")
        return text.count("passed on to the replica at")


class Edge:
    """The site's edge: its broker account takes the commands; its key signs the uploads."""

    def __init__(self, rig: ReplicaRig, creds: Any) -> None:
        self.key = creds.private_key
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        host, port = rig.mqtt_endpoints[0]
        self.transport = MqttTransport(
            host, port, client_id=f"edge-{SITE}", username=creds.username,
            password=creds.password, clean_session=True,
            subscriptions={m.video_command("sitewatch", SITE): self._heard},
        )  # fmt: skip
        assert self.transport.wait_connected(10.0), "the edge did not connect to mosquitto"

    def _heard(self, topic: str, payload: bytes) -> None:
        self.commands.put(json.loads(payload))

    def next(self, action: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                cmd = self.commands.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if cmd["action"] == action:
                return cmd
        raise AssertionError(f"expected a {action!r} video command in {WAIT_S:g} s, got none")

    def uploader(self, cmd: dict[str, Any]) -> Uploader:
        return Uploader(cmd["upload_url"], SITE, cmd["request_id"], self.key, timeout_s=10.0)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[ReplicaRig, Edge]]:
    cluster = ReplicaRig(tmp_path / "replicas")
    try:
        creds = cluster.add_edges([SITE])[SITE]
        cluster.add_user("boss", PASSWORD, role="admin")
        with cluster.db.session() as s:
            s.add(Camera(site_id=SITE, camera_id=CAMERA, state="online"))
            now = time.time()  # the edge records the last hour (its index)
            s.add(RecordingIndexRow(site_id=SITE, camera_id=CAMERA, stream="detect",
                                    spans=[[now - 3600, now]], size_bytes=1, keep_s=86400.0,
                                    at=datetime.fromtimestamp(now, UTC)))  # fmt: skip
        cluster.start()
        edge = Edge(cluster, creds)
        try:
            yield cluster, edge
        finally:
            edge.transport.close()
    finally:
        cluster.close()  # every process it started; the folder stays, with the logs


def test_live_parts_landing_on_the_other_replica_reach_the_viewer(
    rig: tuple[ReplicaRig, Edge],
) -> None:
    cluster, edge = rig
    a = cluster.login("boss", PASSWORD, url=cluster.replicas[0].url)  # the proxy's cookie: A
    got = bytearray()
    ended = threading.Event()
    status: list[int] = []

    def watch() -> None:
        try:
            with a.stream("GET", f"/api/video/live/{SITE}/{CAMERA}") as r:
                status.append(r.status_code)
                for chunk in r.iter_bytes():
                    got.extend(chunk)
        except httpx.HTTPError:
            pass  # the test closed the client: the viewer leaves
        ended.set()

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    cmd = edge.next("live")
    assert "?replica=" in cmd["upload_url"], cmd["upload_url"]
    up = edge.uploader(cmd)
    init = b"init-" + bytes(range(256)) * 40
    parts = [f"media-{i}-".encode() + bytes([i]) * 50_000 for i in range(1, PARTS + 1)]
    answers = [up.post("init", 0, time.time(), init)]
    time.sleep(0.5)  # the viewer joins on the init part; then it gets every media part
    answers += [up.post("media", i, time.time(), part) for i, part in enumerate(parts, 1)]
    expected = init + b"".join(parts)
    deadline = time.monotonic() + WAIT_S
    while len(got) < len(expected) and time.monotonic() < deadline and not ended.is_set():
        time.sleep(0.05)
    up.close()
    a.close()
    assert [x.status for x in answers] == [204] * (PARTS + 1), [x.reason for x in answers]
    assert status == [200]
    assert bytes(got[: len(expected)]) == expected
    assert cluster.passed_on(0) == 0 and cluster.passed_on(1) >= PARTS // 2  # B to A


def test_a_hold_asked_on_one_replica_is_answered_through_the_other(
    rig: tuple[ReplicaRig, Edge],
) -> None:
    cluster, edge = rig
    a = cluster.login("boss", PASSWORD, url=cluster.replicas[0].url)
    now = time.time()
    held: list[httpx.Response] = []
    for n in range(2):  # round robin: one of the two answers goes through the other replica
        body = {"site_id": SITE, "camera_id": CAMERA, "start": now - 600, "end": now - 60,
                "reason": f"case {n}"}  # fmt: skip
        asked = threading.Thread(
            target=lambda b=body: held.append(a.post("/api/video/holds", json=b))
        )
        asked.start()
        cmd = edge.next("hold")
        up = edge.uploader(cmd)
        said = {"start": body["start"], "end": body["end"], "reason": body["reason"]}
        answer = up.post("held", 0, time.time(), json.dumps(said).encode())
        up.close()
        asked.join(WAIT_S)
        assert answer.status == 204, answer.reason
    assert [r.status_code for r in held] == [201, 201], [r.text[:300] for r in held]
    assert [r.json()["reason"] for r in held] == ["case 0", "case 1"]
    assert cluster.passed_on(1) == 1  # one of the two answers came through B
    # an upload naming a replica that is not (or no longer) there: 410, the edge stops
    gone = cmd["upload_url"].split("?replica=")[0] + "?replica=0123456789abcdef"
    stray = Uploader(gone, SITE, cmd["request_id"], edge.key, timeout_s=10.0)
    answers = [stray.post("media", 1, time.time(), b"x") for _ in range(2)]  # both replicas
    stray.close()
    a.close()
    assert [x.status for x in answers] == [410, 410], [x.reason for x in answers]


def test_playback_windows_asked_on_one_replica_come_through_either(
    rig: tuple[ReplicaRig, Edge],
) -> None:
    cluster, edge = rig
    a = cluster.login("boss", PASSWORD, url=cluster.replicas[0].url)
    now = time.time()
    for n in range(2):  # round robin: one of the two ranges goes through the other replica
        at = now - 1800 + 60 * n
        answer: list[httpx.Response] = []
        url = f"/api/video/playback/{SITE}/{CAMERA}?at={at}"
        asked = threading.Thread(target=lambda u=url, out=answer: out.append(a.get(u)))
        asked.start()
        cmd = edge.next("range")
        body = bytes([n]) * (3 * 1024 * 1024)
        up = edge.uploader(cmd)
        start, end = cmd["start"], cmd["end"]
        sent = up.post(
            "range", 0, datetime.fromisoformat(start).timestamp(), body,
            end=datetime.fromisoformat(end).timestamp(),
        )  # fmt: skip
        up.close()
        asked.join(WAIT_S)
        assert sent.status == 204, sent.reason
        assert [r.status_code for r in answer] == [200], [r.text[:300] for r in answer]
        video = a.get(answer[0].json()["url"])
        assert video.status_code == 200 and video.content == body
    a.close()
    assert cluster.passed_on(1) == 1
