"""Draw detections on a frame: a box and ``label score`` per detection."""

from __future__ import annotations

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


def annotate(frame: npt.NDArray[np.uint8], dets: Detections) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` with each detection's box and ``label 0.91`` drawn on it."""
    out = frame.copy()
    thickness = max(1, round(max(frame.shape[:2]) / 500))
    scale = max(0.4, max(frame.shape[:2]) / 1500)
    for box, score, label in dets:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        colour = COLOURS.get(label, OTHER_COLOUR)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{label} {score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(
            out,
            text,
            (x1 + 1, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return out
