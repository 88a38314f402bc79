"""The tile look: a frame's small heads seen again in overlapping tiles near its own pixels.

A 1080p view or a large photo is analysed whole at 640 and once more at 960 (the fine look):
a head 40 px tall in the frame is 13-20 model px there, too few to be found or to tell a knit
cap from a hard hat (a 960x540 frame at 416 likewise). The tile look cuts the frame into
overlapping squares that the model sees at a scale of its own (``sitewatch detect``: 1.5x its
own resolution; ``TILE_MAX_SIDE`` bounds the work on very large photos) and adds the head
states found there (``defer_to_closer``, ``merge_other_scale``). These are the pure parts.
"""

from __future__ import annotations

import math

import numpy as np

from sitewatch.core.geometry import IntArray
from sitewatch.edge.detect.decode import nms_per_class
from sitewatch.edge.detect.head_look import cut_by_edge
from sitewatch.edge.detections import Detections

TILE_INPUT = 640
"""The tiles' square model input (model px)."""
TILE_SCALE = 1.5
"""The tiles see a frame at this many times its own resolution (``sitewatch detect``'s and the
edge's ``tile_look``; models/README.md, "The tile look")."""
TILE_MAX_SIDE = 2880
"""The tiles see a frame at most as if its long side were this many px: at scale 1.5 a 1080p
frame in 24 tiles, a 4000x3000 photo at 0.72 in 30."""
TILE_MIN_GAIN = 3.0
"""A frame is seen in tiles only if they show it at least this many times larger than the whole
pass did: there a tile judges a small head better than the whole pass, and decides its state
(with ``sitewatch detect``'s defaults: frames at least 832 px long; models/README.md, "The tile
look")."""
TILE_CUE_INPUT = 960
"""With a cue score (``Detector.tile_cue``) a tiled frame is seen whole once more at this square
input (the fine look of ``sitewatch detect`` at 1080p), its heads merged in like the fine
look's: far people the whole pass misses show there, at low scores, as the tiles' cues."""
TILE_OVERLAP = 0.25
"""Neighbouring tiles share at least this share of a tile's side, so that a head cut by one
tile's inner edge lies whole in the next (a head is far smaller than a quarter tile)."""


def tile_scale(frame_hw: tuple[int, int], scale: float, max_side: int = TILE_MAX_SIDE) -> float:
    """Model px per frame px of the tile look for a frame of ``frame_hw``: ``scale``, or less
    where that would make its long side more than ``max_side`` px."""
    return min(scale, max_side / max(frame_hw))


def tile_regions(
    frame_hw: tuple[int, int],
    scale: float,
    tile_input: int = TILE_INPUT,
    overlap: float = TILE_OVERLAP,
) -> IntArray:
    """``(N, 4)`` int ``x0, y0, x1, y1`` frame-px squares of side ``tile_input / scale`` (cut
    to the frame where it is smaller) that cover the frame, evenly spaced with neighbours
    overlapping by at least ``overlap`` of a side. One region when the frame fits in one."""
    if not 0.0 <= overlap < 1.0 or scale <= 0.0:
        raise ValueError(f"overlap must be in [0, 1) and scale above 0, got {overlap}, {scale}")
    side = max(1, round(tile_input / scale))
    step = side * (1.0 - overlap)
    ys = _starts(frame_hw[0], side, step)
    xs = _starts(frame_hw[1], side, step)
    return np.asarray(
        [(x, y, min(x + side, frame_hw[1]), min(y + side, frame_hw[0])) for y in ys for x in xs],
        dtype=np.int64,
    ).reshape(-1, 4)


def _starts(length: int, side: int, step: float) -> list[int]:
    """Start offsets of tiles of ``side`` along ``length``, the first at 0, the last flush with
    the end, at most ``step`` apart."""
    if length <= side:
        return [0]
    count = math.ceil((length - side) / step) + 1
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def cued_regions(regions: IntArray, found: Detections, min_score: float) -> IntArray:
    """The rows of ``regions`` (``x0, y0, x1, y1`` frame px) that a box of ``found`` scoring at
    least ``min_score`` overlaps, any label: where the whole pass saw someone, however small
    or unsure. A head that no such box touches is not looked for; a head cut by a kept
    tile's inner edge lies whole in a neighbour that its cue box also touches."""
    boxes = found.xyxy[found.scores >= min_score]
    if len(regions) == 0 or len(boxes) == 0:
        return regions[:0]
    r = regions.astype(np.float32)[:, None, :]
    b = boxes[None, :, :]
    overlaps = (
        (b[..., 0] < r[..., 2]) & (b[..., 2] > r[..., 0])
        & (b[..., 1] < r[..., 3]) & (b[..., 3] > r[..., 1])
    )  # fmt: skip
    return regions[overlaps.any(axis=1)]


def tiles_to_frame(
    found: list[Detections],
    regions: IntArray,
    frame_hw: tuple[int, int],
    iou: float,
    max_detections: int,
) -> Detections:
    """One frame's detections from its tiles' (tile px, ``found[i]`` from ``regions[i]``), in
    frame px: boxes cut by a tile's inner edge dropped (a neighbour holds them whole), the rest
    shifted and suppressed per label across tiles (best score first)."""
    parts = []
    for dets, (x0, y0, x1, y1) in zip(found, regions.tolist(), strict=True):
        whole = dets[~cut_by_edge(dets.xyxy, (y1 - y0, x1 - x0), (x0, y0), frame_hw)]
        shift = np.asarray([x0, y0, x0, y0], dtype=np.float32)
        parts.append(Detections(whole.xyxy + shift, whole.scores, whole.class_ids, whole.labels))
    merged = Detections.concat(parts)
    keep = nms_per_class(merged.xyxy, merged.scores, merged.class_ids, iou, max_detections)
    return merged[keep]
