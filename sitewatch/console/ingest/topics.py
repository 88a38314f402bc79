"""Which message a topic carries: the console's side of :mod:`sitewatch.contract.topics`.

:func:`route` turns a topic such as ``sitewatch/north/cameras/gate/status`` into a
:class:`Route` (kind, site, camera, alert id, file name), checking every id against the
contract's patterns, so no id read from a topic can name a path outside the evidence store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sitewatch.console.ids import TopicError as TopicError  # defined with the id checks
from sitewatch.console.ids import check_alert_id, check_id, check_name
from sitewatch.contract import messages as m

Kind = Literal[
    "alert",
    "camera_status",
    "camera_config",
    "snapshot",
    "edge_status",
    "stats",
    "config_result",
    "evidence",
    "recording_index",
]

MODELS: dict[Kind, type[m.Message]] = {
    "alert": m.AlertEvent,
    "camera_status": m.CameraStatus,
    "camera_config": m.CameraConfig,
    "edge_status": m.EdgeStatus,
    "stats": m.EdgeStats,
    "config_result": m.ConfigResult,
    "recording_index": m.RecordingIndex,
}
"""The JSON message each kind must carry; snapshot and evidence payloads are raw bytes."""


CAMERA_KINDS: dict[str, Kind] = {
    "status": "camera_status",
    "config": "camera_config",
    "snapshot": "snapshot",
}


@dataclass(frozen=True)
class Route:
    kind: Kind
    site_id: str
    camera_id: str | None = None
    alert_id: str | None = None
    name: str | None = None


def route(prefix: str, topic: str) -> Route:
    """The route of ``topic`` under ``prefix``; :class:`TopicError` for anything else."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise TopicError(f"expected a topic under {head}, got {topic!r}")
    parts = topic[len(head) :].split("/")
    site = check_id(parts[0], "site id")
    rest = parts[1:]
    if rest == ["alerts"]:
        return Route("alert", site)
    if rest == ["edge", "status"]:
        return Route("edge_status", site)
    if rest == ["stats"]:
        return Route("stats", site)
    if rest == ["config", "result"]:
        return Route("config_result", site)
    if len(rest) == 3 and rest[0] == "cameras" and rest[2] in CAMERA_KINDS:
        camera = check_id(rest[1], "camera id")
        return Route(CAMERA_KINDS[rest[2]], site, camera_id=camera)
    if len(rest) == 4 and rest[0] == "cameras" and rest[2] == "recordings":
        if rest[3] not in ("detect", "record"):
            raise TopicError(f"expected a stream 'detect' or 'record' at the end of {topic!r}")
        return Route(
            "recording_index", site, camera_id=check_id(rest[1], "camera id"), name=rest[3]
        )
    if len(rest) == 3 and rest[0] == "evidence":
        return Route("evidence", site, alert_id=check_alert_id(rest[1]), name=check_name(rest[2]))
    raise TopicError(
        f"expected one of the contract's topics (docs/schemas/README.md), got {topic!r}"
    )
