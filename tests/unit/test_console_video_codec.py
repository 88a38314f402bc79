"""The MSE type of an init part (sitewatch.console.video.codec): literal boxes, their bytes
taken from ffmpeg 5.1's fMP4 output (libx264 high@3.1, libx265 main, aac)."""

from __future__ import annotations

import struct

import pytest

from sitewatch.console.video.codec import CodecError, boxes, codecs, mse_type

# avcC: version 1, profile 0x64 (high), constraint flags 0x00, level 0x1f (3.1), ...
AVCC = bytes.fromhex("0164001fffe1001a")
# hvcC: version 1, space 0 tier main profile 1, compat 0x60000000, constraints 90 00.., level 63
HVCC = bytes.fromhex("010160000000900000000000" + "3ff000fcfdf8f800000f04")
# esds: ES descriptor > decoder config (object 0x40) > AudioSpecificConfig 0x1208 (AAC LC)
ESDS = bytes.fromhex(
    "0000000003808080250002000480808017401500000000010d8800010d880580808005120856e500068080800102"
)


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def visual(kind: bytes, config_kind: bytes, config: bytes) -> bytes:
    return box(kind, bytes(78) + box(config_kind, config))  # 78: the visual entry's fields


def init(*entries: bytes) -> bytes:
    """ftyp + moov with one track per sample entry."""
    traks = b"".join(
        box(
            b"trak",
            box(b"mdia", box(b"minf", box(b"stbl", box(b"stsd", struct.pack(">II", 0, 1) + e)))),
        )
        for e in entries
    )
    return box(b"ftyp", b"isom\x00\x00\x02\x00") + box(b"moov", box(b"mvhd", bytes(100)) + traks)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([visual(b"avc1", b"avcC", AVCC)], 'video/mp4; codecs="avc1.64001f"'),
        ([visual(b"avc3", b"avcC", AVCC)], 'video/mp4; codecs="avc3.64001f"'),
        ([visual(b"hvc1", b"hvcC", HVCC)], 'video/mp4; codecs="hvc1.1.6.L63.90"'),
        ([visual(b"hev1", b"hvcC", HVCC)], 'video/mp4; codecs="hev1.1.6.L63.90"'),
        (
            [visual(b"avc1", b"avcC", AVCC), box(b"mp4a", bytes(28) + box(b"esds", ESDS))],
            'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        ),
    ],
)
def test_the_mse_type_names_each_track(entries: list[bytes], expected: str) -> None:
    assert mse_type(init(*entries)) == expected


def test_hevc_main10_high_tier_and_profile_space() -> None:
    # space 1 (A), high tier, profile 2 (main 10); compat 0x20000000 -> reversed 4; level 150 (5)
    config = bytes.fromhex("01" + "62" + "20000000" + "b00000000000" + "96") + bytes(10)
    assert codecs(init(visual(b"hvc1", b"hvcC", config))) == ["hvc1.A2.4.H150.B0"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "no track"),
        (init(visual(b"mp4v", b"esds", b"")), "'mp4v'"),
        (init(visual(b"avc1", b"avcX", AVCC)), "avcC"),
        (init(visual(b"avc1", b"avcC", b"\x01")), "at least 4 bytes"),
        (box(b"ftyp", b"isom")[:-2], "cut off or not MP4"),
        (b"\x00\x00\x00", "no track"),  # shorter than a box header: nothing to read
        (struct.pack(">I4s", 400, b"moov") + bytes(20), "cut off or not MP4"),
    ],
)
def test_what_cannot_be_named_says_what_came(data: bytes, says: str) -> None:
    with pytest.raises(CodecError) as caught:
        mse_type(data)
    assert says in str(caught.value)


def test_boxes_read_64_bit_sizes_and_a_last_box_to_the_end() -> None:
    big = struct.pack(">I4sQ", 1, b"mdat", 16 + 3) + b"abc"
    rest = struct.pack(">I4s", 0, b"free") + b"xy"
    assert [(k, b - a) for k, a, b in boxes(big + rest)] == [(b"mdat", 3), (b"free", 2)]
