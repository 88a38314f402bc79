"""What the edge tells the console about each camera besides alerts: the zones and rules it
runs with (retained CameraSettings, the zone editor's starting point) and a latest-frame JPEG
(retained, the editor's backdrop), published at most every ``video.snapshot_every_s`` of the
site's config (:data:`SNAPSHOT_EVERY_S` by default)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import cv2
import numpy as np

from sitewatch.contract import messages as m
from sitewatch.edge.config.rule_specs import RULE_SPECS
from sitewatch.edge.config.schema import CameraSettings, SiteConfig, VideoConfig

SNAPSHOT_EVERY_S: float = VideoConfig.model_fields["snapshot_every_s"].default
SNAPSHOT_MAX_WIDTH = 1280
SNAPSHOT_QUALITY = 80


def camera_config_message(site: SiteConfig, cam: CameraSettings) -> m.CameraConfig:
    """The camera's zones and effective rules (site defaults merged in) under the config's
    version."""
    return m.CameraConfig(
        site_id=site.site.id,
        camera_id=cam.id,
        name=cam.name or cam.id,
        version=str(site.version),
        zones=[
            m.ZoneSpec(id=z.id, name=z.name, kind=z.kind, points=list(z.points)) for z in cam.zones
        ],
        rules={name: cam.rules.of(name).model_dump(mode="json") for name in RULE_SPECS},
        at=datetime.now(UTC),
        camera=camera_spec(site, cam),
    )


def camera_spec(site: SiteConfig, cam: CameraSettings) -> m.CameraSpec:
    """What the console's camera editor shows: passwords masked, inherited values None."""
    return m.CameraSpec(
        name=cam.name,
        detect=m.masked_url(cam.detect),
        record=m.masked_url(cam.record) if cam.record else None,
        detect_fps=None if cam.detect_fps == site.defaults.detect_fps else cam.detect_fps,
        input_size=cam.input_size,
        head_look=cam.head_look,
        coarse_look=cam.coarse_look,
        tile_look=cam.tile_look,
    )


def snapshot_jpeg(image: np.ndarray) -> bytes:
    """A JPEG of a BGR frame, scaled down to at most ``SNAPSHOT_MAX_WIDTH`` pixels wide."""
    h, w = image.shape[:2]
    if w > SNAPSHOT_MAX_WIDTH:
        size = (SNAPSHOT_MAX_WIDTH, round(h * SNAPSHOT_MAX_WIDTH / w))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
    if not ok:
        raise ValueError(f"could not encode a {w}x{h} frame as JPEG")
    return bytes(buf)


class SnapshotPacer:
    """Per camera: is a new snapshot due? (The first one is due at once.)"""

    def __init__(self, every_s: float = SNAPSHOT_EVERY_S) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def due(self, camera_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(camera_id)
        if last is not None and now - last < self.every_s:
            return False
        self._last[camera_id] = now
        return True
