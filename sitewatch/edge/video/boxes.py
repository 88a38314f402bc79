"""Fragmented MP4 from a byte stream, cut into the parts a live upload sends.

ISO-BMFF is a sequence of top-level boxes: a 32-bit big-endian size (of the whole box, header
included), a 4-character type, and when the size is 1 a 64-bit size after the type. ffmpeg's
``-movflags empty_moov+default_base_moof+frag_keyframe`` writes ``ftyp`` + ``moov`` (the *init*
part: codecs, no samples), then per fragment ``moof`` + ``mdat`` (a *media* part, a keyframe
first), optionally preceded by ``styp``/``sidx``/``prft``, and an ``mfra`` index at the end.
:class:`FragmentSplitter` takes bytes as they come (any chunking) and hands back whole parts;
what follows the last ``mdat`` when the stream ends (``mfra``) is no part and is left out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

PartKind = Literal["init", "media"]
MAX_BOX_BYTES = 256 * 1024 * 1024
"""Largest top-level box taken; a bigger size means the bytes are not fMP4 (or are corrupt)."""
INIT_BOXES = frozenset({"ftyp", "moov", "free", "skip", "uuid"})
"""Boxes that may make up the init part (before the first fragment)."""


class BoxError(ValueError):
    """Bytes that are not a fragmented MP4 stream; the text says what came."""


@dataclass(frozen=True)
class Box:
    """One whole top-level box: its type and its bytes (header included)."""

    kind: str
    data: bytes


@dataclass(frozen=True)
class Part:
    """What one upload carries: ``init`` (ftyp+moov) or ``media`` ([styp/sidx]+moof+mdat).
    ``at`` is the caller's clock when the part's first byte arrived (Unix seconds)."""

    kind: PartKind
    data: bytes
    at: float


def box_header(head: bytes) -> tuple[str, int, int] | None:
    """``(type, size, header length)`` of the box whose first bytes are ``head``; None while
    fewer than its header's bytes (8, or 16 for a 64-bit size) have come. :class:`BoxError`
    for a size that cannot be (0 = "to the end", which a stream cannot have, or out of bounds)."""
    if len(head) < 8:
        return None
    size, raw = struct.unpack(">I4s", head[:8])
    kind = raw.decode("latin-1")
    header = 8
    if size == 1:
        if len(head) < 16:
            return None
        (size,) = struct.unpack(">Q", head[8:16])
        header = 16
    if size == 0:
        raise BoxError(f"expected a sized box in a live stream, got {kind!r} of size 0 (to EOF)")
    if not header <= size <= MAX_BOX_BYTES:
        raise BoxError(
            f"expected a box of {header} to {MAX_BOX_BYTES} bytes, got {kind!r} of {size} bytes: "
            "the stream is not fragmented MP4 (check the ffmpeg command) or is corrupt"
        )
    if not raw.isascii() or not kind.isprintable():
        raise BoxError(f"expected a 4-character box type, got {raw!r}: not an MP4 stream")
    return kind, size, header


def split_boxes(data: bytes) -> tuple[list[Box], bytes]:
    """The whole boxes at the start of ``data``, and the bytes of an incomplete one after them."""
    boxes: list[Box] = []
    i = 0
    while True:
        head = box_header(data[i : i + 16])
        if head is None or i + head[1] > len(data):
            return boxes, data[i:]
        boxes.append(Box(head[0], data[i : i + head[1]]))
        i += head[1]


class FragmentSplitter:
    """Bytes in (:meth:`feed`), whole init and media parts out, in stream order.

    The init part is every box before the first ``moof`` (it must hold ``moov``); each media
    part ends with an ``mdat`` and holds the boxes since the previous one. ``at`` of a part is
    the ``now`` given with the chunk that brought its first byte."""

    def __init__(self) -> None:
        self._pending = b""  # bytes of an incomplete box
        self._pending_at = 0.0  # when the first of them arrived
        self._boxes: list[Box] = []  # whole boxes of the part being gathered
        self._started = 0.0  # when the first byte of the part being gathered arrived
        self.init_sent = False

    def feed(self, chunk: bytes, now: float) -> list[Part]:
        """The parts ``chunk`` completes (often none); :class:`BoxError` on a broken stream."""
        if not self._pending:
            self._pending_at = now
        boxes, rest = split_boxes(self._pending + chunk)
        parts: list[Part] = []
        for i, box in enumerate(boxes):
            at = self._pending_at if i == 0 else now  # later boxes began in this chunk
            if not self.init_sent and box.kind == "moof":
                parts.append(self._close("init"))
            if not self._boxes:
                self._started = at
            self._boxes.append(box)
            if self.init_sent and box.kind == "mdat":
                parts.append(self._close("media"))
            elif not self.init_sent and box.kind not in INIT_BOXES:
                raise BoxError(
                    f"expected {', '.join(sorted(INIT_BOXES))} before the first moof, got "
                    f"{box.kind!r}: is ffmpeg writing -f mp4 with -movflags empty_moov?"
                )
        if boxes and rest:
            self._pending_at = now  # the incomplete box began in this chunk
        self._pending = rest
        return parts

    def _close(self, kind: PartKind) -> Part:
        if kind == "init" and not any(b.kind == "moov" for b in self._boxes):
            got = [b.kind for b in self._boxes]
            raise BoxError(f"expected ftyp+moov before the first moof, got {got}: no init part")
        part = Part(kind, b"".join(b.data for b in self._boxes), self._started)
        self._boxes = []
        self.init_sent = True
        return part
