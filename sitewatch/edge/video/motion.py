"""Motion gating: skip inference for a camera whose scene has not changed.

A small blurred grey copy of each due frame is compared with the copy of the frame last
sent to the detector; when less than ``min_area`` of it changed by more than
``pixel_delta`` grey levels, the frame is skipped and the camera's previous detections stand
(the tracker and rules see the scene as it was). A camera is analysed at least every
``max_skip_s`` seconds regardless, so a still worker without a hard hat is re-checked and
alerts still end. What it saves and costs: bench/RESULTS.md, "Motion gating".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GREY_WIDTH = 96
"""Width of the grey copy compared; its height keeps the frame's aspect ratio."""


@dataclass
class MotionGate:
    pixel_delta: int = 12
    """Grey-level change (0-255) that counts a pixel of the small copy as changed."""
    min_area: float = 0.003
    """Share of the small copy that must change for the scene to count as changed."""
    max_skip_s: float = 5.0
    """Longest time a camera goes without inference, motion or not."""

    def __post_init__(self) -> None:
        if not 0 < self.pixel_delta < 256:
            raise ValueError(f"pixel_delta must be 1..255 grey levels, got {self.pixel_delta}")
        if not 0.0 <= self.min_area <= 1.0:
            raise ValueError(f"min_area must be a share 0..1, got {self.min_area}")
        if self.max_skip_s < 0:
            raise ValueError(f"max_skip_s must be >= 0 seconds, got {self.max_skip_s}")
        self._reference: npt.NDArray[np.uint8] | None = None
        self._analysed_at = float("-inf")
        self.skipped = 0
        self.analysed = 0

    def should_analyse(self, frame: npt.NDArray[np.uint8], ts: float) -> bool:
        """True when ``frame`` (BGR) differs enough from the last analysed one, or is due."""
        small = _small_grey(frame)
        ref = self._reference
        due = ts - self._analysed_at >= self.max_skip_s
        if ref is None or ref.shape != small.shape or due or self._changed(ref, small):
            self._reference, self._analysed_at = small, ts
            self.analysed += 1
            return True
        self.skipped += 1
        return False

    def _changed(self, ref: npt.NDArray[np.uint8], small: npt.NDArray[np.uint8]) -> bool:
        diff = cv2.absdiff(ref, small)
        return float(np.count_nonzero(diff > self.pixel_delta)) >= self.min_area * diff.size


def _small_grey(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    h, w = frame.shape[:2]
    size = (GREY_WIDTH, max(1, round(h * GREY_WIDTH / w)))
    grey = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.uint8)
