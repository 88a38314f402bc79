"""The tile look on real 1080p frames with the real model: it finds bare heads that the whole
pass misses (1080p at 640, 960x540 at 416), leaves frames alone where the tiles would show
them less than ``TILE_MIN_GAIN`` times larger, and adds no large head (on photos enlarged to
2000 px the tiles read large heads wrongly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detect.detector import HEAD_SMALL_PX, Detector
from sitewatch.edge.detections import Detections
from sitewatch.tools.dataset import read_labels

CROWDED = 6
"""Frames of ``wide1080`` taken: those with the most labelled bare heads (chosen by the labels
alone, not by what the model finds)."""


def _bare_found(dets: Detections, heads: np.ndarray) -> int:
    boxes = dets[dets.scores >= 0.3].with_label("head").xyxy
    return int((box_iou(heads, boxes) >= 0.5).any(axis=1).sum()) if len(boxes) else 0


def _crowded() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The ``CROWDED`` frames of ``wide1080`` (photos pasted into 1920x1080) and their labelled
    bare heads (frame px)."""
    from bench.realistic_set import ROOT, build

    folder = build("wide1080", ROOT / "build" / "realistic")
    labelled = []
    for path in sorted((folder / "images" / "val").iterdir()):
        ids, boxes = read_labels(folder / "labels" / "val" / f"{path.stem}.txt", 1920, 1080)
        labelled.append((-int((ids == 1).sum()), path.name, path, boxes[ids == 1]))
    chosen = sorted(labelled, key=lambda t: t[:2])[:CROWDED]
    return [cv2.imread(str(p)) for _, _, p, _ in chosen], [h for *_, h in chosen]


def test_the_tile_look_finds_more_bare_heads_of_crowded_1080p_frames(
    shared: Path, model_path: Path
) -> None:
    frames, heads = _crowded()
    plain = Detector(model_path, second_look=False, head_look=False, large_input=640)
    tiled = Detector(
        model_path, second_look=False, head_look=False, large_input=640, tile_scale=1.5
    )
    without = sum(_bare_found(d, h) for d, h in zip(plain.detect(frames), heads, strict=True))
    looked = sum(_bare_found(d, h) for d, h in zip(tiled.detect(frames), heads, strict=True))
    assert sum(len(h) for h in heads) == 77
    assert looked >= without + 20, (without, looked)  # 35 -> 72 with the 7-bit C3 (2026-12-07)

    mid = [cv2.resize(f, (960, 540), interpolation=cv2.INTER_AREA) for f in frames]
    heads_mid = [h / 2 for h in heads]  # at 416 the whole pass sees these heads 2.6x smaller
    without = sum(_bare_found(d, h) for d, h in zip(plain.detect(mid), heads_mid, strict=True))
    looked = sum(_bare_found(d, h) for d, h in zip(tiled.detect(mid), heads_mid, strict=True))
    assert looked >= without + 20, (without, looked)  # 25 -> 64 with the 7-bit C3 (2026-12-07)

    small = cv2.resize(frames[0], (800, 450))  # tiles at 1.5x: 2.9x the whole pass's 416
    a, b = plain.detect([small])[0], tiled.detect([small])[0]
    assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)


def test_cued_tiles_find_the_bare_heads_of_every_tile_for_fewer_tiles(
    shared: Path, model_path: Path
) -> None:
    frames, heads = _crowded()
    frames.append(np.full((1080, 1920, 3), 114, np.uint8))  # an empty view: no cue, no tile
    heads.append(np.zeros((0, 4), np.float32))
    every = Detector(model_path, second_look=False, head_look=False, tile_scale=1.5)
    cued = Detector(model_path, second_look=False, head_look=False, tile_scale=1.5, tile_cue=0.01)
    assert every.conf == 0.25  # the edge's labels' thresholds: the cues go below them
    found = [every.detect([f])[0] for f in frames]  # one at a time, as the edge batches them
    seen = [cued.detect([f])[0] for f in frames]
    all_tiles = sum(_bare_found(d, h) for d, h in zip(found, heads, strict=True))
    some_tiles = sum(_bare_found(d, h) for d, h in zip(seen, heads, strict=True))
    assert some_tiles >= all_tiles - 3, (all_tiles, some_tiles)  # 73 of 77 both (2026-12-07)
    assert cued.tiles_run <= every.tiles_run / 2, (every.tiles_run, cued.tiles_run)  # 44 of 168
    assert len(seen[-1]) == 0
    assert all((d.scores >= 0.25).all() for d in seen)  # the cues' low scores are not reported


def test_the_tile_look_adds_only_heads_the_whole_pass_sees_small(
    shared: Path, model_path: Path
) -> None:
    photos = sorted((shared / "datasets" / "neuhardhat" / "images" / "val").iterdir())[::6][:8]
    frames = []
    for path in photos:  # phone-photo sized: long side 2000 px, heads 50-300 px
        photo = cv2.imread(str(path))
        frames.append(
            cv2.resize(photo, None, fx=2000 / max(photo.shape[:2]), fy=2000 / max(photo.shape[:2]))
        )
    plain = Detector(model_path, second_look=False, head_look=False, large_input=640)
    tiled = Detector(
        model_path, second_look=False, head_look=False, large_input=640, tile_scale=1.5
    )
    added = 0
    for frame, a, b in zip(frames, plain.detect(frames), tiled.detect(frames), strict=True):
        heads = b[b.scores >= 0.1].with_label("helmet", "head")
        old = {tuple(x) for x in a.xyxy.round(1).tolist()}
        new = [x for x in heads.xyxy.round(1).tolist() if tuple(x) not in old]
        whole = 640 / max(frame.shape[:2])  # the whole pass's model px per frame px
        assert all((y2 - y1) * whole < HEAD_SMALL_PX for _, y1, _, y2 in new), new
        added += len(new)
    assert added > 0  # the tiles did add small ones


def test_frames_are_tiled_where_tiles_show_them_3x_larger_and_then_get_no_head_look(
    model_path: Path,
) -> None:
    plain = Detector(model_path, second_look=False, large_input=640)
    tiled = Detector(model_path, second_look=False, large_input=640, tile_scale=1.5)
    assert not plain.tiled((1080, 1920), (640, 640))
    assert tiled.tiled((1080, 1920), (640, 640))  # 1.5 against 1/3: 4.5x
    assert tiled.tiled((540, 960), (416, 416))  # 1.5 against 0.43: 3.5x
    assert not tiled.tiled((450, 800), (416, 416))  # 1.5 against 0.52: 2.9x
    assert not tiled.tiled((352, 640), (416, 416))  # the factory CCTV: 2.3x
    crops: list[int] = []
    record = tiled._second_look

    def counting(frames: Any, found: Any, look: Any, heads: list[bool], squares: Any) -> Any:
        crops.append(sum(heads))
        return record(frames, found, look, heads, squares)

    tiled._second_look = counting  # type: ignore[method-assign]
    frame = np.full((1080, 1920, 3), 114, np.uint8)
    tiled.detect([frame, cv2.resize(frame, (640, 352))], look=[True, True])
    assert crops == [1]  # the head look only for the frame the tiles do not see
    crops.clear()
    tiled.detect([frame], look=[True], tiles=[False])  # an edge camera without the tile look
    assert crops == [1]  # not tiled, so the head look is its


def test_a_camera_that_asks_for_tiles_hears_why_it_gets_none(
    model_path: Path, tmp_path: Path
) -> None:
    """The edge's warning (``Detector.tile_problem``): frames too small for tiles at the
    camera's input size, or a model that cannot run tiles (a fixed 416x416 input); none for a
    1080p frame with a model that can."""
    onnx = pytest.importorskip("onnx")
    tiled = Detector(model_path, second_look=False, tile_scale=1.5)
    assert tiled.tile_problem((1080, 1920), (416, 416)) is None
    small = tiled.tile_problem((360, 640), (416, 416))
    assert small is not None and small.code == "tile_look.small_frames"
    assert small.params == {"width": "640", "height": "360", "input_size": "416"}
    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    height, width = (1, 2) if dims[3].dim_value == 3 else (2, 3)  # NHWC uint8 or NCHW float
    for i in (height, width):
        dims[i].dim_value = 416  # as a model exported without dynamic height and width
    fixed = tmp_path / "fixed-416.onnx"
    onnx.save(model, str(fixed))
    cannot = Detector(fixed, second_look=False, tile_scale=1.5)
    assert cannot.tile_scale is None
    said = cannot.tile_problem((1080, 1920), (416, 416))
    assert said is not None and said.code == "tile_look.model"
    assert said.params == {"model": "fixed-416.onnx"} and "turn tile_look off" in said.text
