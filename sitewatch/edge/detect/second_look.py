"""Where to take a second, high-resolution look for cigarettes, and how to merge what it finds.

On surveillance footage a cigarette is a few pixels wide after the frame is shrunk to the model
input. The detector therefore crops each person's head-and-shoulders region from the
full-resolution frame and runs the model on the crops too. These are the pure parts of that.
"""

from __future__ import annotations

import math

import numpy as np

from sitewatch.core.geometry import FloatArray, IntArray
from sitewatch.edge.detect.decode import box_iou, nms_per_class
from sitewatch.edge.detections import Detections

PERSON_TOP = 0.45
"""Fraction of a person box, from its top, that holds head, shoulders and a raised hand."""
PERSON_WIDEN = 1.2
"""Width factor for a person's crop, so a hand held out to the side stays inside."""
HEAD_SCALE = 3.0
"""Crop side, in head sizes, for a head that no person box contains."""
HEAD_INSIDE = 0.8
"""A head counts as inside a person box when this share of its area is."""
DUPLICATE_IOU = 0.7
"""A crop overlapping an already chosen crop by more than this is skipped."""
HEAD_OF_WIDTH = 0.3
HEAD_OF_HEIGHT = 1 / 7
"""A person's head size, estimated as the larger of these shares of the box's width and
height (a standing person is about 7.5 heads tall; an upper body about 3 heads wide)."""
MAX_FRAME_SHARE = 0.75
"""A crop whose long side exceeds this share of the frame's long side is skipped: the
whole-frame pass already saw that region at nearly the same resolution."""


def head_regions(
    dets: Detections,
    frame_hw: tuple[int, int],
    *,
    min_score: float,
    max_crops: int,
    min_size: int,
    lone: tuple[str, ...] = ("head",),
    max_side: float = math.inf,
    max_head: float = math.inf,
) -> IntArray:
    """Integer ``(K, 4)`` xyxy crop regions (frame pixels) around heads and shoulders.

    One region per ``person`` scoring at least ``min_score`` (upper part of the box, widened,
    made square), then one per such box of a ``lone`` label (``head``; the head look adds
    ``helmet``) that no chosen person contains. Best scores first, near-duplicates and crops
    nearly as large as the frame skipped, at most ``max_crops``. Regions with a side over
    ``max_side`` px are skipped too (the head look: their crop would not be much sharper than
    the whole-frame pass), and so are those whose head is larger than ``max_head`` px (the
    head look: the whole pass saw it large enough); a person's head is estimated from its box.
    """
    labels = dets.labels
    strong = dets[dets.scores >= min_score]
    people = _by_score(strong, "person") if "person" in labels else strong[:0]
    heads = _by_score(strong, *[n for n in lone if n in labels])
    squares: list[tuple[float, float, float, float]] = []  # centre x, y, side, head size
    for x1, y1, x2, y2 in people.xyxy.tolist():
        top_h = (y2 - y1) * PERSON_TOP
        side = max((x2 - x1) * PERSON_WIDEN, top_h, min_size)
        head = max((x2 - x1) * HEAD_OF_WIDTH, (y2 - y1) * HEAD_OF_HEIGHT)
        squares.append(((x1 + x2) / 2, y1 + top_h / 2, side, head))
    if len(heads):
        inside = _share_inside(heads.xyxy, people.xyxy).max(axis=1, initial=0.0)
        for (x1, y1, x2, y2), share in zip(heads.xyxy.tolist(), inside.tolist(), strict=True):
            if share < HEAD_INSIDE:
                head = max(x2 - x1, y2 - y1)
                side = max(HEAD_SCALE * head, min_size)
                squares.append(((x1 + x2) / 2, y1 + 0.4 * side, side, head))  # head near the top
    chosen: list[list[int]] = []
    for cx, cy, side, head in squares:
        if side > MAX_FRAME_SHARE * max(frame_hw) or side > max_side or head > max_head:
            continue
        region = _square_in_frame(cx, cy, side, frame_hw)
        if region is None:
            continue
        if chosen:
            ious = box_iou(np.asarray([region], np.float32), np.asarray(chosen, np.float32))
            if ious.max() > DUPLICATE_IOU:
                continue
        chosen.append(region)
        if len(chosen) >= max_crops:
            break
    return np.asarray(chosen, dtype=np.int64).reshape(-1, 4)


def merge_cigarettes(
    frame_dets: Detections, crop_dets: list[Detections], iou: float, max_detections: int
) -> Detections:
    """Whole-frame detections plus crop cigarettes (already in frame pixels), NMS over cigarettes.

    Only ``cigarette`` boxes are taken from ``crop_dets``; other labels come from the frame.
    """
    cig = frame_dets.labels.index("cigarette")
    others = frame_dets[frame_dets.class_ids != cig]
    cigs = Detections.concat(
        [frame_dets.with_label("cigarette")] + [d.with_label("cigarette") for d in crop_dets]
    )
    if len(cigs) == 0:
        return frame_dets
    keep = nms_per_class(cigs.xyxy, cigs.scores, cigs.class_ids, iou, max_detections)
    merged = Detections.concat([others, cigs[keep]])
    order = np.argsort(-merged.scores, kind="stable")[:max_detections]
    return merged[order]


def _by_score(dets: Detections, *labels: str) -> Detections:
    picked = dets.with_label(*labels)
    return picked[np.argsort(-picked.scores, kind="stable")]


def _share_inside(inner: FloatArray, outer: FloatArray) -> FloatArray:
    """``(N, M)`` share of each inner box's area that lies inside each outer box."""
    lt = np.maximum(inner[:, None, :2], outer[None, :, :2])
    rb = np.minimum(inner[:, None, 2:], outer[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area = np.maximum((inner[:, 2:] - inner[:, :2]).prod(axis=1), 1e-6)
    share: FloatArray = (inter / area[:, None]).astype(np.float32)
    return share


def _square_in_frame(
    cx: float, cy: float, side: float, frame_hw: tuple[int, int]
) -> list[int] | None:
    """A ``side`` square around ``(cx, cy)`` shifted to lie in the frame (clipped if larger)."""
    h, w = frame_hw
    x0 = min(max(cx - side / 2, 0.0), max(w - side, 0.0))
    y0 = min(max(cy - side / 2, 0.0), max(h - side, 0.0))
    x1, y1 = min(float(w), x0 + side), min(float(h), y0 + side)
    box = [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return None
    return box
