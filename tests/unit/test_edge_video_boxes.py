"""Splitting a fragmented MP4 byte stream into the init and media parts a live upload sends:
literal boxes (a size, a type, a payload), fed whole, byte by byte and in odd chunks."""

from __future__ import annotations

import struct

import pytest

from sitewatch.edge.video.boxes import MAX_BOX_BYTES, BoxError, FragmentSplitter, split_boxes


def box(kind: str, payload: bytes = b"", large: bool = False) -> bytes:
    """A top-level box; ``large``: with a 64-bit size (size field 1)."""
    if large:
        return struct.pack(">I4sQ", 1, kind.encode(), 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


FTYP, MOOV = box("ftyp", b"isom\0\0\2\0"), box("moov", b"m" * 40)
MOOF1, MDAT1 = box("moof", b"a" * 20), box("mdat", b"A" * 300)
MOOF2, MDAT2 = box("moof", b"b" * 20), box("mdat", b"B" * 100, large=True)
STYP = box("styp", b"msdh")
MFRA = box("mfra", b"z" * 12)
STREAM = FTYP + MOOV + MOOF1 + MDAT1 + STYP + MOOF2 + MDAT2 + MFRA


def feed_in(chunks: list[bytes]) -> list[tuple[str, bytes, float]]:
    """Everything ``chunks`` yields; chunk i arrives at time i (seconds)."""
    splitter = FragmentSplitter()
    return [(p.kind, p.data, p.at) for i, c in enumerate(chunks) for p in splitter.feed(c, i)]


def test_split_boxes_keeps_an_incomplete_box() -> None:
    boxes, rest = split_boxes(FTYP + MOOV[:10])
    assert [(b.kind, b.data) for b in boxes] == [("ftyp", FTYP)]
    assert rest == MOOV[:10]
    boxes, rest = split_boxes(MDAT2)  # 64-bit size
    assert [b.kind for b in boxes] == ["mdat"] and rest == b""


def test_whole_stream_gives_init_then_one_part_per_fragment() -> None:
    parts = feed_in([STREAM])
    assert [(k, d) for k, d, _ in parts] == [
        ("init", FTYP + MOOV),
        ("media", MOOF1 + MDAT1),
        ("media", STYP + MOOF2 + MDAT2),  # a styp before a moof travels with its fragment
    ]  # the trailing mfra is no part


@pytest.mark.parametrize("size", [1, 3, 7, 16, 64, 333])
def test_any_chunking_gives_the_same_parts(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert [(k, d) for k, d, _ in feed_in(chunks)] == [(k, d) for k, d, _ in feed_in([STREAM])]


def test_a_part_is_timed_when_its_first_byte_came() -> None:
    # chunk 0: init and half of moof1; chunk 1: the rest of fragment 1 and the start of styp;
    # chunk 2: the rest
    cut1 = len(FTYP + MOOV) + 5
    cut2 = len(FTYP + MOOV + MOOF1 + MDAT1) + 3
    parts = feed_in([STREAM[:cut1], STREAM[cut1:cut2], STREAM[cut2:]])
    assert [(k, at) for k, _, at in parts] == [("init", 0), ("media", 0), ("media", 1)]
    # a fragment whose first byte begins a chunk after an exact box boundary
    cut = len(FTYP + MOOV + MOOF1 + MDAT1)
    parts = feed_in([STREAM[:cut], b"", STREAM[cut:]])
    assert [(k, at) for k, _, at in parts] == [("init", 0), ("media", 0), ("media", 2)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (box("mdat", b"x") + MOOF1, "before the first moof, got 'mdat'"),
        (FTYP + MOOF1, r"expected ftyp\+moov before the first moof, got \['ftyp'\]"),
        (struct.pack(">I4s", 0, b"mdat"), "of size 0"),
        (struct.pack(">I4s", 4, b"moov"), "of 4 bytes"),
        (struct.pack(">I4s", MAX_BOX_BYTES + 1, b"mdat"), "not fragmented MP4"),
        (b"\x00\x00\x00\x10\xff\xfe\x00\x01" + b"\0" * 8, "4-character box type"),
        (b"<html><body>not video</body></html>", "not fragmented MP4"),
    ],
)
def test_bytes_that_are_not_fragmented_mp4_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(BoxError, match=expected):
        FragmentSplitter().feed(data, 0.0)
