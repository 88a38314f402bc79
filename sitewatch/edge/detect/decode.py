"""Decode raw YOLOv8 output rows into boxes, and per-label non-maximum suppression.

Pure functions on numpy arrays; the detector adapter is the only caller that holds tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sitewatch.core.geometry import FloatArray, IntArray
from sitewatch.core.geometry import box_iou as box_iou  # re-exported: its old home

MAX_CANDIDATES = 3000
"""Boxes kept per image before NMS (highest scores first), so a tiny conf stays fast."""

MAX_DETECTIONS = 300
"""Boxes kept per image after NMS."""


def decode_yolov8(
    output: FloatArray,
    thresholds: FloatArray,
    classes: IntArray | None = None,
    *,
    multi_label: bool = False,
    max_candidates: int = MAX_CANDIDATES,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Candidate boxes from one image's ``(4 + nc, anchors)`` YOLOv8 output.

    Rows 0..3 are ``cx, cy, w, h`` in tensor pixels, rows 4.. the per-class scores. Each anchor
    gives its best class (among ``classes`` when given; with ``multi_label`` every class) whose
    score reaches that class's entry in ``thresholds`` (``(nc,)``). Returns xyxy tensor pixels,
    scores and class ids, at most ``max_candidates``, best first.
    """
    nc = output.shape[0] - 4
    if output.ndim != 2 or nc < 1 or thresholds.shape != (nc,):
        raise ValueError(
            f"expected output (4 + nc, anchors) and thresholds (nc,), got {output.shape} "
            f"and {thresholds.shape}"
        )
    anchors, scores, class_ids = _select(
        output[4:], thresholds, classes, multi_label, max_candidates
    )
    cx, cy, w, h = output[:4, anchors]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return xyxy.astype(np.float32, copy=False), scores, class_ids


def anchor_grid(input_hw: tuple[int, int], strides: Sequence[int]) -> tuple[FloatArray, FloatArray]:
    """The anchor points ``(anchors, 2)`` (x, y in grid cells, cell centres) and their strides
    ``(anchors,)`` of a YOLOv8 head for an ``input_hw`` tensor: level by level, row-major."""
    points, steps = [], []
    for s in strides:
        h, w = input_hw[0] // s, input_hw[1] // s
        ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(h * w, s))
    return np.concatenate(points).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_dfl(
    box_dist: FloatArray,
    logits: FloatArray,
    grid: tuple[FloatArray, FloatArray],
    thresholds: FloatArray,
    classes: IntArray | None = None,
    *,
    multi_label: bool = False,
    max_candidates: int = MAX_CANDIDATES,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """``decode_yolov8`` for a head split before its post-processing (training/split_head.py):
    ``box_dist`` ``(4 * reg_max, anchors)`` (the bins of each side), ``logits``
    ``(nc, anchors)``, ``grid`` from ``anchor_grid``. The distribution focal loss's expectation
    and the box decode are computed for the candidates only; same results as the full head."""
    points, strides = grid
    nc, count = logits.shape
    if box_dist.ndim != 2 or box_dist.shape[0] % 4 or box_dist.shape[1] != count:
        raise ValueError(
            f"expected box_dist (4 * reg_max, {count}) for logits {logits.shape}, "
            f"got {box_dist.shape}"
        )
    if points.shape[0] != count or thresholds.shape != (nc,):
        raise ValueError(
            f"expected {points.shape[0]} anchors and thresholds ({nc},), got {count} "
            f"anchors and thresholds {thresholds.shape}: wrong input size or strides?"
        )
    scores_all = (1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))).astype(np.float32)
    anchors, scores, class_ids = _select(
        scores_all, thresholds, classes, multi_label, max_candidates
    )
    bins = box_dist[:, anchors].reshape(4, box_dist.shape[0] // 4, anchors.size)
    bins = np.exp(bins - bins.max(axis=1, keepdims=True))
    expect = (bins * np.arange(bins.shape[1], dtype=np.float32)[:, None]).sum(1) / bins.sum(1)
    left, top, right, bottom = expect
    px, py = points[anchors, 0], points[anchors, 1]
    xyxy = np.stack([px - left, py - top, px + right, py + bottom], axis=1)
    xyxy *= strides[anchors, None]
    return xyxy.astype(np.float32, copy=False), scores, class_ids


def _select(
    class_scores: FloatArray,
    thresholds: FloatArray,
    classes: IntArray | None,
    multi_label: bool,
    max_candidates: int,
) -> tuple[IntArray, FloatArray, IntArray]:
    """Anchors, scores and class ids of the candidates in ``(nc, anchors)`` scores, best first."""
    nc = class_scores.shape[0]
    ids = np.arange(nc, dtype=np.int64) if classes is None else classes.astype(np.int64)
    class_scores = class_scores[ids]
    if multi_label:
        rows, anchors = np.nonzero(class_scores >= thresholds[ids][:, None])
        scores, class_ids = class_scores[rows, anchors], ids[rows]
    else:
        best = class_scores.argmax(axis=0)
        scores = class_scores[best, np.arange(class_scores.shape[1])]
        class_ids = ids[best]
        anchors = np.flatnonzero(scores >= thresholds[class_ids])
        scores, class_ids = scores[anchors], class_ids[anchors]
    order = np.arange(scores.size)
    if scores.size > max_candidates:
        order = np.argpartition(-scores, max_candidates - 1)[:max_candidates]
    order = order[np.argsort(-scores[order], kind="stable")]
    return anchors[order], scores[order].astype(np.float32, copy=False), class_ids[order]


def nms_per_class(
    xyxy: FloatArray,
    scores: FloatArray,
    class_ids: IntArray,
    iou: float,
    max_detections: int = MAX_DETECTIONS,
) -> IntArray:
    """Indices kept by non-maximum suppression done separately per class, best score first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, float(iou)
    )
    idx = np.asarray(kept, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx[:max_detections]
