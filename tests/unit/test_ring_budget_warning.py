"""The start-up estimate of whether ``evidence.max_ring_gb`` holds the configured retention:
literal rates, and a real ring folder (segment files and their CSV list in a tmp folder)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from sitewatch.edge.video.budget import (
    MIN_MEASURED_S,
    RingBudget,
    StreamNeed,
    check_ring_budget,
    stream_need,
)
from sitewatch.edge.video.recording import CameraRecording

HOUR = 3600.0
DETECT_RATE = 225e6  # bytes per hour: 0.5 Mbit/s, the assumed sub-stream
RECORD_RATE = 1.8e9  # bytes per hour: 4 Mbit/s, the assumed main stream


def need(camera: str, keep_h: float, rate: float, stream: str = "detect") -> StreamNeed:
    return StreamNeed(camera, stream, keep_h * HOUR, rate, measured=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("needs", "max_gb", "short", "kept_h"),
    [
        # one camera, a week of the sub-stream: 37.8 GB against the default 2 GB
        ([need("a", 168, DETECT_RATE)], 2.0, True, 2e9 / DETECT_RATE),
        # the same in a 40 GB budget: fits, the whole week is kept
        ([need("a", 168, DETECT_RATE)], 40.0, False, 168.0),
        # detect 168 h + record 1 h: the record hour alone (2.0 GB with detect's) overflows
        (
            [need("a", 168, DETECT_RATE), need("a", 1, RECORD_RATE, "record")],
            2.0,
            True,
            2e9 / (DETECT_RATE + RECORD_RATE),
        ),
        # in 10 GB the record hour fits and detect reaches back further on what is left
        (
            [need("a", 168, DETECT_RATE), need("a", 1, RECORD_RATE, "record")],
            10.0,
            True,
            1.0 + (10e9 - (DETECT_RATE + RECORD_RATE)) / DETECT_RATE,
        ),
        # four cameras share one budget equally
        ([need(c, 168, DETECT_RATE) for c in "abcd"], 9.0, True, 9e9 / (4 * DETECT_RATE)),
        ([], 2.0, False, 0.0),
    ],
)
def test_kept_hours_and_shortfall(
    needs: list[StreamNeed], max_gb: float, short: bool, kept_h: float
) -> None:
    budget = RingBudget(int(max_gb * 1e9), tuple(needs))
    assert budget.short is short
    assert budget.kept_hours() == pytest.approx(kept_h)
    assert (budget.warning() is not None) is short


def test_the_warning_says_the_numbers_and_what_to_change() -> None:
    budget = RingBudget(2 * 10**9, (need("gate", 168, DETECT_RATE),))
    text = budget.warning()
    assert text is not None
    assert "37.8 GB" in text  # 168 h x 225 MB/h
    assert "gate detect: 168 h at 0.50 Mbit/s (assumed) = 37.8 GB" in text
    assert "evidence.max_ring_gb is 2 GB" in text and "about 8.9 h" in text
    assert "Raise evidence.max_ring_gb to at least 38" in text
    assert "lower evidence.keep_hours" in text and "oldest hours to go first" in text


def test_a_long_list_of_streams_is_cut_short() -> None:
    budget = RingBudget(10**9, tuple(need(f"cam{i}", 168, DETECT_RATE) for i in range(9)))
    text = budget.warning()
    assert text is not None and "cam5 detect" in text and "cam6" not in text
    assert "and 3 more" in text and "9 cameras, 9 streams" in text


@pytest.mark.parametrize(
    ("segments", "measured", "rate"),
    [
        ([], False, DETECT_RATE),
        ([(60.0, 10**6)] * 4, False, DETECT_RATE),  # 240 s: too little to trust
        ([(60.0, 7_500_000)] * 5, True, 450e6),  # 300 s of 1 Mbit/s
    ],
)
def test_rate_is_measured_once_enough_is_recorded(
    segments: list[tuple[float, int]], measured: bool, rate: float
) -> None:
    got = stream_need("a", "detect", 168 * HOUR, segments)
    assert got.measured is measured and got.bytes_per_hour == pytest.approx(rate)


def write_ring(folder: Path, count: int, seconds: float, size: int) -> None:
    """``count`` segments of ``seconds`` and ``size`` bytes (sparse) and their CSV list, as the
    recorder leaves them, ended one after the other up to a minute ago."""
    folder.mkdir(parents=True)
    end = time.time() - 60.0
    rows = []
    for i in range(count):
        name = f"r1-{i:06d}.ts"
        with open(folder / name, "wb") as f:
            f.truncate(size)
        stamp = end - (count - 1 - i) * seconds
        os.utime(folder / name, (stamp, stamp))
        rows.append(f"{name},{i * seconds:.3f},{(i + 1) * seconds:.3f}")
    (folder / "r1.csv").write_text("\n".join(rows) + "\n")
    os.utime(folder / "r1.csv", (end, end))


def test_a_recorded_ring_is_measured_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "ring" / "gate"
    count = int(MIN_MEASURED_S // 60) + 1
    write_ring(root / "detect", count, 60.0, 7_500_000)  # 1 Mbit/s
    recording = CameraRecording(
        "gate", "rtsp://192.0.2.1/sub", None, root, segment_s=60.0, keep_s={"detect": 168 * HOUR}
    )
    with caplog.at_level(logging.INFO, logger="sitewatch.edge.video.budget"):
        budget = check_ring_budget({"gate": recording}, 2 * 10**9)
    assert [(n.camera_id, n.stream, n.measured) for n in budget.needs] == [("gate", "detect", True)]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "1.00 Mbit/s (measured) = 75.6 GB" in warned[0]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sitewatch.edge.video.budget"):
        check_ring_budget({"gate": recording}, 80 * 10**9)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "75.6 GB of its 80.0 GB budget" in caplog.records[0].getMessage()
