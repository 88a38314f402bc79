"""Signed POSTs of video parts: the headers the design names, one keep-alive connection, a
connection the console closed while idle reopened without losing the part, a range retried
with backoff on 5xx. The receiver is a real HTTP server in this process; "closed while idle"
is its real socket timeout."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sitewatch.edge.video.uploader import Uploader
from tests.support.edge_video_receiver import (
    VideoReceiver,
    receiver_factory,  # noqa: F401
)

SITE, RID = "demo-site", "6f1c2d3e-0000-4000-8000-000000000001"
KEY = Ed25519PrivateKey.generate()
Factory = Callable[[str, Ed25519PublicKey], VideoReceiver]


def test_parts_are_signed_and_share_one_connection(
    receiver_factory: Factory,  # noqa: F811
    tmp_path: Path,
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    uploader = Uploader(receiver.url(RID), SITE, RID, KEY, timeout_s=5.0)
    file = tmp_path / "range.mp4"
    file.write_bytes(b"\0\0\0\x08free" * 1000)
    try:
        answers = [
            uploader.post("init", 0, 1_780_000_000.25, b"init-bytes"),
            uploader.post("media", 1, 1_780_000_000.5, b"media-bytes"),
            uploader.post("range", 0, 1_780_000_000.0, file, end=1_780_000_060.0),
            uploader.post_error("busy", "too many"),
        ]
    finally:
        uploader.close()
    assert [a.status for a in answers] == [204] * 4 and receiver.problems == []
    parts = [(u.part, u.seq, u.time, u.end) for u in receiver.uploads]
    assert parts[:3] == [
        ("init", 0, 1_780_000_000.25, None),
        ("media", 1, 1_780_000_000.5, None),
        ("range", 0, 1_780_000_000.0, 1_780_000_060.0),
    ]
    assert receiver.uploads[2].body == file.read_bytes()
    assert json.loads(receiver.uploads[3].body) == {"code": "busy", "detail": "too many"}
    assert receiver.connections == 1


def test_a_connection_closed_while_idle_is_reopened_and_the_part_sent(
    receiver_factory: Factory,  # noqa: F811
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    receiver.idle_timeout_s = 0.3
    uploader = Uploader(receiver.url(RID), SITE, RID, KEY, timeout_s=5.0)
    try:
        assert uploader.post("init", 0, 1.0, b"a").status == 204
        time.sleep(1.0)  # the receiver closes the idle connection
        assert uploader.post("media", 1, 2.0, b"b").status == 204
    finally:
        uploader.close()
    assert [u.seq for u in receiver.uploads] == [0, 1] and receiver.connections == 2


def test_no_answer_comes_back_as_status_none_within_the_timeout() -> None:
    """Port 9 refuses at once; a listening socket nobody accepts from takes the request into
    its backlog and never answers (a hung console): the read times out."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)
        for port in (9, hung.getsockname()[1]):
            uploader = Uploader(f"http://127.0.0.1:{port}/v/x", SITE, RID, KEY, timeout_s=0.5)
            began = time.monotonic()
            answer = uploader.post("media", 1, 1.0, b"x")
            uploader.close()
            assert answer.status is None and not answer.ok and not answer.final
            assert "no answer" in answer.reason and time.monotonic() - began < 2.0


def test_an_upload_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        Uploader("ftp://console/x", SITE, RID, KEY)


@pytest.mark.parametrize(
    ("statuses", "posts", "waits"),
    [
        ([503, 500, 204], 3, [1.0, 2.0]),  # retried with backoff until taken
        ([503, 503, 503, 503, 204], 4, [1.0, 2.0, 4.0]),  # three retries, then given up
        ([410], 1, []),  # the console is done with it: never retried
        ([413], 1, []),  # too large: a retry cannot help
    ],
)
def test_a_range_is_retried_three_times_with_backoff_on_5xx(
    receiver_factory: Factory,  # noqa: F811
    tmp_path: Path,
    statuses: list[int],
    posts: int,
    waits: list[float],
) -> None:
    receiver = receiver_factory(SITE, KEY.public_key())
    answers = iter(statuses)
    receiver.answer = lambda upload: next(answers)
    file = tmp_path / "range.mp4"
    file.write_bytes(b"\0\0\0\x08free")
    slept: list[float] = []
    uploader = Uploader(receiver.url(RID), SITE, RID, KEY, timeout_s=5.0)
    try:
        answer = uploader.post_range(file, 10.0, 70.0, sleep=slept.append)
    finally:
        uploader.close()
    assert answer.status == statuses[posts - 1] and slept == waits
    assert len(receiver.uploads) == posts and receiver.problems == []
