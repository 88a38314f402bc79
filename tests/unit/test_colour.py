"""Frame pictures to BGR: OpenCV for limited-range YUV 4:2:0, swscale for everything else."""

from __future__ import annotations

import av
import numpy as np
import pytest

from bench.colour import bt601
from sitewatch.edge.video.capture import FULL_RANGE, _bgr


def _yuv420p(width: int, height: int, seed: int = 0) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    bgr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    bgr[: height // 2] = bgr[: height // 2] // 4 + 96  # a calm half, as camera pictures are
    return av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")


def test_limited_range_yuv420p_is_converted_by_the_formula() -> None:
    frame = _yuv420p(640, 360)
    image = _bgr(frame)
    assert image.shape == (360, 640, 3) and image.dtype == np.uint8
    error = image.astype(np.float64) - bt601(frame)
    assert abs(error.mean()) < 0.3 and np.abs(error).mean() < 0.6 and np.abs(error).max() <= 3
    swscale = frame.to_ndarray(format="bgr24").astype(np.float64) - bt601(frame)
    assert np.abs(error).mean() < np.abs(swscale).mean(), "no worse than swscale"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(_yuv420p(640, 360), id="full range"),
        pytest.param(_yuv420p(64, 36).reformat(format="nv12"), id="nv12"),
        pytest.param(_yuv420p(64, 36).reformat(format="yuvj420p"), id="yuvj420p"),
    ],
)
def test_other_pictures_go_through_swscale(frame: av.VideoFrame) -> None:
    if frame.format.name == "yuv420p":
        frame.color_range = FULL_RANGE
    assert np.array_equal(_bgr(frame), frame.to_ndarray(format="bgr24"))
