"""MQTT topics of the contract: one function per topic, and the table documented in docs/schemas.

Site and camera ids are single topic levels; pass :data:`ANY` (``+``) instead of one to get
the subscription pattern for all of them, e.g. ``alerts(prefix, ANY)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_PREFIX = "sitewatch"
ANY = "+"
EDGE_TO_CONSOLE = "edge → console"
CONSOLE_TO_EDGE = "console → edge"


def _level(value: str, what: str) -> str:
    if value != ANY and (not value or any(c in value for c in "/+#")):
        raise ValueError(f"{what} {value!r} must be one non-empty topic level without / + #")
    return value


def _prefix(prefix: str) -> str:
    if not prefix or prefix[0] == "/" or prefix[-1] == "/" or "+" in prefix or "#" in prefix:
        raise ValueError(f"topic prefix {prefix!r} must look like 'sitewatch' or 'acme/sitewatch'")
    return prefix


def _site(prefix: str, site: str) -> str:
    return f"{_prefix(prefix)}/{_level(site, 'site id')}"


def alerts(prefix: str, site: str) -> str:
    """Alert events (AlertEvent), QoS 1 from the outbox."""
    return f"{_site(prefix, site)}/alerts"


def camera_status(prefix: str, site: str, camera: str) -> str:
    """Retained CameraStatus of one camera."""
    return f"{_site(prefix, site)}/cameras/{_level(camera, 'camera id')}/status"


def camera_config(prefix: str, site: str, camera: str) -> str:
    """Retained CameraConfig: the zones and rules one camera runs with."""
    return f"{_site(prefix, site)}/cameras/{_level(camera, 'camera id')}/config"


def camera_snapshot(prefix: str, site: str, camera: str) -> str:
    """Retained latest JPEG of one camera (bytes, not JSON): the zone editor's backdrop."""
    return f"{_site(prefix, site)}/cameras/{_level(camera, 'camera id')}/snapshot"


def edge_status(prefix: str, site: str) -> str:
    """Retained EdgeStatus; the edge's last will goes here."""
    return f"{_site(prefix, site)}/edge/status"


def stats(prefix: str, site: str) -> str:
    """Periodic EdgeStats."""
    return f"{_site(prefix, site)}/stats"


def config_command(prefix: str, site: str) -> str:
    """ConfigCommand or CameraCommand from the console to the edge of ``site``."""
    return f"{_site(prefix, site)}/config/set"


def config_result(prefix: str, site: str) -> str:
    """ConfigResult from the edge back to the console."""
    return f"{_site(prefix, site)}/config/result"


def video_command(prefix: str, site: str) -> str:
    """VideoCommand from the console to the edge of ``site`` (live view, playback ranges)."""
    return f"{_site(prefix, site)}/video/command"


def recording_index(prefix: str, site: str, camera: str, stream: str) -> str:
    """Retained RecordingIndex of one camera's ``stream`` (detect or record): one retained
    message per stream, so a new subscriber gets both."""
    if stream not in (ANY, "detect", "record", "{stream}"):
        raise ValueError(f"stream {stream!r} must be 'detect' or 'record'")
    return f"{_site(prefix, site)}/cameras/{_level(camera, 'camera id')}/recordings/{stream}"


def evidence(prefix: str, site: str, alert_id: str, name: str) -> str:
    """One evidence file of an alert: the payload is the file's bytes, checked by the console
    against the SHA-256 in the alert's ``evidence`` list. Published through the outbox before
    the alert message that lists it."""
    return (
        f"{_site(prefix, site)}/evidence/{_level(alert_id, 'alert id')}/{_level(name, 'file name')}"
    )


def evidence_filter(prefix: str, site: str = ANY) -> str:
    """Subscription filter for every evidence file of ``site`` (or of every site)."""
    return f"{_site(prefix, site)}/evidence/+/+"


def edge_client_id(site_id: str) -> str:
    """The MQTT client id an edge of ``site_id`` uses unless configured otherwise; broker
    accounts grant its session queues by it (RabbitMQ: ``mqtt-subscription-<id>qos1``)."""
    return f"sitewatch-edge-{site_id}"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name (or pattern), the message schema on it, and how it is published."""

    topic: str
    schema: str  # e.g. "sitewatch.alert/1"
    retained: bool
    qos: Literal[0, 1]
    direction: str


def topic_table(
    prefix: str = "{prefix}", site: str = "{site}", camera: str = "{camera}"
) -> tuple[TopicSpec, ...]:
    """Every topic with its message schema, retained flag, QoS and direction."""
    return (
        TopicSpec(alerts(prefix, site), "sitewatch.alert/1", False, 1, EDGE_TO_CONSOLE),
        TopicSpec(
            camera_status(prefix, site, camera),
            "sitewatch.camera_status/1",
            True,
            1,
            EDGE_TO_CONSOLE,
        ),
        TopicSpec(
            camera_config(prefix, site, camera),
            "sitewatch.camera_config/1",
            True,
            1,
            EDGE_TO_CONSOLE,
        ),
        TopicSpec(edge_status(prefix, site), "sitewatch.edge_status/1", True, 1, EDGE_TO_CONSOLE),
        TopicSpec(stats(prefix, site), "sitewatch.stats/1", False, 0, EDGE_TO_CONSOLE),
        TopicSpec(
            config_command(prefix, site), "sitewatch.config_command/1", False, 1, CONSOLE_TO_EDGE
        ),
        TopicSpec(
            config_command(prefix, site), "sitewatch.camera_command/1", False, 1, CONSOLE_TO_EDGE
        ),
        TopicSpec(
            config_result(prefix, site), "sitewatch.config_result/1", False, 1, EDGE_TO_CONSOLE
        ),
        TopicSpec(
            video_command(prefix, site), "sitewatch.video_command/1", False, 1, CONSOLE_TO_EDGE
        ),
        TopicSpec(
            recording_index(prefix, site, camera, ANY if camera == ANY else "{stream}"),
            "sitewatch.recording_index/1",
            True,
            1,
            EDGE_TO_CONSOLE,
        ),
    )


def console_subscriptions(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Topic filters the console subscribes to: everything edges publish, for every site."""
    edge_topics = [t.topic for t in topic_table(prefix, ANY, ANY) if t.direction == EDGE_TO_CONSOLE]
    return [*edge_topics, evidence_filter(prefix), camera_snapshot(prefix, ANY, ANY)]
