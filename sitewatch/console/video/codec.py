"""The MSE type of a fragmented MP4 from its init part (``ftyp`` + ``moov``).

A browser's ``MediaSource.addSourceBuffer`` needs the exact codecs, e.g.
``video/mp4; codecs="avc1.64001f"``: H.264 says profile, constraint flags and level from its
``avcC`` box; H.265 (``hvc1``/``hev1``) says profile space and profile, the compatibility flags
(bit-reversed), tier and level and the constraint bytes from its ``hvcC`` box (ISO/IEC 14496-15
annex E); AAC audio says ``mp4a.40.<audio object type>``. Pure bytes in, text out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
VISUAL_ENTRY_BYTES = 78  # after the sample entry's box header: fields before its child boxes
AUDIO_ENTRY_BYTES = 28


class CodecError(ValueError):
    """An init part whose codec cannot be named; the text says what was expected and found."""


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload_start, payload_end)`` of each box in ``data[start:end]``, in order;
    :class:`CodecError` for a box whose size runs past the end."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise CodecError(f"a 64-bit {kind!r} box size cut off at byte {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CodecError(
                f"expected a {kind!r} box of at most {end - pos} bytes at byte {pos}, got a "
                f"size of {size}: the init part is cut off or not MP4"
            )
        yield kind, pos + header, pos + size
        pos += size


def _find(data: bytes, path: tuple[bytes, ...], start: int, end: int) -> list[tuple[int, int]]:
    """Payload spans of every box at ``path`` below ``data[start:end]``."""
    found = []
    for kind, a, b in boxes(data, start, end):
        if kind == path[0]:
            found += [(a, b)] if len(path) == 1 else _find(data, path[1:], a, b)
    return found


def _avc(config: bytes) -> str:
    if len(config) < 4:
        raise CodecError(f"expected an avcC box of at least 4 bytes, got {len(config)}")
    return f"avc1.{config[1]:02x}{config[2]:02x}{config[3]:02x}"


def _hevc(kind: str, config: bytes) -> str:
    if len(config) < 13:
        raise CodecError(f"expected an hvcC box of at least 13 bytes, got {len(config)}")
    space = ("", "A", "B", "C")[config[1] >> 6]
    tier = "H" if config[1] & 0x20 else "L"
    profile = config[1] & 0x1F
    flags = int(f"{int.from_bytes(config[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(config[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [kind, f"{space}{profile}", f"{flags:x}", f"{tier}{config[12]}"]
    return ".".join(parts + [f"{b:X}" for b in constraints])


def _aac(esds: bytes) -> str:
    """``mp4a.40.<aot>`` from the esds descriptors (object type 0x40 = MPEG-4 audio)."""
    pos = 4  # version and flags
    object_type, aot = None, None
    while pos < len(esds):
        tag = esds[pos]
        pos += 1
        length = 0
        for _ in range(4):
            byte = esds[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:  # ES descriptor: id, flags, then nested descriptors
            flags = esds[pos + 2]
            pos += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                pos += 1 + esds[pos]
            continue
        if tag == 0x04:  # decoder config: object type, then the decoder-specific info
            object_type = esds[pos]
            pos += 13
            continue
        if tag == 0x05 and length:
            aot = esds[pos] >> 3
        pos += length
    if object_type != 0x40:
        return f"mp4a.{object_type or 0x40:x}"
    return f"mp4a.40.{aot or 2}"


def _sample_codec(data: bytes, kind: bytes, a: int, b: int) -> str | None:
    name = kind.decode("latin-1")
    if kind in (b"avc1", b"avc3"):
        for child, ca, cb in boxes(data, a + VISUAL_ENTRY_BYTES, b):
            if child == b"avcC":
                return _avc(data[ca:cb]).replace("avc1", name, 1)
        raise CodecError(f"expected an avcC box in the {name} sample entry, found none")
    if kind in (b"hvc1", b"hev1"):
        for child, ca, cb in boxes(data, a + VISUAL_ENTRY_BYTES, b):
            if child == b"hvcC":
                return _hevc(name, data[ca:cb])
        raise CodecError(f"expected an hvcC box in the {name} sample entry, found none")
    if kind == b"mp4a":
        for child, ca, cb in boxes(data, a + AUDIO_ENTRY_BYTES, b):
            if child == b"esds":
                try:
                    return _aac(data[ca:cb])
                except IndexError:
                    cut = data[ca:cb][:40]
                    raise CodecError(f"expected an esds box, got one cut off: {cut!r}") from None
        return "mp4a.40.2"
    return None


def codecs(init: bytes) -> list[str]:
    """The codec of each track of ``init`` (an fMP4 init part), video first as the tracks
    come; :class:`CodecError` when it is not MP4 or holds no track whose codec is known."""
    found: list[str] = []
    unknown: list[str] = []
    for a, b in _find(init, (*CONTAINERS, b"stsd"), 0, len(init)):
        for kind, ea, eb in boxes(init, a + 8, b):  # after version, flags and entry count
            codec = _sample_codec(init, kind, ea, eb)
            if codec is None:
                unknown.append(kind.decode("latin-1"))
            else:
                found.append(codec)
    if not found:
        raise CodecError(
            "expected an init part (ftyp + moov) with an H.264 (avc1), H.265 (hvc1/hev1) or "
            f"AAC track, got {'sample entries ' + str(unknown) if unknown else 'no track'}: "
            "the edge streams the camera by stream copy, so the camera's codec must be one of them"
        )
    return found


def mse_type(init: bytes) -> str:
    """The type for ``MediaSource.addSourceBuffer``, e.g. ``video/mp4; codecs="avc1.64001f"``."""
    return f'video/mp4; codecs="{",".join(codecs(init))}"'
