"""The edge's video desk: which video commands it obeys (the console's signature, fresh) and
the ``error`` parts it answers signed commands it cannot serve with, POSTed to a real HTTP
receiver in this process that checks the edge's signature. No camera, no ffmpeg run here: the
live streams themselves are in tests/component/test_edge_live_upload.py and
test_edge_video_desk.py."""

from __future__ import annotations

import json
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
from sitewatch.edge.video.ring import Segment
from sitewatch.edge.video_desk import VideoDesk, command_problem, stream_url
from tests.support.edge_video_receiver import (
    Upload,
    VideoReceiver,
    receiver_factory,  # noqa: F401
)

SITE = "demo-site"
CONSOLE, ATTACKER, EDGE = (Ed25519PrivateKey.generate() for _ in range(3))
Factory = Callable[[str, Ed25519PublicKey], VideoReceiver]


def site_config(tmp_path: Path, **video: Any) -> SiteConfig:
    """cam1 (detect only), cam2 (detect and record), cam3 (disabled); the console's key."""
    return SiteConfig.model_validate(
        {
            "version": 1,
            "site": {"id": SITE, "name": "Demo", "timezone": "UTC"},
            "mqtt": {"host": "127.0.0.1"},
            "detector": {"model": str(tmp_path / "model.onnx")},
            "evidence": {"dir": str(tmp_path / "evidence")},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "trust": {"console_public_key": public_key_text(CONSOLE)},
            "video": video,
            "cameras": [
                {"id": "cam1", "detect": "rtsp://127.0.0.1:9/sub"},
                {"id": "cam2", "detect": "rtsp://cam2/sub", "record": "rtsp://cam2/main"},
                {"id": "cam3", "detect": "rtsp://cam3/sub", "enabled": False},
            ],
        }
    )


def command(
    url: str,
    action: str = "live",
    *,
    ago_s: float = 0.0,
    key: Ed25519PrivateKey | None = CONSOLE,
    **extra: Any,
) -> m.VideoCommand:
    now = datetime.now(UTC)
    if action == "range":
        extra.setdefault("start", now - timedelta(minutes=5))
        extra.setdefault("end", now - timedelta(minutes=4))
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "site_id": SITE,
        "camera_id": "cam1",
        "action": action,
        "upload_url": url,
        "expires_at": now + timedelta(seconds=30),
        "issued_by": "wang.admin",
        "issued_at": now - timedelta(seconds=ago_s),
    }
    fields.update(extra)
    cmd = m.VideoCommand.model_validate(fields)
    return cmd if key is None else sign(cmd, key)


@pytest.fixture
def receiver(receiver_factory: Factory) -> VideoReceiver:  # noqa: F811
    return receiver_factory(SITE, EDGE.public_key())


@pytest.fixture
def desk_factory(tmp_path: Path) -> Iterator[Callable[..., VideoDesk]]:
    made: list[VideoDesk] = []

    def make(segments: list[Segment] | None = None, **video: Any) -> VideoDesk:
        def segments_of(camera_id: str, stream: str) -> list[Segment]:
            if segments is None:
                raise KeyError(f"camera {camera_id} does not record its {stream} stream")
            return segments

        desk = VideoDesk(site_config(tmp_path, **video), EDGE, segments_of, tmp_path / "cuts")
        made.append(desk)
        return desk

    yield make
    for desk in made:
        desk.stop()


def error_of(receiver: VideoReceiver, cmd: m.VideoCommand) -> dict[str, str]:
    def came(uploads: list[Upload]) -> bool:
        return any(u.request_id == str(cmd.request_id) for u in uploads)

    receiver.wait_for(came, 10.0, f"an error part for {cmd.request_id}")
    (upload,) = receiver.of(str(cmd.request_id))
    assert (upload.part, upload.seq, upload.end) == ("error", 0, None)
    assert receiver.problems == []
    body: dict[str, str] = json.loads(upload.body)
    return body


def test_a_fresh_command_signed_by_the_console_passes() -> None:
    cmd = command("http://console/api/edge/video/x")
    assert command_problem(cmd, CONSOLE.public_key(), 300.0, datetime.now(UTC).timestamp()) is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: command("http://c/v", key=None), "got an unsigned one"),
        (lambda: command("http://c/v", key=ATTACKER), "does not match"),
        (
            lambda: command("http://c/v").model_copy(update={"upload_url": "http://evil/v"}),
            "does not match",
        ),
        (lambda: command("http://c/v", ago_s=301), "within the last 300 s"),
        (lambda: command("http://c/v", ago_s=-60), "at most 30 s ahead"),
    ],
    ids=["unsigned", "wrong-key", "tampered-url", "stale", "future"],
)
def test_a_command_not_signed_fresh_by_the_console_is_refused(
    make: Callable[[], m.VideoCommand], expected: str
) -> None:
    now = datetime.now(UTC).timestamp()
    problem = command_problem(make(), CONSOLE.public_key(), 300.0, now)
    assert problem is not None and expected in problem


def test_without_the_consoles_key_every_command_is_refused() -> None:
    problem = command_problem(command("http://c/v"), None, 300.0, 0.0)
    assert problem is not None and "trust.console_public_key" in problem


def test_the_record_stream_of_a_camera_without_one_is_its_detect_stream(tmp_path: Path) -> None:
    cam1, cam2, _ = site_config(tmp_path).cameras
    assert stream_url(cam1, "record") == stream_url(cam1, "detect") == "rtsp://127.0.0.1:9/sub"
    assert (stream_url(cam2, "detect"), stream_url(cam2, "record")) == (
        "rtsp://cam2/sub",
        "rtsp://cam2/main",
    )


def test_refused_commands_get_no_upload_and_are_counted(
    receiver: VideoReceiver, desk_factory: Callable[..., VideoDesk]
) -> None:
    desk = desk_factory()
    url = receiver.url("x")
    for bad in (command(url, key=None), command(url, key=ATTACKER), command(url, ago_s=400)):
        desk.receive("sitewatch/demo-site/video/command", m.encode(bad))
    desk.receive("sitewatch/demo-site/video/command", b"not json")
    assert desk.refused == 4 and desk.live_count() == 0
    rid = uuid.uuid4()
    marker = command(receiver.url(str(rid)), request_id=rid, camera_id="nope")
    desk.receive("t", m.encode(marker))
    error_of(receiver, marker)  # the refused ones, handled before it, sent nothing
    assert len(receiver.uploads) == 1


@pytest.mark.parametrize(
    ("extra", "video", "code", "words"),
    [
        ({"camera_id": "nope"}, {}, "failed", "camera nope is not in this edge's config"),
        ({"camera_id": "cam3"}, {}, "camera_offline", "camera cam3 is disabled"),
        ({"site_id": "other-site"}, {}, "failed", "serves site demo-site, not other-site"),
        ({}, {"max_live": 0}, "busy", "at most 0 cameras live"),
    ],
    ids=["unknown-camera", "disabled-camera", "other-site", "busy"],
)
def test_a_live_command_the_edge_cannot_serve_gets_an_error_part(
    receiver: VideoReceiver,
    desk_factory: Callable[..., VideoDesk],
    extra: dict[str, Any],
    video: dict[str, int],
    code: str,
    words: str,
) -> None:
    desk = desk_factory(**video)
    rid = uuid.uuid4()
    cmd = command(receiver.url(str(rid)), request_id=rid, **extra)
    desk.receive("t", m.encode(cmd))
    error = error_of(receiver, cmd)
    assert error["code"] == code and words in error["detail"]
    assert desk.live_count() == 0


@pytest.mark.parametrize("segments", [None, []], ids=["stream-not-recorded", "nothing-recorded"])
def test_a_range_with_nothing_recorded_gets_not_recorded(
    receiver: VideoReceiver,
    desk_factory: Callable[..., VideoDesk],
    segments: list[Segment] | None,
) -> None:
    desk = desk_factory(segments)
    rid = uuid.uuid4()
    cmd = command(receiver.url(str(rid)), "range", request_id=rid)
    desk.receive("t", m.encode(cmd))
    error = error_of(receiver, cmd)
    assert error["code"] == "not_recorded", error
