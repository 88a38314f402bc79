"""Letterbox geometry, pixel placement and the inverse box mapping, on literal frame sizes."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.edge.detect.letterbox import (
    PAD_VALUE,
    Letterbox,
    boxes_to_frame,
    boxes_to_tensor,
    letterbox_batch,
    letterbox_geometry,
)

# frame (h, w), model input (h, w), expected (scale, pad_x, pad_y) worked out by hand
GEOMETRY = [
    ((416, 416), (416, 416), (1.0, 0, 0)),
    ((200, 100), (416, 416), (2.08, 104, 0)),  # portrait, upscaled: 208 px wide, centred
    ((352, 640), (416, 416), (0.65, 0, 93)),  # CCTV: 416x229, (416-229)/2 = 93.5 -> 93
    ((1920, 1080), (416, 416), (416 / 1920, 91, 0)),  # tall phone video: 234 px wide
    ((3, 5), (416, 416), (83.2, 0, 83)),  # tiny: 416x250
    ((1000, 2), (416, 416), (0.416, 207, 0)),  # a sliver: 1 px wide at least
    ((720, 1280), (384, 640), (0.5, 0, 12)),  # non-square model input
]


@pytest.mark.parametrize(("frame_hw", "input_hw", "expected"), GEOMETRY)
def test_geometry(
    frame_hw: tuple[int, int], input_hw: tuple[int, int], expected: tuple[float, int, int]
) -> None:
    lb = letterbox_geometry(frame_hw, input_hw)
    assert lb.scale == pytest.approx(expected[0])
    assert (lb.pad_x, lb.pad_y) == expected[1:]


@pytest.mark.parametrize(("frame_hw", "input_hw", "expected"), GEOMETRY)
def test_bright_patch_lands_where_the_geometry_says(
    frame_hw: tuple[int, int], input_hw: tuple[int, int], expected: tuple[float, int, int]
) -> None:
    h, w = frame_hw
    # the middle half of each side, or all of a side too thin to halve
    x1, x2 = (w // 4, 3 * w // 4) if w >= 4 else (0, w)
    y1, y2 = (h // 4, 3 * h // 4) if h >= 4 else (0, h)
    frame = np.zeros((h, w, 3), np.uint8)
    frame[y1:y2, x1:x2] = 255
    tensor, (lb,) = letterbox_batch([frame], input_hw)
    assert tensor.shape == (1, 3, *input_hw) and tensor.dtype == np.float32
    ys, xs = np.nonzero(tensor[0, 0] > 0.9)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = boxes_to_frame(found, lb, frame_hw)[0]
    tolerance = max(1.0, 2.0 / lb.scale)  # linear interpolation smears edges by a pixel
    np.testing.assert_allclose(back, [x1, y1, x2, y2], atol=tolerance)
    if lb.pad_y > 0:
        np.testing.assert_allclose(tensor[0, :, 0, :], PAD_VALUE / 255, atol=1e-6)
    if lb.pad_x > 0:
        np.testing.assert_allclose(tensor[0, :, :, 0], PAD_VALUE / 255, atol=1e-6)


def test_batch_of_different_sizes_is_bgr_to_rgb_and_each_frame_is_placed_alone() -> None:
    blue = np.zeros((100, 300, 3), np.uint8)
    blue[..., 0] = 255  # BGR blue
    red = np.zeros((300, 100, 3), np.uint8)
    red[..., 2] = 255  # BGR red
    tensor, boxes = letterbox_batch([blue, red], (416, 416))
    assert tensor.shape == (2, 3, 416, 416) and tensor.flags.c_contiguous
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0
    centre = (slice(None), 208, 208)
    np.testing.assert_allclose(tensor[0][centre], [0.0, 0.0, 1.0])  # RGB: blue is channel 2
    np.testing.assert_allclose(tensor[1][centre], [1.0, 0.0, 0.0])
    assert boxes == [
        letterbox_geometry((100, 300), (416, 416)),
        letterbox_geometry((300, 100), (416, 416)),
    ]


@pytest.mark.parametrize(("frame_hw", "input_hw", "expected"), GEOMETRY)
def test_round_trip(
    frame_hw: tuple[int, int], input_hw: tuple[int, int], expected: tuple[float, int, int]
) -> None:
    h, w = frame_hw
    boxes = np.array(
        [[0, 0, w, h], [w * 0.1, h * 0.2, w * 0.5, h * 0.9], [w / 3, h / 3, w / 3, h / 3]],
        np.float32,
    )
    lb = letterbox_geometry(frame_hw, input_hw)
    back = boxes_to_frame(boxes_to_tensor(boxes, lb), lb, frame_hw)
    np.testing.assert_allclose(back, boxes, atol=1e-3 * max(h, w))


@pytest.mark.parametrize(
    ("box", "clipped"),
    [
        ([-50, -20, 100, 100], [0, 0, 100, 100]),
        ([600, 300, 700, 400], [600, 300, 640, 352]),
        ([-10, -10, 1000, 1000], [0, 0, 640, 352]),
    ],
)
def test_boxes_are_clipped_to_the_frame(box: list[float], clipped: list[float]) -> None:
    lb = Letterbox(scale=1.0, pad_x=0, pad_y=0)
    out = boxes_to_frame(np.array([box], np.float32), lb, (352, 640))
    np.testing.assert_allclose(out[0], clipped)


def test_no_boxes_and_bad_shapes() -> None:
    lb = Letterbox(scale=0.5, pad_x=3, pad_y=4)
    assert boxes_to_frame(np.zeros((0, 4), np.float32), lb, (10, 10)).shape == (0, 4)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        boxes_to_frame(np.zeros((3,), np.float32), lb, (10, 10))
    with pytest.raises(ValueError, match="positive"):
        letterbox_geometry((0, 10), (416, 416))
