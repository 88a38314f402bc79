"""Retention per stream in the edge config: evidence.keep_hours and a camera's override."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.contract.messages import VideoStream
from sitewatch.edge.config.load import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
CONFIG = """\
version: 1
site: {{id: site-a, name: Site A}}
mqtt: {{host: broker.local}}
detector: {{model: ../models/m.onnx}}
evidence: {{dir: ../var/evidence, pre_roll_s: 10, post_roll_s: 20{site}}}
outbox: {{path: ../var/outbox.sqlite}}
cameras:
  - id: gate
    detect: rtsp://192.0.2.10/sub
    record: {record}
    keep_hours: {camera}
"""


def keep_s(
    site: str = "", record: str = "rtsp://192.0.2.10/main", camera: str = "{}"
) -> dict[VideoStream, float]:
    """Seconds kept per stream of the one camera of a config with these snippets."""
    text = CONFIG.format(site=site, record=record, camera=camera)
    config, _ = parse_config(text, REPO / "configs" / "retention.yaml")
    return config.evidence.keep_s(config.cameras[0])


@pytest.mark.parametrize(
    ("site", "record", "camera", "expected"),
    [
        ("", "rtsp://192.0.2.10/main", "{}", {"detect": 168 * 3600.0, "record": 3600.0}),
        (", keep_hours: {detect: 24}", "null", "{}", {"detect": 86400.0, "record": 3600.0}),
        (", keep_hours: {record: 2}", "rtsp://192.0.2.10/main", "{detect: 1}",
         {"detect": 3600.0, "record": 7200.0}),
        # the clip stream keeps pre-roll + post-roll + 30 s at least: 60 s here
        (", keep_hours: {record: 0}", "rtsp://192.0.2.10/main", "{}",
         {"detect": 168 * 3600.0, "record": 60.0}),
        ("", "null", "{detect: 0}", {"detect": 60.0, "record": 3600.0}),  # detect feeds clips
        ("", "rtsp://192.0.2.10/sub", "{detect: 0}", {"detect": 60.0, "record": 3600.0}),
    ],
)  # fmt: skip
def test_keep_s_per_stream(site: str, record: str, camera: str, expected: dict[str, float]) -> None:
    assert keep_s(site, record, camera) == expected


@pytest.mark.parametrize(
    ("site", "camera", "said"),
    [
        (", keep_hours: 168", "{}", r"evidence.keep_hours: expected hours per stream, such as"),
        (", keep_hours: {detect: -1}", "{}", r"keep_hours.detect: expected greater than or equal"),
        (", keep_hours: {main: 3}", "{}", r"keep_hours.main: expected one of the keys"),
        ("", "{detect: 9000}", r":11: cameras\[0\].keep_hours.detect: expected less than or equal"),
        ("", "24", r"cameras\[0\].keep_hours: expected hours per stream"),
    ],
)  # fmt: skip
def test_bad_retention_is_refused_with_its_line(site: str, camera: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        keep_s(site, camera=camera)


def test_the_shipped_config_keeps_its_meaning() -> None:
    """configs/cameras.yaml sets no keep_hours: the defaults, and the same ring budget."""
    config = load_config(REPO / "configs" / "cameras.yaml")
    assert config.evidence.max_ring_gb == 2.0
    assert [config.evidence.keep_s(cam) for cam in config.cameras] == [
        {"detect": 168 * 3600.0, "record": 3600.0} for _ in config.cameras
    ]
