"""Draw detections on a frame: a box and a ``label score`` tag per detection, readable.

Sizes follow the image's height (:func:`sizes`), so a 360p snapshot and a 1080p still carry
tags of the same share of the picture: text :data:`TEXT_SHARE` of the height (at least
:data:`MIN_TEXT_PX`), on a filled tag in the box's colour above the box (inside it where the
box touches the top), in black or white, whichever reads on that colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.edge.detections import Detections

COLOURS: dict[str, tuple[int, int, int]] = {
    "helmet": (60, 200, 60),
    "head": (40, 40, 230),
    "person": (220, 160, 40),
    "cigarette": (0, 200, 255),
}
"""BGR colour per label; other labels get ``OTHER_COLOUR``."""
OTHER_COLOUR = (200, 200, 200)
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SHARE = 0.03
"""A tag's text height (cap height, pixels) as a share of the image's height."""
MIN_TEXT_PX = 11
"""The smallest text height drawn, for small images."""
LINE_SHARE = 1 / 240
"""A box's line width as a share of the image's height (at least 2 px)."""
_HERSHEY_PX = cv2.getTextSize("Hg", FONT, 1.0, 1)[0][1]  # text height at font scale 1


def sizes(height: int) -> tuple[int, float, int]:
    """Line width (px), font scale and text stroke (px) for an image ``height`` pixels tall."""
    text_px = max(MIN_TEXT_PX, height * TEXT_SHARE)
    scale = text_px / _HERSHEY_PX
    return max(2, round(height * LINE_SHARE)), scale, max(1, round(scale * 1.6))


def draw_box(
    out: npt.NDArray[np.uint8],
    box: Sequence[float] | npt.NDArray[np.floating],
    text: str,
    colour: tuple[int, int, int],
) -> None:
    """Draw ``box`` (xyxy pixels of ``out``) and a tag with ``text`` on ``out``, in place."""
    h, w = out.shape[:2]
    line, scale, stroke = sizes(h)
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), colour, line, cv2.LINE_AA)
    if not text:
        return
    (tw, th), base = cv2.getTextSize(text, FONT, scale, stroke)
    pad = max(2, th // 4)
    tag_h = th + base + 2 * pad
    top = y1 - tag_h if y1 - tag_h >= 0 else min(max(y1, 0), max(h - tag_h, 0))
    left = min(max(x1, 0), max(w - tw - 2 * pad, 0))
    cv2.rectangle(out, (left, top), (left + tw + 2 * pad, top + tag_h), colour, -1)
    ink = (0, 0, 0) if _luma(colour) > 110 else (255, 255, 255)
    cv2.putText(out, text, (left + pad, top + pad + th), FONT, scale, ink, stroke, cv2.LINE_AA)


def draw_box_norm(
    frame: npt.NDArray[np.uint8],
    box_norm: Sequence[float],
    text: str,
    colour: tuple[int, int, int],
) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` with a box given normalised (0..1 of width and height) drawn on it:
    the same box on a frame of any resolution (the full-resolution still of the main stream)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box_norm)
    out = frame.copy()
    draw_box(out, (x1 * w, y1 * h, x2 * w, y2 * h), text, colour)
    return out


def annotate(frame: npt.NDArray[np.uint8], dets: Detections) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` with each detection's box and ``label 0.91`` drawn on it."""
    out = frame.copy()
    for box, score, label in dets:
        draw_box(out, box, f"{label} {score:.2f}", COLOURS.get(label, OTHER_COLOUR))
    return out


def _luma(bgr: tuple[int, int, int]) -> float:
    b, g, r = bgr
    return 0.299 * r + 0.587 * g + 0.114 * b
