"""The live relay's clockwork (sitewatch.console.video.hub) on a real event loop with short
timings: renewals only while watched, stop after the grace, the first-part timeout, the edge's
error part, a full queue. The commands go to a list instead of MQTT (the hub's ``send`` seam)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import pytest

from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.video.hub import HubTiming, LiveHub, Viewer
from sitewatch.contract import messages as m

T = TypeVar("T")
KEY = ("north", "gate", "detect")
AVCC = bytes.fromhex("0164001fffe1001a")


def url_of(request_id: UUID) -> str:
    return f"http://console.test/api/edge/video/{request_id}"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


INIT = _box(b"ftyp", b"isom") + _box(
    b"moov",
    _box(b"trak", _box(b"mdia", _box(b"minf", _box(b"stbl", _box(
        b"stsd", struct.pack(">II", 0, 1) + _box(b"avc1", bytes(78) + _box(b"avcC", AVCC))
    ))))),
)  # fmt: skip


def run(make: Callable[[LiveHub, list[m.VideoCommand]], Awaitable[T]], **timing: float) -> T:
    sent: list[m.VideoCommand] = []

    async def main() -> T:
        hub = LiveHub(sent.append, HubTiming(**timing))  # type: ignore[arg-type]
        try:
            return await make(hub, sent)
        finally:
            await hub.close()

    return asyncio.run(main())


async def _join(hub: LiveHub, sent: list[m.VideoCommand], user: str = "li.wei") -> Viewer:
    """A viewer of KEY once the init part came (delivered as soon as the command is out)."""
    task = asyncio.create_task(hub.watch(KEY, user=user, upload_url=url_of))
    while not sent:
        await asyncio.sleep(0.001)
    hub.deliver(sent[0].request_id, "north", "init", 0, 1.0, INIT)
    return await task


def test_the_command_is_renewed_while_watched_and_stopped_after_the_grace() -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> list[str]:
        viewer = await _join(hub, sent)
        await asyncio.sleep(0.25)  # renewals every 0.05 s
        hub.leave(viewer)
        await asyncio.sleep(0.1)  # within the grace: no renewal, no stop
        assert sent[-1].action == "live"
        quiet = len(sent)
        for _ in range(300):  # the grace ends 0.3 s after the leave (slack for a busy machine)
            if hub.info(KEY)["session"] is None:
                break
            await asyncio.sleep(0.01)
        assert hub.info(KEY)["session"] is None
        assert hub.deliver(sent[0].request_id, "north", "media", 1, 2.0, b"m") == "over"
        return [c.action for c in sent[quiet:]]

    assert run(scenario, renew_s=0.05, grace_s=0.3) == ["stop"]


def test_renewals_while_watched() -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> int:
        await _join(hub, sent)
        await asyncio.sleep(0.26)
        assert {c.request_id for c in sent} == {sent[0].request_id}
        assert all(c.action == "live" for c in sent)
        return len(sent)

    assert run(scenario, renew_s=0.05) >= 3  # the first, then one every 0.05 s


def test_a_viewer_joining_gets_the_init_part_and_the_newest_fragment() -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> list[bytes]:
        first = await _join(hub, sent)
        rid: UUID = sent[0].request_id
        for seq, part in enumerate([b"m1", b"m2", b"m2-again"], start=1):
            hub.deliver(rid, "north", "media", min(seq, 2), float(seq), part)
        second = await hub.watch(KEY, user="b", upload_url=url_of)
        hub.deliver(rid, "north", "media", 3, 3.0, b"m3")
        assert hub.deliver(rid, "south", "media", 4, 4.0, b"x") == "wrong_site"
        got = [await anext(aiter(second.parts())) for _ in range(3)]
        assert [await anext(aiter(first.parts())) for _ in range(4)] == [INIT, b"m1", b"m2", b"m3"]
        info = hub.info(KEY)
        assert (info["viewers"], info["parts"], info["last_part_time"]) == (2, 4, 3.0)
        return got

    assert run(scenario) == [INIT, b"m2", b"m3"]


def test_a_viewer_whose_queue_is_full_is_dropped_the_others_go_on() -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> tuple[bool, int]:
        slow = await _join(hub, sent)
        fast = await hub.watch(KEY, user="fast", upload_url=url_of)
        got: list[bytes] = []

        async def read() -> None:
            async for part in fast.parts():
                got.append(part)

        reader = asyncio.create_task(read())
        for seq in range(1, 11):
            hub.deliver(sent[0].request_id, "north", "media", seq, float(seq), b"x" * 100)
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert [p async for p in slow.parts()] == [], "a dropped viewer's stream just ends"
        hub.leave(fast)
        await reader
        return slow.dropped, len(got)

    assert run(scenario, viewer_parts=4) == (True, 11)  # init + 10 fragments


def test_no_first_part_in_time_is_a_timeout_and_the_session_is_given_up() -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> list[str]:
        with pytest.raises(ConsoleError) as caught:
            await hub.watch(KEY, user="li.wei", upload_url=url_of)
        assert (caught.value.code, caught.value.status) == ("video.timeout", 504)
        assert hub.info(KEY)["session"] is None
        return [c.action for c in sent]

    assert run(scenario, first_part_s=0.05) == ["live", "stop"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("camera_offline", "video.camera_offline"), ("busy", "video.busy"), ("x", "video.failed")],
)
def test_the_edge_s_error_part_reaches_the_waiting_viewer(code: str, expected: str) -> None:
    async def scenario(hub: LiveHub, sent: list[m.VideoCommand]) -> str:
        task = asyncio.create_task(hub.watch(KEY, user="li.wei", upload_url=url_of))
        while not sent:
            await asyncio.sleep(0.001)
        assert hub.fail(sent[0].request_id, "north", code, "no RTSP answer") == "ok"
        with pytest.raises(ConsoleError) as caught:
            await task
        assert hub.fail(sent[0].request_id, "north", code, "again") == "over"
        return caught.value.code

    assert run(scenario) == expected
