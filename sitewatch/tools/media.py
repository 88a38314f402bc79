"""Frames from image files, folders of images and video files, for one-off detection runs.

Each item is a named frame or a named failure, so one bad file never stops the others.
Video frames are sampled every ``every_s`` seconds and named ``clip.mp4#frame=125``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.core.geometry import Image
from sitewatch.tools.dataset import IMAGE_SUFFIXES

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg"})
FALLBACK_FPS = 25.0
"""Frame rate assumed for a video that does not state one."""


@dataclass(frozen=True)
class MediaItem:
    """A decoded frame, or the reason there is none. ``name`` is the path (plus ``#frame=N``)."""

    name: str
    frame: Image | None = None
    error: str | None = None


def iter_media(paths: Iterable[str | Path], every_s: float = 1.0) -> Iterator[MediaItem]:
    """Frames of every image and sampled video frame under ``paths``, in the order given.

    A folder contributes its images and videos (sorted, not recursive).
    """
    if every_s <= 0:
        raise ValueError(f"every_s must be a positive number of seconds, got {every_s}")
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
            if not files:
                yield MediaItem(str(path), error="folder has no image or video files")
            for file in files:
                yield from _file_items(file, every_s)
        elif path.is_file():
            yield from _file_items(path, every_s)
        else:
            yield MediaItem(str(path), error="no such file or folder")


def _file_items(path: Path, every_s: float) -> Iterator[MediaItem]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_items(path, every_s)
        return
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        yield MediaItem(str(path), error="cannot decode as an image (corrupt or unsupported)")
    else:
        yield MediaItem(str(path), frame=np.asarray(frame, dtype=np.uint8))


def _video_items(path: Path, every_s: float) -> Iterator[MediaItem]:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            yield MediaItem(str(path), error="cannot open as a video (corrupt or unsupported)")
            return
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not fps or fps != fps or fps <= 0:
            fps = FALLBACK_FPS
        step = max(1, round(every_s * fps))
        index = 0
        while capture.grab():
            if index % step == 0:
                ok, frame = capture.retrieve()
                name = f"{path}#frame={index}"
                if ok and frame is not None:
                    yield MediaItem(name, frame=np.asarray(frame, dtype=np.uint8))
                else:
                    yield MediaItem(name, error="cannot decode this video frame")
            index += 1
        if index == 0:
            yield MediaItem(str(path), error="video has no decodable frames")
    finally:
        capture.release()
