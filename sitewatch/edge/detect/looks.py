"""What one camera's frames get from the detector, beside its whole pass: one typed record.

The batcher keeps one :class:`Looks` per camera (from its config, ``looks_of`` in the worker)
and hands the detector one per frame (:meth:`Detector.detect_looks`), so that frames of cameras
with different settings share a batch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Looks:
    """A camera's looks. ``second_look``: its frames need the cigarette crops (when the
    detector's second look is on); ``input_size``: its square model input side in px (None:
    the detector's own); ``head_look``: the head-state crops; ``coarse_look``: the coarse pass
    for large heads; ``tile_look``: the tiles for small heads (large frames only)."""

    second_look: bool = True
    input_size: int | None = None
    head_look: bool = True
    coarse_look: bool = False
    tile_look: bool = False
