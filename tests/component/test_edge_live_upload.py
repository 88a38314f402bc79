"""Live view at the edge: a real RTSP camera (gst-rtsp-server), the edge's live streamer with a
real ffmpeg, and a real HTTP receiver that checks every upload's signature with the edge's
public key. The test stream is 640x360 at 25 fps with a keyframe every 2 s."""

from __future__ import annotations

import itertools
import json
import statistics
import time
import uuid
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sitewatch.edge.video.live import LiveStream
from sitewatch.edge.video.uploader import Uploader
from tests.support.edge_video_receiver import (
    Upload,
    VideoReceiver,
    decoded_frames,
    receiver_factory,  # noqa: F401
)
from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401

SITE = "demo-site"
KEY = Ed25519PrivateKey.generate()
KEYFRAME_S = 2.0

Factory = Callable[[str, Ed25519PublicKey], VideoReceiver]


def stream_to(receiver: VideoReceiver, url: str, expires_in_s: float = 30.0) -> LiveStream:
    request_id = str(uuid.uuid4())
    uploader = Uploader(receiver.url(request_id), SITE, request_id, KEY, timeout_s=5.0)
    live = LiveStream(request_id, "cam1", url, uploader, time.time() + expires_in_s)
    live.start()
    return live


def media(uploads: list[Upload]) -> list[Upload]:
    return [u for u in uploads if u.part == "media"]


def wait_ended(live: LiveStream, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while live.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    live.join(5.0)
    assert not live.alive, f"expected the stream to end in {timeout_s:g} s; it runs on"


def test_parts_are_signed_in_order_decode_and_come_once_per_keyframe(
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    began = time.time()
    live = stream_to(receiver, rtsp_server.url("cam1"))
    try:
        uploads = receiver.wait_for(lambda u: len(media(u)) >= 5, 30.0, "init and 5 fragments")
    finally:
        live.stop()
        wait_ended(live, 5.0)
    assert receiver.problems == []
    assert [u.part for u in uploads[:2]] == ["init", "media"]
    assert [u.seq for u in uploads] == list(range(len(uploads)))
    assert receiver.connections == 1  # keep-alive: one connection for the whole session
    frames = decoded_frames(b"".join(u.body for u in uploads))
    assert len(frames) >= 5 * KEYFRAME_S * 25 * 0.9 and set(frames) == {(640, 360)}
    arrivals = [u.received_at for u in media(uploads)]
    gaps = [b - a for a, b in itertools.pairwise(arrivals[1:])]  # the first may come early
    assert 0.6 * KEYFRAME_S < statistics.median(gaps) < 1.5 * KEYFRAME_S, gaps
    times = [u.time for u in uploads]
    assert times == sorted(times) and began - 1 < times[0] and times[-1] < time.time()
    for u in media(uploads)[1:]:  # a fragment's first frame: about one fragment before it came
        assert 0 <= u.received_at - u.time < 2.5 * KEYFRAME_S, (u.seq, u.received_at - u.time)
    assert live.dropped == 0 and live.sent == len(uploads)


def test_a_410_answer_ends_the_stream(
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    receiver.answer = lambda u: 410 if u.seq >= 2 else 204
    live = stream_to(receiver, rtsp_server.url("cam1"))
    wait_ended(live, 20.0)
    assert live.ended is not None and "410" in live.ended
    count = len(receiver.uploads)
    time.sleep(2.5 * KEYFRAME_S)
    assert [u.seq for u in receiver.uploads] == [0, 1, 2] == list(range(count))
    assert receiver.problems == []


def test_without_a_renewal_the_stream_ends_at_expires_at(
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    began = time.monotonic()
    renewed = stream_to(receiver, rtsp_server.url("cam1"), expires_in_s=4.0)
    lapsing = stream_to(receiver, rtsp_server.url("cam2"), expires_in_s=4.0)
    time.sleep(2.0)
    renewed.renew(time.time() + 6.0)
    wait_ended(lapsing, 6.0)
    assert lapsing.ended == "expired without a renewal"
    assert 3.5 < time.monotonic() - began < 6.0
    assert renewed.alive  # 2 s + 6 s
    wait_ended(renewed, 8.0)
    assert renewed.ended == "expired without a renewal"
    assert 7.5 < time.monotonic() - began < 10.0
    assert len(media(receiver.of(renewed.request_id))) > len(media(receiver.of(lapsing.request_id)))
    assert receiver.problems == []


def test_a_camera_that_does_not_answer_ends_with_an_error_part(
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    url = rtsp_server.url("cam1").replace("rtsp://", "rtsp://admin:Zebra-Horse-42@")
    live = stream_to(receiver, url.replace("/cam1", "/no-such-mount"))
    wait_ended(live, 20.0)
    (upload,) = receiver.wait_for(lambda u: len(u) >= 1, 5.0, "an error part")
    assert (upload.part, upload.seq) == ("error", 0)
    error = json.loads(upload.body)
    assert error["code"] == "camera_offline" and "before any video" in error["detail"]
    assert "Zebra-Horse-42" not in error["detail"] and "admin:***@" in error["detail"]


def test_a_console_that_does_not_answer_never_blocks_the_stream(
    rtsp_server: RtspServer,  # noqa: F811
) -> None:
    """Port 9 on localhost: nothing listens, every POST is refused; the stream goes on
    dropping fragments and still stops at once when asked."""
    request_id = str(uuid.uuid4())
    uploader = Uploader(f"http://127.0.0.1:9/api/edge/video/{request_id}", SITE, request_id, KEY)
    live = LiveStream(request_id, "cam1", rtsp_server.url("cam1"), uploader, time.time() + 30)
    live.start()
    deadline = time.monotonic() + 20
    while live.dropped < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.dropped >= 3 and live.alive and live.sent == 0
    stopped = time.monotonic()
    live.stop()
    wait_ended(live, 2.0)
    assert time.monotonic() - stopped < 2.0


def test_a_camera_that_freezes_ends_the_stream_with_an_error_part(
    rtsp_server: RtspServer,  # noqa: F811
    receiver_factory: Factory,  # noqa: F811
) -> None:
    """The server frozen (SIGSTOP), its TCP connection open: ffmpeg's socket timeout (5 s) or
    the stream's own stall watchdog ends it, and the console is told the camera is offline."""
    receiver = receiver_factory(SITE, KEY.public_key())
    live = stream_to(receiver, rtsp_server.url("cam1"))
    receiver.wait_for(lambda u: len(media(u)) >= 1, 20.0, "a first fragment")
    rtsp_server.pause()
    try:
        wait_ended(live, 25.0)
    finally:
        rtsp_server.resume()
    error = receiver.wait_for(lambda u: u[-1].part == "error", 5.0, "an error part")[-1]
    assert json.loads(error.body)["code"] == "camera_offline"
    assert error.seq == 0 and receiver.problems == []
