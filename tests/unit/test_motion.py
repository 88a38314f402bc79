"""Motion gate on literal frames: a still scene is skipped, a change or a due time is not."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.edge.video.motion import MotionGate


def scene(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (360, 640, 3), dtype=np.uint8)


def test_first_frame_is_always_analysed() -> None:
    assert MotionGate().should_analyse(scene(), 0.0)


def test_still_scene_with_noise_is_skipped_until_due() -> None:
    gate = MotionGate(max_skip_s=5.0)
    base = scene()
    rng = np.random.default_rng(1)
    decisions = []
    for i in range(12):  # 2 fps for 6 s
        noisy = np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
        decisions.append(gate.should_analyse(noisy, i * 0.5))
    assert decisions[0] and decisions[10]  # first frame, then due again at t = 5 s
    assert sum(decisions) == 2
    assert gate.skipped == 10


def test_a_person_walking_in_is_analysed() -> None:
    gate = MotionGate()
    base = scene()
    gate.should_analyse(base, 0.0)
    moved = base.copy()
    moved[100:220, 300:360] = 0  # a dark figure, ~3 % of the frame
    assert gate.should_analyse(moved, 0.5)


def test_frame_size_change_resets_the_reference() -> None:
    gate = MotionGate()
    gate.should_analyse(scene(), 0.0)
    assert gate.should_analyse(np.zeros((720, 1280, 3), np.uint8), 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pixel_delta": 0}, "pixel_delta"),
        ({"min_area": 1.5}, "min_area"),
        ({"max_skip_s": -1}, "max_skip_s"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MotionGate(**kwargs)  # type: ignore[arg-type]
