"""The detector adapter: BGR frames in, one ``Detections`` per frame out.

Runs a YOLOv8 ONNX export with ONNX Runtime on batches of frames of any sizes, decodes the raw
output, suppresses duplicates per label and maps boxes back to frame pixels. With
``second_look`` it also crops each person's head and shoulders from the full-resolution frame
and runs the model on all crops in one batched pass, to find cigarettes too small to see in the
whole frame. Tensors never leave this module.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch.contract.edge_warnings import EdgeWarning, edge_warning
from sitewatch.core.geometry import FloatArray, Image, IntArray
from sitewatch.edge.detect.decode import (
    MAX_DETECTIONS,
    anchor_grid,
    decode_dfl,
    decode_yolov8,
    nms_per_class,
)
from sitewatch.edge.detect.head_look import (
    cut_by_edge,
    defer_to_closer,
    head_state_ids,
    merge_head_states,
    merge_other_scale,
    one_state_per_head,
)
from sitewatch.edge.detect.letterbox import boxes_to_frame, letterbox_batch, letterbox_canvas
from sitewatch.edge.detect.looks import Looks
from sitewatch.edge.detect.model import ModelError, open_model
from sitewatch.edge.detect.second_look import head_regions, merge_cigarettes
from sitewatch.edge.detect.tiles import (
    TILE_CUE_INPUT,
    TILE_INPUT,
    TILE_MIN_GAIN,
    cued_regions,
    tile_regions,
    tile_scale,
    tiles_to_frame,
)
from sitewatch.edge.detections import Detections

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_ENV",
    "Detector",
    "ModelError",
    "default_model",
    "no_default_model",
]

MODEL_ENV = "SITEWATCH_MODEL"
"""The environment variable that names the model used when none is given."""
CHECKOUT_MODEL = Path(__file__).resolve().parents[__name__.count(".")] / "models" / "sitewatch.onnx"
"""The shipped model in the source checkout this package runs from (an editable install); an
installed wheel has no ``models/`` beside it, so there the model comes from ``--model``, the
config's ``detector.model`` or ``$SITEWATCH_MODEL``."""


def default_model() -> Path:
    """The model used when none is given: ``$SITEWATCH_MODEL`` if set, else the checkout's
    ``models/sitewatch.onnx``. Opening a missing file raises :class:`ModelError` naming all
    three ways to give one."""
    named = os.environ.get(MODEL_ENV)
    return Path(named) if named else CHECKOUT_MODEL


def no_default_model(path: Path) -> str:
    """The error for a default model ``path`` that is missing: where it came from (an installed
    wheel carries no model) and the three ways to name one."""
    came = (
        f"${MODEL_ENV} names {path}, which does not exist"
        if path != CHECKOUT_MODEL
        else f"no model was named, and the default {path} does not exist (it is the models/ "
        "folder of a source checkout; an installed sitewatch carries no model)"
    )
    return (
        f"expected a YOLOv8 ONNX model file; {came}. Name one with --model FILE, the config's "
        f"detector.model, or {MODEL_ENV}=/path/to/sitewatch.onnx"
    )


DEFAULT_MODEL = default_model()
"""The model used when none is given, as found at import (:func:`default_model`)."""

HEAD_MIN_GAIN = 1.5
"""The head look crops a region only if its crop shows it at least this many times larger than
the whole-frame pass did (models/README.md, "Head look")."""
LARGE_FRAME = 1280
"""Frames with a long side of at least this many px count as large (``large_input``)."""
HEAD_SMALL_PX = 24.0
"""The head look crops only heads the whole pass saw smaller than this (model px; a person's
head estimated from its box): larger heads it judges well, and enlarged they read worse."""
HEAD_MAX_UPSCALE = 2.0
"""The head look's crops are at least the crop input over this: a head in them is enlarged at
most this much (1: crops at the frame's own resolution; models/README.md, "Head look")."""
COARSE_INPUT = 256
"""The coarse look's square model input: close-up heads, too large for the whole pass, are the
size the model learnt there (models/README.md, "Coarse and fine looks")."""
COARSE_MIN_PX = 16.0
"""The coarse look adds only heads at least this many of its model px tall: smaller ones are
the whole pass's to judge (models/README.md, "Coarse and fine looks")."""
OTHER_STATE_FACTOR = 0.5
"""Score factor for the weaker state of a head seen both ways, on the edge and in ``sitewatch
detect``: a hard hat also seen as a bare head is not reported as both (models/README.md,
"Accuracy of the shipped model (2026-12-06)"; the edge's views: bench/RESULTS.md, "The weaker
head state on the edge")."""


class Detector:
    """Finds the model's labels in batches of BGR frames; ``detect`` is the one verb."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        conf: float = 0.25,
        iou: float = 0.45,
        label_conf: Mapping[str, float] | None = None,
        multi_label: bool = False,
        max_batch: int = 8,
        threads: int | None = None,
        optimization: str = "all",
        second_look: bool = True,
        head_look: bool = True,
        head_crop_size: int | None = None,
        min_gain: float = HEAD_MIN_GAIN,
        max_upscale: float = HEAD_MAX_UPSCALE,
        coarse_look: bool = False,
        coarse_input: int = COARSE_INPUT,
        fine_scale: float | None = None,
        tile_scale: float | None = None,
        tile_cue: float | None = None,
        other_state: float = OTHER_STATE_FACTOR,
        max_crops: int = 8,
        crop_conf: float = 0.25,
        min_crop: int = 48,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
        input_size: int | None = None,
        rect: bool = False,
        large_input: int | None = None,
        large_frame: int = LARGE_FRAME,
    ) -> None:
        """Open ``model``; raise ``ModelError`` if it is missing or not a YOLOv8 export.

        ``conf`` is the minimum score kept, ``label_conf`` overrides it per label; ``iou`` is the
        NMS overlap. ``multi_label`` lets one box carry several labels (as Ultralytics does when
        validating; off for deployment: one label per box). ``max_batch`` frames go through one
        ``session.run``. ``threads`` sets ONNX Runtime's intra-op threads (default: all cores),
        ``optimization`` its graph level
        (``disable``/``basic``/``extended``/``all``). The second look crops up to ``max_crops``
        regions per frame around people and heads scoring at least ``crop_conf`` (independent
        of ``conf``, so a low ``conf`` for evaluation does not multiply crops); crops are at
        least ``min_crop`` px. It is off when the model has no ``cigarette`` label.
        ``head_look`` crops people and heads (``helmet`` too) again and lets the crops decide
        the state of the heads in them (``helmet`` or ``head``, merged by
        ``sitewatch.edge.detect.head_look``): crops of at least ``head_crop_size / max_upscale`` px,
        only where they show a region at least ``min_gain`` times larger than the whole frame did (a
        frame near the input size gets none). ``head_crop_size`` is their square input (None: the
        size the model was exported at, whatever ``input_size``; the cigarette crops use the
        detector's input). ``coarse_look`` runs each frame once more at the smaller square
        ``coarse_input`` and adds the large heads it finds (``merge_other_scale``: close-ups);
        only for frames whose input is larger, on models with dynamic height/width and both head
        states (else off, as ``coarse_hw`` None says). ``fine_scale`` (> 1) likewise runs every
        frame once more at its input times this (a multiple of 32, at most 1280) and adds its
        heads of any size (``sitewatch detect``: small heads; too costly for the edge).
        ``tile_scale`` likewise sees each frame in overlapping tiles at this many times its
        own resolution (capped by ``TILE_MAX_SIDE``), where they show it ``TILE_MIN_GAIN``
        times larger than the whole pass, and adds their heads (``sitewatch.edge.detect.tiles``;
        same conditions as the coarse look; ``sitewatch detect``: 1080p views, large photos,
        frames from 832 px; the edge: the cameras whose ``tile_look`` is on). ``tile_cue``:
        only the tiles that a box of the frame's (any label) scoring at least this overlaps
        (``cued_regions``); None: every tile. With a cue, a batch with a tiled frame is decoded
        down to it, a tiled frame is seen once more at ``TILE_CUE_INPUT`` when there is no
        fine look, and boxes under the labels' thresholds go again after the tiles (the edge
        batches tiled frames alone).
        ``other_state`` multiplies the score of the weaker state of a head seen
        both ways (0 drops it, 1 keeps both as found).
        ``input_size`` overrides the square input the model was exported at (dynamic models).
        ``large_input``: frames whose long side is at least ``large_frame`` px run at this
        input instead, unless ``detect`` is given their sizes (a 1080p view: its people are
        found, and the head look then crops them).
        ``rect`` (dynamic models only): letterbox each batch into the smallest input, in steps of
        32, that holds its frames at the square input's scale (Ultralytics' rectangular
        inference), e.g. 416x256 instead of 416x416 for 16:9 frames: the same pixels of the
        picture, less padding to compute (bench/RESULTS.md, "Edge throughput", the
        "Rectangular model input" bullet).
        """
        _check_range("conf", conf, 0.0, 1.0)
        _check_range("iou", iou, 0.0, 1.0)
        _check_range("crop_conf", crop_conf, 0.0, 1.0)
        for name, count in (("max_batch", max_batch), ("max_crops", max_crops)):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None for all cores), got {threads}")
        if Path(model) == DEFAULT_MODEL and not DEFAULT_MODEL.is_file():
            raise ModelError(no_default_model(DEFAULT_MODEL))
        self._session, self.info = open_model(model, threads, optimization, providers)
        self.head_crop_hw = self.square(head_crop_size)  # before input_size: the exported size
        self.info = replace(self.info, input_hw=self.square(input_size))
        self.labels: tuple[str, ...] = self.info.labels
        self.conf, self.iou, self.max_batch = conf, iou, max_batch
        self.multi_label = multi_label
        self.threads: int = self._session.get_session_options().intra_op_num_threads
        self._thresholds = np.full(len(self.labels), conf, dtype=np.float32)
        for label, value in (label_conf or {}).items():
            if label not in self.labels:
                raise ValueError(
                    f"label_conf has unknown label {label!r}; the model's labels are {self.labels}"
                )
            _check_range(f"label_conf[{label!r}]", value, 0.0, 1.0)
            self._thresholds[self.labels.index(label)] = value
        self.large_hw = self.square(large_input) if large_input else None
        self.large_frame = large_frame
        self.rect = rect and self.info.dynamic_hw and not self.info.fixed_batch
        self.second_look = second_look and "cigarette" in self.labels
        self.head_look = head_look and len(head_state_ids(self.labels)) == 2
        other_scales = self.info.dynamic_hw and len(head_state_ids(self.labels)) == 2
        self.coarse_hw = self.square(coarse_input) if other_scales else None
        self.coarse_look = coarse_look and self.coarse_hw is not None
        if fine_scale is not None and fine_scale <= 1.0:
            raise ValueError(
                f"fine_scale must be above 1 (the fine look's input over the frame's), got "
                f"{fine_scale}; leave it out for no fine look (sitewatch detect: --fine-scale 0)"
            )
        self.fine_scale = fine_scale if other_scales else None
        if tile_scale is not None and tile_scale <= 0.0:
            raise ValueError(
                f"tile_scale must be above 0 (the tiles' model px per frame px), got "
                f"{tile_scale}; leave it out for no tile look (sitewatch detect: --tile-scale 0)"
            )
        self.tile_scale = tile_scale if other_scales else None
        self.tile_hw = self.square(TILE_INPUT) if self.tile_scale is not None else None
        if tile_cue is not None:
            _check_range("tile_cue", tile_cue, 0.0, 1.0)
        self.tile_cue = tile_cue
        self.tiles_run = 0
        """Tiles the tile look has run so far (the benches read it)."""
        _check_range("other_state", other_state, -1e-9, 1.0)
        self.min_gain, self.max_upscale, self.other_state = min_gain, max_upscale, other_state
        self.max_crops, self.crop_conf, self.min_crop = max_crops, crop_conf, min_crop
        self._grids: dict[tuple[int, int], tuple[Any, Any]] = {}

    def square(self, input_size: int | None) -> tuple[int, int]:
        """The ``(H, W)`` model input for a square side (None: the model's own); ``ValueError``
        when the model cannot take it (a fixed-size export, or not a multiple of 32)."""
        if input_size is None or (input_size,) * 2 == self.info.input_hw:
            return self.info.input_hw
        if not self.info.dynamic_hw or input_size % 32 or not 160 <= input_size <= 1280:
            raise ValueError(
                f"input_size {input_size} is not possible for {self.info.path}: expected "
                f"a multiple of 32 in 160..1280 on a model with dynamic height/width "
                f"(this one {'has' if self.info.dynamic_hw else 'has not'}; it was "
                f"exported at {self.info.input_hw})"
            )
        return (input_size, input_size)

    def detect(
        self,
        frames: Sequence[Image],
        look: Sequence[bool] | None = None,
        sizes: Sequence[int | None] | None = None,
        heads: Sequence[bool] | None = None,
        coarse: Sequence[bool] | None = None,
        tiles: Sequence[bool] | None = None,
    ) -> list[Detections]:
        """One ``Detections`` per frame (BGR ``uint8`` HxWx3, any sizes), boxes in frame px.

        ``look`` says per frame whether it gets the second look for cigarettes (default: all,
        when the detector's ``second_look`` is on); cameras without a smoking rule need none.
        ``heads`` says per frame whether it gets the head look (default: all when the
        detector's ``head_look`` is on, none when it is off; given, it overrides it; never a
        frame the tile look sees, ``tiled``).
        ``coarse`` likewise for the coarse look (never on a model it cannot run on).
        ``tiles`` says per frame whether it may get the tile look (default: all); only frames
        ``tiled`` says get it, and only when the detector has a ``tile_scale``.
        ``sizes`` gives per frame the square model input side its camera wants (None: the
        detector's own); frames of one size share a ``session.run``.
        """
        for i, frame in enumerate(frames):
            _check_frame(i, frame)
        per_frame_args = (
            ("look", look), ("sizes", sizes), ("heads", heads), ("coarse", coarse), ("tiles", tiles)
        )  # fmt: skip
        for name, per_frame in per_frame_args:
            if per_frame is not None and len(per_frame) != len(frames):
                raise ValueError(
                    f"{name} needs one value per frame: {len(frames)}, got {len(per_frame)}"
                )
        if sizes:
            squares = [self.square(s) for s in sizes]
        else:
            squares = [self._default_square(f) for f in frames]
        everyone = [True] * len(frames)
        may_tile = tiles if tiles is not None else everyone
        tiled = [
            t and self.tiled(f.shape[:2], sq)
            for f, sq, t in zip(frames, squares, may_tile, strict=True)
        ]
        cue = self.tile_cue if any(tiled) else None  # the cues are found down to it
        found = self._run(list(frames), squares=squares, floor=cue)
        look = [self.second_look and x for x in (look or everyone)]
        states = len(head_state_ids(self.labels)) == 2
        heads = (
            [states and x for x in heads] if heads is not None else [self.head_look] * len(frames)
        )
        heads = [h and not t for h, t in zip(heads, tiled, strict=True)]  # the tiles decide
        if (any(look) or any(heads)) and found:
            found = self._second_look(frames, found, look, heads, squares)
        if coarse is None:
            coarse = [self.coarse_look] * len(frames)
        low = self.coarse_hw
        if low is not None:
            pairs = zip(coarse, squares, strict=True)
            smaller = [low if c and min(sq) > min(low) else None for c, sq in pairs]
            found = self._other_scale(frames, found, smaller, COARSE_MIN_PX)
        fine = [
            self.fine(sq) if self.fine_scale is not None else self._cue_input(sq, cue, t)
            for sq, t in zip(squares, tiled, strict=True)
        ]
        found = self._other_scale(frames, found, fine, 0.0, floor=cue)
        if any(tiled):
            found = self._tile_look(frames, found, squares, tiled)
        if cue is not None:
            found = [d[d.scores >= self._thresholds[d.class_ids]] for d in found]
        return [one_state_per_head(d, self.other_state) for d in found]

    def detect_looks(self, frames: Sequence[Image], looks: Sequence[Looks]) -> list[Detections]:
        """``detect`` with each frame's :class:`Looks` (the batcher's ``DetectFn``); ``detect``
        checks that there is one per frame."""
        return self.detect(
            frames,
            look=[x.second_look for x in looks],
            sizes=[x.input_size for x in looks],
            heads=[x.head_look for x in looks],
            coarse=[x.coarse_look for x in looks],
            tiles=[x.tile_look for x in looks],
        )

    def _cue_input(
        self, square: tuple[int, int], cue: float | None, tiled: bool
    ) -> tuple[int, int] | None:
        """The square input at which a tiled frame is seen whole once more to find the tile
        look's cues (``TILE_CUE_INPUT``), when the detector has no fine look; None: not seen."""
        if cue is None or not tiled or min(square) >= TILE_CUE_INPUT:
            return None
        return (TILE_CUE_INPUT, TILE_CUE_INPUT)

    def tiled(self, hw: tuple[int, int], square: tuple[int, int]) -> bool:
        """Whether a frame of ``hw`` analysed at ``square`` gets the tile look: its tiles show
        it ``TILE_MIN_GAIN`` times larger than the whole pass does. Such a frame gets no head
        look: for its small heads the tiles decide (models/README.md, "The tile look")."""
        if self.tile_scale is None or self.tile_hw is None:
            return False
        whole = min(square[0] / hw[0], square[1] / hw[1])  # model px per frame px
        return tile_scale(hw, self.tile_scale) >= TILE_MIN_GAIN * whole

    def tile_problem(self, hw: tuple[int, int], square: tuple[int, int]) -> EdgeWarning | None:
        """Why a camera asking for the tile look gets none on frames of ``hw`` analysed at
        ``square`` (None: it gets it). For a detector built with a ``tile_scale`` (the edge's):
        without one its model cannot run tiles; else the frames are too small (``tiled``)."""
        if self.tile_scale is None:
            return edge_warning("tile_look.model", model=self.info.path.name)
        if not self.tiled(hw, square):
            size = {"width": hw[1], "height": hw[0], "input_size": max(square)}
            return edge_warning("tile_look.small_frames", **size)
        return None

    def fine(self, square: tuple[int, int]) -> tuple[int, int] | None:
        """The fine look's square input for a frame analysed at ``square`` (None: none)."""
        if self.fine_scale is None:
            return None
        side = min(1280, math.ceil(min(square) * self.fine_scale / 32) * 32)
        return (side, side) if side > min(square) else None

    def _other_scale(
        self,
        frames: Sequence[Image],
        found: list[Detections],
        inputs: Sequence[tuple[int, int] | None],
        min_px: float,
        floor: float | None = None,
    ) -> list[Detections]:
        """Head states of each frame seen at its square input in ``inputs`` too (None: not
        seen again), in one batched pass that decodes head states only (down to ``floor``
        where it is lower than the labels' thresholds), merged in (``merge_other_scale``
        keeps heads of at least ``min_px`` of that input's px)."""
        idx = [i for i, hw in enumerate(inputs) if hw is not None]
        if not idx:
            return found
        states = np.asarray(head_state_ids(self.labels), dtype=np.int64)
        squares = [hw for hw in inputs if hw is not None]
        ran = self._run([frames[i] for i in idx], states, squares, floor)
        out = list(found)
        for i, hw, dets in zip(idx, squares, ran, strict=True):
            fh, fw = frames[i].shape[:2]
            scale = min(hw[0] / fh, hw[1] / fw)
            out[i] = merge_other_scale(found[i], dets, scale, min_px, self.iou, MAX_DETECTIONS)
        return out

    def _tile_look(
        self,
        frames: Sequence[Image],
        found: list[Detections],
        squares: Sequence[tuple[int, int]],
        tiled: Sequence[bool],
    ) -> list[Detections]:
        """Head states of each frame ``tiled`` says, seen in its tiles (``tile_regions`` at
        ``tile_scale``), all tiles in one batched pass, merged in: only heads the whole pass
        (at ``squares``) would see smaller than ``HEAD_SMALL_PX``, as for the head look (a
        larger head it judges well; enlarged, a tile misreads it). Where a tile sees such a
        head, its state stands (``defer_to_closer``): a knit cap the whole pass calls a hard
        hat a tile sees bare (models/README.md, "The tile look")."""
        scale, tile_hw = self.tile_scale, self.tile_hw
        if scale is None or tile_hw is None:
            return found
        tiles: list[Image] = []
        owners: list[tuple[int, IntArray]] = []  # frame index, its tile regions
        for i, frame in enumerate(frames):
            hw = frame.shape[:2]
            if tiled[i]:
                regions = tile_regions(hw, tile_scale(hw, scale), min(tile_hw))
                if self.tile_cue is not None:
                    regions = cued_regions(regions, found[i], self.tile_cue)
                owners.append((i, regions))
                tiles += [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in regions.tolist()]
        if not tiles:
            return found
        states = np.asarray(head_state_ids(self.labels), dtype=np.int64)
        self.tiles_run += len(tiles)
        ran = self._run(tiles, states, [tile_hw] * len(tiles))
        out, at = list(found), 0
        for i, regions in owners:
            hw = frames[i].shape[:2]
            seen = tiles_to_frame(
                ran[at : at + len(regions)], regions, hw, self.iou, MAX_DETECTIONS
            )
            at += len(regions)
            whole = min(squares[i][0] / hw[0], squares[i][1] / hw[1])  # model px per frame px
            seen = seen[(seen.xyxy[:, 3] - seen.xyxy[:, 1]) * whole < HEAD_SMALL_PX]
            kept = defer_to_closer(found[i], seen, whole, HEAD_SMALL_PX)
            out[i] = merge_other_scale(
                kept, seen, 1.0, 0.0, self.iou, MAX_DETECTIONS, sure_state=math.inf
            )
        return out

    def _default_square(self, frame: Image) -> tuple[int, int]:
        """The model input for a frame whose camera asks for none: ``large_input`` for a
        large frame, else the detector's own."""
        if self.large_hw and max(frame.shape[:2]) >= self.large_frame:
            return self.large_hw
        return self.info.input_hw

    def _second_look(
        self,
        frames: Sequence[Image],
        found: list[Detections],
        look: Sequence[bool],
        heads: Sequence[bool],
        squares: list[tuple[int, int]],
    ) -> list[Detections]:
        """Cigarettes (frames in ``look``) and head states (frames in ``heads``) from
        head-and-shoulders crops of all frames, run as one batched pass."""
        crops: list[Image] = []
        owners: list[tuple[int, int, int, bool]] = []  # frame index, crop x0, y0, head crop
        for i, (frame, dets) in enumerate(zip(frames, found, strict=True)):
            hw = frame.shape[:2]
            whole = min(squares[i][0] / hw[0], squares[i][1] / hw[1])  # model px per frame px
            for heads_crop in (False, True):
                if not (heads[i] if heads_crop else look[i]):
                    continue
                for x0, y0, x1, y1 in self._regions(dets, hw, whole, heads_crop).tolist():
                    crops.append(frame[y0:y1, x0:x1])
                    owners.append((i, x0, y0, heads_crop))
        if not crops:
            return found
        wanted = [self.labels.index("cigarette")] if any(look) else []
        wanted += head_state_ids(self.labels) if any(heads) else []
        classes = np.asarray(sorted(wanted), dtype=np.int64)
        cig_crops: list[list[Detections]] = [[] for _ in frames]
        head_crops: list[list[Detections]] = [[] for _ in frames]
        own = self.info.input_hw  # cigarette crops at the model's own input, head crops at theirs
        ran = self._run(crops, classes, [self.head_crop_hw if o[3] else own for o in owners])
        for (i, x0, y0, heads_crop), crop, dets in zip(owners, crops, ran, strict=True):
            if heads_crop:  # a head cut by the crop's edge is judged by a crop that holds it
                dets = dets[~cut_by_edge(dets.xyxy, crop.shape[:2], (x0, y0), frames[i].shape[:2])]
            shifted = dets.xyxy + np.asarray([x0, y0, x0, y0], dtype=np.float32)
            (head_crops if heads_crop else cig_crops)[i].append(
                Detections(shifted, dets.scores, dets.class_ids, labels=self.labels)
            )
        out = []
        for dets, cigs, states in zip(found, cig_crops, head_crops, strict=True):
            if cigs:
                dets = merge_cigarettes(dets, cigs, self.iou, MAX_DETECTIONS)
            if states:
                dets = merge_head_states(dets, states, self.iou, MAX_DETECTIONS)
            out.append(dets)
        return out

    def _regions(
        self, dets: Detections, hw: tuple[int, int], whole: float, heads: bool
    ) -> IntArray:
        """Crop regions of one frame: tight head-and-shoulders crops for cigarettes; for the
        head look, crops of at least the crop input over ``max_upscale`` (a head is never
        blown up more than that), only of heads the whole pass saw smaller than
        ``HEAD_SMALL_PX`` and only where the crop shows them ``min_gain`` times the whole
        pass's ``whole`` scale (model px per frame px)."""
        if not heads:
            return head_regions(
                dets, hw, min_score=self.crop_conf, max_crops=self.max_crops,
                min_size=self.min_crop,
            )  # fmt: skip
        side = min(self.head_crop_hw)
        return head_regions(
            dets,
            hw,
            min_score=self.crop_conf,
            max_crops=self.max_crops,
            min_size=max(self.min_crop, math.ceil(side / self.max_upscale)),
            lone=("head", "helmet"),
            max_side=side / (self.min_gain * whole),
            max_head=HEAD_SMALL_PX / whole,
        )

    def _run(
        self,
        frames: list[Image],
        classes: IntArray | None = None,
        squares: list[tuple[int, int]] | None = None,
        floor: float | None = None,
    ) -> list[Detections]:
        """Model, decode and NMS on ``frames``, grouped by their square input (``squares``, one
        per frame; default: the model's own). ``classes`` limits decoding to those class ids
        (the second look wants cigarettes only); ``floor`` lowers the labels' thresholds to it
        (the tile look's cues)."""
        thresholds = self._thresholds if floor is None else np.minimum(self._thresholds, floor)
        if not squares or len(set(squares)) == 1:
            return self._run_square(frames, classes, squares[0] if squares else None, thresholds)
        results: dict[int, Detections] = {}
        for square in dict.fromkeys(squares):
            idx = [i for i, s in enumerate(squares) if s == square]
            found = self._run_square([frames[i] for i in idx], classes, square, thresholds)
            results.update(zip(idx, found, strict=True))
        return [results[i] for i in range(len(frames))]

    def _run_square(
        self,
        frames: list[Image],
        classes: IntArray | None,
        square: tuple[int, int] | None,
        thresholds: FloatArray,
    ) -> list[Detections]:
        """``_run`` for frames of one square input, ``max_batch`` (or the fixed batch) at a time."""
        square = square or self.info.input_hw
        step = self.info.fixed_batch or self.max_batch
        results: list[Detections] = []
        for start in range(0, len(frames), step):
            chunk = frames[start : start + step]
            input_hw = rect_input(chunk, square) if self.rect else square
            letterbox = letterbox_canvas if self.info.pixels else letterbox_batch
            tensor, boxes = letterbox(chunk, input_hw)
            if self.info.fixed_batch and len(chunk) < self.info.fixed_batch:
                pad = np.zeros(
                    (self.info.fixed_batch - len(chunk), *tensor.shape[1:]), tensor.dtype
                )
                tensor = np.concatenate([tensor, pad])
            feed = {self.info.input_name: tensor}
            outputs = self._session.run(list(self.info.output_names), feed)
            for output in outputs:
                self._check_output(output, tensor.shape[0])
            for i, (frame, lb) in enumerate(zip(chunk, boxes, strict=False)):
                xyxy, scores, class_ids = self._decode(
                    [o[i] for o in outputs], classes, input_hw, thresholds
                )
                keep = nms_per_class(xyxy, scores, class_ids, self.iou, MAX_DETECTIONS)
                results.append(
                    Detections(
                        xyxy=boxes_to_frame(xyxy[keep], lb, frame.shape[:2]),
                        scores=scores[keep],
                        class_ids=class_ids[keep],
                        labels=self.labels,
                    )
                )
        return results

    def _decode(
        self,
        raw: list[Any],
        classes: IntArray | None,
        input_hw: tuple[int, int],
        thresholds: FloatArray,
    ) -> tuple[Any, Any, IntArray]:
        """Candidates of one image from its model outputs (full or split head) scoring at least
        ``thresholds`` (one per label)."""
        if self.info.strides is None:
            return decode_yolov8(raw[0], thresholds, classes, multi_label=self.multi_label)
        grid = self._grids.get(input_hw)
        if grid is None:
            grid = self._grids[input_hw] = anchor_grid(input_hw, self.info.strides)
        return decode_dfl(raw[0], raw[1], grid, thresholds, classes, multi_label=self.multi_label)

    def _check_output(self, output: Any, batch: int) -> None:
        ok = isinstance(output, np.ndarray) and output.ndim == 3 and output.shape[0] == batch
        if self.info.strides is None:
            want = f"[{batch}, {4 + len(self.labels)}, anchors]"
            ok = ok and output.shape[1] == 4 + len(self.labels)
        else:
            want = f"[{batch}, 4 * reg_max or {len(self.labels)} classes, anchors]"
        if not ok:
            got = getattr(output, "shape", type(output).__name__)
            raise ModelError(
                f"model {self.info.path} returned {got}; expected {want} "
                "(an Ultralytics YOLOv8 detection export without NMS)"
            )


def rect_input(frames: Sequence[Image], square_hw: tuple[int, int]) -> tuple[int, int]:
    """The smallest input (multiples of 32, at most ``square_hw``) holding every frame at the
    scale it would have in ``square_hw``."""
    need_h = need_w = 1
    for frame in frames:
        h, w = frame.shape[:2]
        scale = min(square_hw[0] / h, square_hw[1] / w)
        need_h, need_w = max(need_h, round(h * scale)), max(need_w, round(w * scale))
    return (min(square_hw[0], -(-need_h // 32) * 32), min(square_hw[1], -(-need_w // 32) * 32))


def _check_frame(index: int, frame: object) -> None:
    ok = (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and frame.ndim == 3
        and frame.shape[2] == 3
        and frame.shape[0] > 0
        and frame.shape[1] > 0
    )
    if not ok:
        got = (
            f"dtype {frame.dtype}, shape {frame.shape}"
            if isinstance(frame, np.ndarray)
            else type(frame).__name__
        )
        raise ValueError(
            f"frame {index}: expected a BGR image as a uint8 numpy array of shape (H, W, 3) "
            f"with H, W > 0, got {got}; decode images with cv2.imread / VideoCapture"
        )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low < value <= high:
        raise ValueError(f"{name} must be in ({low}, {high}], got {value}")
