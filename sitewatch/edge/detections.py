"""The one detection record that flows through every stage after the detector.

Column-oriented and validated at construction: ``xyxy`` boxes in pixels of the original
frame, one score and one label per box. Tensors never leave the detector adapter; this
is what comes out of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sitewatch.contract.vocabulary import LABELS as LABELS  # the model's class order, defined once
from sitewatch.core.geometry import FloatArray, IntArray, UInt8Array


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    ``xyxy`` is ``(N, 4)`` float32 pixels ``x1, y1, x2, y2`` of the original frame,
    ``scores`` ``(N,)`` float32 in 0..1, ``class_ids`` ``(N,)`` int64 indexes into ``labels``.
    ``track_ids`` is filled by the tracker (``-1`` = untracked).
    """

    xyxy: FloatArray
    scores: FloatArray
    class_ids: IntArray
    labels: tuple[str, ...] = LABELS
    track_ids: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = _check_shape("xyxy", self.xyxy, (None, 4))
        _check_shape("scores", self.scores, (n,))
        _check_shape("class_ids", self.class_ids, (n,))
        if self.track_ids.size == 0 and n:
            object.__setattr__(self, "track_ids", np.full(n, -1, dtype=np.int64))
        _check_shape("track_ids", self.track_ids, (n,))
        if n and (self.class_ids.min() < 0 or self.class_ids.max() >= len(self.labels)):
            raise ValueError(
                f"class_ids must index labels {self.labels}; got values "
                f"{sorted(set(self.class_ids.tolist()))}"
            )
        if n and (
            (self.xyxy[:, 2] < self.xyxy[:, 0]).any() or (self.xyxy[:, 3] < self.xyxy[:, 1]).any()
        ):
            raise ValueError("xyxy boxes must have x2 >= x1 and y2 >= y1")

    @classmethod
    def empty(cls, labels: tuple[str, ...] = LABELS) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), dtype=np.float32),
            scores=np.zeros(0, dtype=np.float32),
            class_ids=np.zeros(0, dtype=np.int64),
            labels=labels,
        )

    @classmethod
    def from_lists(
        cls,
        boxes: Sequence[Sequence[float]],
        scores: Sequence[float],
        labels: Sequence[str],
        label_set: tuple[str, ...] = LABELS,
    ) -> Detections:
        """Build from plain lists, e.g. for tests or JSON; unknown labels are an error."""
        unknown = sorted(set(labels) - set(label_set))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; expected some of {label_set}")
        return cls(
            xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            scores=np.asarray(scores, dtype=np.float32),
            class_ids=np.asarray([label_set.index(n) for n in labels], dtype=np.int64),
            labels=label_set,
        )

    @staticmethod
    def concat(parts: Sequence[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]).astype(np.float32, copy=False),
            scores=np.concatenate([p.scores for p in parts]).astype(np.float32, copy=False),
            class_ids=np.concatenate([p.class_ids for p in parts]).astype(np.int64, copy=False),
            labels=parts[0].labels,
            track_ids=np.concatenate([p.track_ids for p in parts]).astype(np.int64, copy=False),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: npt.NDArray[np.bool_] | IntArray | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            scores=self.scores[index],
            class_ids=self.class_ids[index],
            labels=self.labels,
            track_ids=self.track_ids[index],
        )

    def label_names(self) -> list[str]:
        return [self.labels[i] for i in self.class_ids.tolist()]

    def with_label(self, *names: str) -> Detections:
        ids = [self.labels.index(n) for n in names]
        return self[np.isin(self.class_ids, ids)]

    def to_records(self) -> list[dict[str, Any]]:
        """Plain JSON-ready records: ``{"label", "score", "box": [x1, y1, x2, y2]}``."""
        return [
            {
                "label": self.labels[int(c)],
                "score": round(float(s), 4),
                "box": [round(float(v), 1) for v in b],
            }
            for b, s, c in zip(self.xyxy, self.scores, self.class_ids, strict=True)
        ]

    def __iter__(self) -> Iterator[tuple[FloatArray, float, str]]:
        for b, s, c in zip(self.xyxy, self.scores, self.class_ids, strict=True):
            yield b, float(s), self.labels[int(c)]


def _check_shape(name: str, array: Any, shape: tuple[int | None, ...]) -> int:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    ok = array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {array.shape}")
    return int(array.shape[0])


@dataclass(frozen=True)
class AnalysedFrame:
    """One frame and what the detector found on it: the record the batcher hands the worker,
    and the pipeline keeps (with tracked detections) for an alert's snapshot.

    ``ts``: stream time as wall-clock seconds; ``image``: BGR ``(H, W, 3)`` uint8; ``detections``
    in its pixels. ``camera`` and ``seq`` name the frame, ``captured_at`` is when it was decoded
    (wall-clock seconds; ``ts`` when not known); ``reused`` is True when motion gating skipped
    inference and the camera's previous detections stand.
    """

    ts: float
    image: UInt8Array
    detections: Detections
    camera: str = ""
    seq: int = -1
    captured_at: float | None = None
    reused: bool = False
