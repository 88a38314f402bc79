"""The error parts the edge's video desk answers signed video commands it cannot serve with
(another site, an unknown or disabled camera, its live limit, nothing recorded), POSTed to a
real HTTP receiver that checks the edge's signature; commands it refuses get no upload at all.
No camera and no ffmpeg run here."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sitewatch.contract import messages as m
from sitewatch.edge.video.ring import Segment
from sitewatch.edge.video_desk import VideoDesk
from tests.support.edge_video_receiver import (
    Upload,
    VideoReceiver,
    receiver_factory,  # noqa: F401
)
from tests.unit.test_edge_video_desk import ATTACKER, EDGE, SITE, command, site_config

Factory = Callable[[str, Ed25519PublicKey], VideoReceiver]


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


def test_a_stopped_desk_ignores_commands(
    receiver: VideoReceiver, desk_factory: Callable[..., VideoDesk]
) -> None:
    desk = desk_factory()
    desk.stop()
    rid = uuid.uuid4()
    desk.receive("t", m.encode(command(receiver.url(str(rid)), request_id=rid, camera_id="nope")))
    time.sleep(1.0)
    assert receiver.uploads == [] and desk.live_count() == 0
