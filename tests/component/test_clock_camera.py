"""The clock camera of the live-video tests (tests/support/clock_camera.py): its code survives a
real H.264 encoder and a rescale, and the served RTSP stream carries the wall clock."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.clock_camera import FPS, HEIGHT, WIDTH, ClockCamera, paint_i420, read_clock
from tests.support.rtsp_server import _check_gstreamer

# Unix ms: one now-ish, the extremes of the bit pattern a frame can show
MOMENTS_MS = [1_780_000_123_456, 1_780_000_123_457, 1_780_000_124_999, 0, 2**48 - 1]


def _decode(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """Frames of ``path`` as RGB arrays, scaled to ``size`` (width, height) by ffmpeg."""
    w, h = size
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-vf", f"scale={w}:{h}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return list(np.frombuffer(out, np.uint8).reshape(-1, h, w, 3))


@pytest.mark.parametrize("size", [(WIDTH, HEIGHT), (WIDTH // 2, HEIGHT // 2), (1280, 720)])
def test_code_survives_h264_at_a_camera_bitrate_and_a_rescale(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    raw = b"".join(paint_i420(ms) for ms in MOMENTS_MS)
    clip = tmp_path / "clock.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
         "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", "-c:v", "libx264",
         "-b:v", "300k", "-g", "10", str(clip)],
        input=raw, check=True, timeout=60,
    )  # fmt: skip
    frames = _decode(clip, size)
    assert [round(read_clock(f) * 1000) for f in frames] == MOMENTS_MS


def test_a_picture_without_the_code_is_refused() -> None:
    noise = np.random.default_rng(7).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    grey = np.full((HEIGHT, WIDTH), 128, np.uint8)
    for picture in (noise, grey):
        with pytest.raises(ValueError, match="clock code"):
            read_clock(picture)


@pytest.mark.slow
def test_served_frames_carry_the_wall_clock_they_were_made_at() -> None:
    _check_gstreamer()
    with ClockCamera() as camera:
        proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
             "-fflags", "nobuffer", "-i", camera.url, "-fps_mode", "passthrough",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            shown, lag = [], []
            for _ in range(40):
                data = proc.stdout.read(WIDTH * HEIGHT * 3)
                assert len(data) == WIDTH * HEIGHT * 3, "the clock camera's stream ended"
                at = read_clock(np.frombuffer(data, np.uint8).reshape(HEIGHT, WIDTH, 3))
                shown.append(at)
                lag.append(time.time() - at)
        finally:
            proc.kill()
            proc.wait()
    steps = np.diff(shown)
    assert (steps > 0).all(), f"frame times go back: {shown}"
    assert np.median(steps) == pytest.approx(1 / FPS, abs=0.02), f"not {FPS} fps: {steps}"
    # the first frames come in a burst (ffmpeg's probing); once caught up a frame is fresh
    assert 0 <= min(lag[-10:]) < 1.5, f"frames are not of now: lag {lag}"
