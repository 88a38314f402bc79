"""The edge's video desk behind a real mosquitto: signed VideoCommands from a console client
start, stop and cut video that reaches a real HTTP receiver (signatures checked with the edge's
key); unsigned or stale ones start nothing. The camera is a real gst-rtsp-server; recorded
segments are real MPEG-TS cut by ffmpeg from the same test stream (2-s keyframe interval)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.edge.video.ring import Segment
from sitewatch.edge.video_desk import VideoDesk
from tests.support.edge_video_receiver import (
    Upload,
    VideoReceiver,
    decoded_frames,
    receiver_factory,  # noqa: F401
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.rtsp_server import RtspServer, build_test_stream, rtsp_server  # noqa: F401

SITE, PREFIX = "demo-site", "sitewatch"
TOPIC = m.video_command(PREFIX, SITE)
CONSOLE, ATTACKER, EDGE = (Ed25519PrivateKey.generate() for _ in range(3))
Factory = Callable[[str, Ed25519PublicKey], VideoReceiver]


class Site:
    """A desk subscribed at the broker, a console client, and the receiver of the uploads."""

    def __init__(self, desk: VideoDesk, console: MqttTransport, receiver: VideoReceiver) -> None:
        self.desk, self.console, self.receiver = desk, console, receiver

    def command(
        self, action: str = "live", *, key: Ed25519PrivateKey | None = CONSOLE, **extra: Any
    ) -> m.VideoCommand:
        """A command published (QoS 1, acknowledged) for cam1; issued now unless ``issued_at``."""
        now = datetime.now(UTC)
        rid = extra.pop("request_id", uuid.uuid4())
        fields: dict[str, Any] = {
            "request_id": rid,
            "site_id": SITE,
            "camera_id": "cam1",
            "action": action,
            "upload_url": self.receiver.url(str(rid)),
            "expires_at": now + timedelta(seconds=30),
            "issued_by": "wang.admin",
            "issued_at": now,
            **extra,
        }
        cmd = m.VideoCommand.model_validate(fields)
        cmd = cmd if key is None else sign(cmd, key)
        assert self.console.publish(TOPIC, m.encode(cmd)).wait(5.0)
        return cmd

    def uploads(self, cmd: m.VideoCommand) -> list[Upload]:
        return self.receiver.of(str(cmd.request_id))


@pytest.fixture
def site(
    tmp_path: Path,
    broker: Mosquitto,
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
    segments: list[Segment],
) -> Iterator[Site]:
    config = SiteConfig.model_validate(
        {
            "version": 1,
            "site": {"id": SITE, "name": "Demo", "timezone": "UTC"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "topic_prefix": PREFIX},
            "detector": {"model": str(tmp_path / "model.onnx")},
            "evidence": {"dir": str(tmp_path / "evidence")},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "trust": {"console_public_key": public_key_text(CONSOLE)},
            "cameras": [{"id": "cam1", "detect": rtsp_server.url("cam1")}],
        }
    )
    desk = VideoDesk(config, EDGE, lambda camera, stream: segments, tmp_path / "cuts")
    edge = broker.transport(subscriptions={TOPIC: desk.receive})
    console = broker.transport()
    receiver = receiver_factory(SITE, EDGE.public_key())
    assert edge.wait_connected(10.0) and console.wait_connected(10.0)
    deadline = time.monotonic() + 10.0
    while desk.refused == 0:  # probes until one reaches the desk: the subscription is live
        assert time.monotonic() < deadline, "the desk's subscription never became live"
        console.publish(TOPIC, b"probe").wait(1.0)
        time.sleep(0.1)
    desk.refused = 0
    try:
        yield Site(desk, console, receiver)
    finally:
        desk.stop()
        edge.close()
        console.close()


@pytest.fixture
def segments(tmp_path: Path) -> list[Segment]:
    """The 4-s test stream cut into two 2-s MPEG-TS segments, recorded 10 minutes ago."""
    folder = tmp_path / "ring"
    folder.mkdir()
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(build_test_stream()),
        "-map", "0:v:0", "-c", "copy", "-f", "segment", "-segment_format", "mpegts",
        "-segment_time", "2", "-reset_timestamps", "1", str(folder / "r1-%06d.ts"),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60)
    start = time.time() - 600
    paths = sorted(folder.glob("*.ts"))
    assert len(paths) == 2
    return [Segment(p, start + 2.0 * i, 2.0, p.stat().st_size) for i, p in enumerate(paths)]


def live_ends(desk: VideoDesk, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while desk.live_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert desk.live_count() == 0, f"expected no live stream after {timeout_s:g} s"


def test_a_signed_live_command_streams_until_stopped(site: Site) -> None:
    cmd = site.command("live")
    rid = str(cmd.request_id)
    site.receiver.wait_for(
        lambda u: sum(x.part == "media" and x.request_id == rid for x in u) >= 2,
        30.0,
        "init and two fragments",
    )
    site.command("live", request_id=cmd.request_id)  # a renewal: the same stream goes on
    assert site.desk.live_count() == 1
    site.command("stop", request_id=cmd.request_id)
    live_ends(site.desk, 5.0)
    count = len(site.uploads(cmd))
    site.command("live", request_id=cmd.request_id)  # late: the console ended this session
    time.sleep(3.0)
    uploads = site.uploads(cmd)
    assert len(uploads) == count and site.desk.live_count() == 0
    assert [u.seq for u in uploads] == list(range(count)) and uploads[0].part == "init"
    assert len(decoded_frames(b"".join(u.body for u in uploads))) >= 2 * 2 * 25 * 0.9
    assert site.receiver.problems == []


def test_unsigned_tampered_or_stale_commands_start_nothing(site: Site) -> None:
    site.command("live", key=None)
    site.command("live", key=ATTACKER)
    site.command("live", issued_at=datetime.now(UTC) - timedelta(seconds=301))
    deadline = time.monotonic() + 10.0
    while site.desk.refused < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert site.desk.refused == 3 and site.desk.live_count() == 0
    time.sleep(1.0)
    assert site.receiver.uploads == []


def test_a_range_is_cut_from_the_recording_and_posted_as_one_part(
    site: Site, segments: list[Segment]
) -> None:
    first = segments[0].start
    start = datetime.fromtimestamp(first + 1.0, UTC)
    cmd = site.command("range", start=start, end=start + timedelta(seconds=2))
    rid = str(cmd.request_id)
    (upload,) = site.receiver.wait_for(
        lambda u: any(x.request_id == rid for x in u), 30.0, "the range part"
    )
    assert (upload.part, upload.seq) == ("range", 0)
    assert upload.time == pytest.approx(first) and upload.end == pytest.approx(first + 4.0)
    frames = decoded_frames(upload.body)
    assert 90 <= len(frames) <= 110 and set(frames) == {(640, 360)}  # 4 s at 25 fps
    assert list((site.desk.work_dir).iterdir()) == []  # the cut is deleted once sent
    assert site.receiver.problems == []


def test_a_camera_moved_to_another_url_restarts_on_the_next_renewal(
    site: Site,
    rtsp_server: RtspServer,  # noqa: F811
) -> None:
    cmd = site.command("live")
    rid = str(cmd.request_id)
    site.receiver.wait_for(lambda u: any(x.part == "media" for x in u), 20.0, "a fragment")
    old = site.desk.config
    cams = [old.cameras[0].model_copy(update={"detect": rtsp_server.url("cam2")})]
    site.desk.configure(old.model_copy(update={"cameras": cams}))
    live_ends(site.desk, 5.0)
    before = len(site.uploads(cmd))
    site.command("live", request_id=cmd.request_id)  # the console's renewal
    uploads = site.receiver.wait_for(
        lambda u: sum(x.request_id == rid and x.part == "init" for x in u) == 2, 20.0, "a new init"
    )
    again = [u for u in uploads if u.request_id == rid][before:]
    assert again[0].part == "init" and again[0].seq == 0  # a restart begins with its own init
    assert site.desk.live_count() == 1 and site.receiver.problems == []
