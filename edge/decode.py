"""Decode raw YOLOv8 output rows into boxes, and per-label non-maximum suppression.

Pure functions on numpy arrays; the detector adapter is the only caller that holds tensors.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

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
    ids = np.arange(nc, dtype=np.int64) if classes is None else classes.astype(np.int64)
    class_scores = output[4:][ids]
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
    cx, cy, w, h = output[:4, anchors[order]]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return (
        xyxy.astype(np.float32, copy=False),
        scores[order].astype(np.float32, copy=False),
        class_ids[order],
    )


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


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes, as an ``(N, M)`` array."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)
