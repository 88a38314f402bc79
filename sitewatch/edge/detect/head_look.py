"""Head states from the second look, and one state per head.

A head is either under a hard hat (``helmet``) or bare (``head``). In a wide view the whole-frame
pass sees a head a few pixels tall and often picks the wrong state (a knit cap reads as a hard
hat); the second look's crops see it at the frame's full resolution. These are the pure parts:
merging the crops' head states into the frame's, and resolving a head reported in both states.
"""

from __future__ import annotations

import numpy as np

from sitewatch.edge.detect.decode import box_iou, nms_per_class
from sitewatch.edge.detections import Detections

HEAD_STATES = ("helmet", "head")
"""The two states of a head, as the model's labels name them."""
SAME_HEAD_IOU = 0.3
"""A whole-frame head box overlapping a crop's head box this much is the same head: the crop,
seen sharper, replaces it."""
BOTH_STATES_IOU = 0.5
"""Two head boxes of different states overlapping this much are one head seen both ways."""


EDGE_PX = 2.0
"""A box within this many pixels of a crop's inner edge was cut by it."""


def cut_by_edge(
    xyxy: np.ndarray, crop_hw: tuple[int, int], origin: tuple[int, int], frame_hw: tuple[int, int]
) -> np.ndarray:
    """``(N,)`` True for crop boxes (crop pixels) that touch an edge of the crop lying inside
    the frame: what they show was cut off, and a crop centred elsewhere judges it whole."""
    (h, w), (x0, y0), (fh, fw) = crop_hw, origin, frame_hw
    cut = np.zeros(len(xyxy), dtype=bool)
    if x0 > 0:
        cut |= xyxy[:, 0] <= EDGE_PX
    if y0 > 0:
        cut |= xyxy[:, 1] <= EDGE_PX
    if x0 + w < fw:
        cut |= xyxy[:, 2] >= w - EDGE_PX
    if y0 + h < fh:
        cut |= xyxy[:, 3] >= h - EDGE_PX
    return cut


def head_state_ids(labels: tuple[str, ...]) -> list[int]:
    """Class ids of the head states the model knows (empty when it has neither)."""
    return [labels.index(s) for s in HEAD_STATES if s in labels]


def merge_head_states(
    frame_dets: Detections, crop_dets: list[Detections], iou: float, max_detections: int
) -> Detections:
    """Whole-frame detections with the crops' head boxes (already in frame pixels) merged in.

    Crops' head boxes are de-duplicated per state (neighbouring crops overlap); a whole-frame
    head box that one of them overlaps by ``SAME_HEAD_IOU`` is dropped for it. Other labels of
    the crops are ignored; other labels of the frame are kept as they are. Best score first,
    at most ``max_detections``.
    """
    states = head_state_ids(frame_dets.labels)
    crops = Detections.concat(
        [frame_dets[:0]] + [d[np.isin(d.class_ids, states)] for d in crop_dets]
    )
    if len(crops) == 0:
        return frame_dets
    crops = crops[nms_per_class(crops.xyxy, crops.scores, crops.class_ids, iou, max_detections)]
    is_state = np.isin(frame_dets.class_ids, states)
    seen = frame_dets[is_state]
    again = box_iou(seen.xyxy, crops.xyxy).max(axis=1) >= SAME_HEAD_IOU
    merged = Detections.concat([frame_dets[~is_state], seen[~again], crops])
    return merged[np.argsort(-merged.scores, kind="stable")[:max_detections]]


def one_state_per_head(dets: Detections, other_factor: float) -> Detections:
    """Where a helmet box and a head box overlap by ``BOTH_STATES_IOU`` (one head, both states),
    the weaker one's score is multiplied by ``other_factor`` (0 drops it, 1 leaves both).

    The stronger state is what the product reports; the weaker one survives at a low score
    only so that precision-recall curves keep it. Order: best score first.
    """
    states = head_state_ids(dets.labels)
    if len(states) < 2 or other_factor >= 1.0:
        return dets
    helmet, head = states
    hi, bi = np.flatnonzero(dets.class_ids == helmet), np.flatnonzero(dets.class_ids == head)
    if len(hi) == 0 or len(bi) == 0:
        return dets
    scores = dets.scores.copy()
    overlap = box_iou(dets.xyxy[hi], dets.xyxy[bi]) >= BOTH_STATES_IOU
    weaker = np.zeros(len(dets), dtype=bool)
    for a, b in zip(*np.nonzero(overlap), strict=True):
        h, n = hi[a], bi[b]
        weaker[n if dets.scores[h] >= dets.scores[n] else h] = True
    scores[weaker] *= other_factor
    out = Detections(dets.xyxy, scores, dets.class_ids, dets.labels, dets.track_ids)
    out = out[scores > 0] if other_factor <= 0 else out
    return out[np.argsort(-out.scores, kind="stable")]
