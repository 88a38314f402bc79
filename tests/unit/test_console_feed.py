"""The camera config and snapshot the edge gives the console's zone editor."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sitewatch.contract import messages as m
from sitewatch.edge.config.load import load_config
from sitewatch.edge.publish.console_feed import SnapshotPacer, camera_config_message, snapshot_jpeg

REPO = Path(__file__).resolve().parents[2]


def test_camera_config_round_trips_through_the_contract() -> None:
    site = load_config(REPO / "configs" / "cameras.yaml")
    for cam in site.cameras:
        msg = camera_config_message(site, cam)
        back = m.decode(m.encode(msg), m.CameraConfig)
        assert back.version == str(site.version)
        assert [z.id for z in back.zones] == [z.id for z in cam.zones]
        assert back.rules["no_helmet"]["min_score"] == cam.rules.no_helmet.min_score
        assert back.rules["smoking"]["dwell_s"] == cam.rules.smoking.dwell_s


def test_snapshot_is_a_scaled_down_jpeg() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    cv2.rectangle(frame, (100, 100), (600, 500), (0, 255, 0), -1)
    data = snapshot_jpeg(frame)
    assert data[:3] == b"\xff\xd8\xff"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (720, 1280, 3)


def test_pacer_allows_one_snapshot_per_interval_per_camera() -> None:
    pacer = SnapshotPacer(every_s=60.0)
    assert pacer.due("a", 0.0) and pacer.due("b", 0.0)
    assert not pacer.due("a", 59.0)
    assert pacer.due("a", 60.5)
