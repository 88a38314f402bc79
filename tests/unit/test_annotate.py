"""Readable evidence drawings: the box where the normalised box says on a still of any size,
tags whose text grows with the image, the clean still left untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from sitewatch.edge.evidence.annotate import COLOURS, draw_box, draw_box_norm, sizes
from sitewatch.edge.evidence.files import EvidenceFileInfo, sha256_file
from sitewatch.edge.publish.delivery import _ClipJob, annotate_still

RED = COLOURS["head"]
BOX = (0.40, 0.30, 0.55, 0.70)


def _near(pixel: npt.NDArray[np.uint8], colour: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= tol)


@pytest.mark.parametrize(("w", "h"), [(640, 360), (1920, 1080), (2560, 1440)])
def test_box_drawn_where_the_normalised_box_says(w: int, h: int) -> None:
    frame = np.full((h, w, 3), 128, np.uint8)
    out = draw_box_norm(frame, BOX, "", RED)
    x1, y1, x2, y2 = round(BOX[0] * w), round(BOX[1] * h), round(BOX[2] * w), round(BOX[3] * h)
    ym, xm = (y1 + y2) // 2, (x1 + x2) // 2
    for y, x in [(ym, x1), (ym, x2), (y1, xm), (y2, xm)]:  # the four edges, at their middles
        assert _near(out[y, x], RED), f"no box line at ({x}, {y}) of a {w}x{h} still: {out[y, x]}"
    assert _near(out[ym, xm], (128, 128, 128), 0), "the box's inside is drawn over"
    assert _near(out[ym, x1 - 3 * sizes(h)[0]], (128, 128, 128), 0), "a line far left of it"
    assert np.array_equal(frame, np.full((h, w, 3), 128, np.uint8)), "the input was changed"


def _text_rows(image: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> int:
    """Height of the dark/light text ink inside the tag drawn above ``box``."""
    x1, y1 = box[0], box[1]
    tag = image[: y1 - 1, x1 : x1 + 400]
    ink = np.abs(tag.astype(int) - np.array(RED)).max(axis=2) > 60  # not the tag's fill
    ink &= np.abs(tag.astype(int) - 128).max(axis=2) > 10  # not the background either
    rows = np.flatnonzero(ink.any(axis=1))
    return int(rows.max() - rows.min() + 1) if rows.size else 0


def test_tag_text_height_scales_with_the_image() -> None:
    heights = {}
    for h in (360, 1080):
        w = h * 16 // 9
        frame = np.full((h, w, 3), 128, np.uint8)
        box = (w // 4, h // 2, w // 4 + h // 5, h // 2 + h // 5)
        out = frame.copy()
        draw_box(out, box, "no_helmet: head 0.81", RED)
        heights[h] = _text_rows(out, box)
    assert heights[360] >= 10, f"text {heights[360]} px high on a 360p snapshot: unreadable"
    ratio = heights[1080] / heights[360]
    assert 2.4 <= ratio <= 3.6, f"text {heights} px: it should grow with the image (x3)"


def test_tag_stays_inside_a_box_at_the_top_edge() -> None:
    frame = np.full((360, 640, 3), 128, np.uint8)
    out = frame.copy()
    draw_box(out, (600, 0, 640, 60), "head 0.91", RED)  # top right corner: no room above
    fill = np.abs(out[:15, 585:635].astype(int) - np.array(RED)).max(axis=2) < 40
    assert fill.mean() > 0.3, "the tag is not drawn left of the box's right edge, at the top"


def test_annotated_still_beside_the_untouched_still(tmp_path: Path) -> None:
    h, w = 1080, 1920
    frame = np.full((h, w, 3), 128, np.uint8)
    path = tmp_path / "a1_still.jpg"
    assert cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    still = EvidenceFileInfo(
        "still", path.name, path, path.stat().st_size, sha256_file(path), "image/jpeg"
    )
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    job = _ClipJob("a1", "gate", 0.0, 10.0, 5.0, BOX, "no_helmet: head 0.81", "head")
    info = annotate_still(still, job)
    assert (info.kind, info.name, info.content_type) == (
        "still_annotated",
        "a1_still_annotated.jpg",
        "image/jpeg",
    )
    assert info.sha256 == sha256_file(info.path) and info.size_bytes == info.path.stat().st_size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the clean still changed"
    drawn = cv2.imread(str(info.path))
    assert drawn is not None, f"{info.path} is not a readable JPEG"
    x1, ym = round(BOX[0] * w), round((BOX[1] + BOX[3]) / 2 * h)
    assert _near(drawn[ym, x1], RED), f"no box on the annotated still at x={x1}: {drawn[ym, x1]}"
    info.to_message()  # the contract takes the new kind


def test_annotated_still_of_an_unreadable_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "a1_still.jpg"
    path.write_bytes(b"not a jpeg")
    still = EvidenceFileInfo("still", path.name, path, 10, "0" * 64, "image/jpeg")
    with pytest.raises(OSError, match="cannot read the still"):
        annotate_still(still, _ClipJob("a1", "gate", 0.0, 1.0, 0.5, BOX, "x", "head"))
