"""The console's Prometheus metrics: a prometheus_client collector read afresh at each scrape.

Names follow Prometheus' conventions: base units in the name (``_seconds``; ``fps`` is frames
per second, ``disk_hours_left`` is hours, as the edge reports it), counters end in ``_total``,
build facts in ``_info``. Ingest counts are this replica's since it started: every message
received is dropped, handled, or still waiting, so ``sitewatch_ingest_messages_received_total``
= sum over ``outcome`` of ``sitewatch_ingest_messages_total`` + ``sitewatch_ingest_queue_messages``.
Camera and edge numbers are the latest each edge reported (camera status, edge stats); gauges
of an edge now offline are left out (they would be stale), its counters stay.

Each scrape registers :class:`ConsoleCollector` on a private ``CollectorRegistry`` (see
:func:`registry`): several apps in one process never share one.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch import __version__
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, Camera, Site
from sitewatch.console.workflow import OPEN_STATES

Metric = CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily


def registry(state: AppState) -> CollectorRegistry:
    """A registry of its own holding one :class:`ConsoleCollector` for ``state``."""
    reg = CollectorRegistry(auto_describe=False)  # no describe(): register() queries nothing
    reg.register(ConsoleCollector(state))
    return reg


class ConsoleCollector(Collector):
    """Reads the ingest's counters and the database at each ``collect()``."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("sitewatch_build", "The console's SiteWatch and Python versions.")
        info.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield info
        yield from self._ingest()
        with self.state.db.session() as s:
            yield _alerts_open(s)
            sites = list(s.scalars(select(Site).order_by(Site.id)))
            cameras = list(s.scalars(select(Camera).order_by(Camera.site_id, Camera.camera_id)))
        yield from _edges(sites)
        yield from _cameras(cameras, {x.id for x in sites if x.edge_state == "offline"})

    def _ingest(self) -> Iterator[Metric]:
        ingest = self.state.ingest
        # read handled and dropped before received: each is counted in received first
        handled, dropped = (ingest.handled, ingest.dropped) if ingest else (0, 0)
        received = ingest.received if ingest else 0
        oldest = ingest.oldest_waiting_at if ingest else None
        yield _gauge(
            "sitewatch_ingest_connected",
            "1 if this console's MQTT ingest is connected to the broker.",
            int(bool(ingest and ingest.connected)),
        )
        yield CounterMetricFamily(
            "sitewatch_ingest_messages_received",
            "MQTT messages this console received since it started; = the sum of "
            "sitewatch_ingest_messages_total over outcome + sitewatch_ingest_queue_messages.",
            value=received,
        )
        outcomes = CounterMetricFamily(
            "sitewatch_ingest_messages",
            "MQTT messages done with, by outcome: handled (stored, or refused whole and kept in "
            "ingest_rejects) or dropped (QoS 0 beyond the ingest queue's bound, never queued).",
            labels=["outcome"],
        )
        outcomes.add_metric(["handled"], handled)
        outcomes.add_metric(["dropped"], dropped)
        yield outcomes
        yield _gauge(
            "sitewatch_ingest_queue_messages",
            "MQTT messages received and not yet handled: queued, or being handled now.",
            max(received - handled - dropped, 0),
        )
        lag = 0.0 if oldest is None else max((datetime.now(UTC) - oldest).total_seconds(), 0.0)
        yield _gauge(
            "sitewatch_ingest_lag_seconds",
            "Age of the oldest message waiting in this console's ingest queue (0 when none "
            "waits): how far this replica's ingest is behind what it received.",
            lag,
            unit="seconds",
        )
        yield CounterMetricFamily(
            "sitewatch_ingest_refusals",
            "Refusals by ingest, each kept in ingest_rejects: of a whole message (malformed, "
            "forged, too large) or of a part of a stored one (an evidence file), so not a "
            "count of messages.",
            value=ingest.rejected if ingest else 0,
        )
        yield CounterMetricFamily(
            "sitewatch_ingest_evidence_evicted",
            "Evidence files waiting for their alert that were deleted, oldest first, for "
            "their site's quota.",
            value=ingest.evidence_evicted if ingest else 0,
        )


def _gauge(name: str, help_: str, value: float, unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=value, unit=unit)


def _alerts_open(s: Session) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "sitewatch_alerts_open",
        "Alerts not yet resolved or marked false positive.",
        labels=["site", "camera", "rule"],
    )
    rows = s.execute(
        select(Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(Alert.state.in_(OPEN_STATES))
        .group_by(Alert.site_id, Alert.camera_id, Alert.rule)
        .order_by(Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    for site, camera, rule, n in rows:
        family.add_metric([site, camera, rule], n)
    return family


def _number(stats: dict[str, object] | None, key: str) -> float | None:
    value = (stats or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # absent (an older edge), or None: unknown
    return float(value)


def _edges(sites: list[Site]) -> Iterator[GaugeMetricFamily]:
    """From each site's latest edge status and stats (``Site.stats``: an EdgeStats as JSON)."""
    up = GaugeMetricFamily(
        "sitewatch_edge_up", "1 if the site's edge worker is online.", labels=["site"]
    )
    inference = GaugeMetricFamily(
        "sitewatch_edge_inference_seconds",
        "Detector time per batch over the edge's last stats interval, by quantile (0.5, 0.95).",
        labels=["site", "quantile"],
        unit="seconds",
    )
    disk = GaugeMetricFamily(
        "sitewatch_edge_disk_hours_left",
        "Hours of recording the edge's free disk holds (its unit is hours).",
        labels=["site"],
    )
    outbox = GaugeMetricFamily(
        "sitewatch_edge_outbox_messages",
        "Messages waiting in the edge's outbox at the end of its last stats interval.",
        labels=["site"],
    )
    for site in sites:
        up.add_metric([site.id], int(site.edge_state == "online"))
        if site.edge_state == "offline":
            continue
        for quantile, key in (("0.5", "inference_ms_p50"), ("0.95", "inference_ms_p95")):
            if (ms := _number(site.stats, key)) is not None:
                inference.add_metric([site.id, quantile], ms / 1000.0)
        if (hours := _number(site.stats, "disk_hours_left")) is not None:
            disk.add_metric([site.id], hours)
        if (depth := _number(site.stats, "outbox_depth")) is not None:
            outbox.add_metric([site.id], depth)
    yield from (up, inference, disk, outbox)


def _cameras(cameras: list[Camera], offline: set[str]) -> Iterator[Metric]:
    """From each camera's latest status (``Camera`` rows); ``offline``: sites whose edge is."""
    labels = ["site", "camera"]
    up = GaugeMetricFamily(
        "sitewatch_camera_up", "1 if the camera's stream is online (its edge too).", labels=labels
    )
    fps_in = GaugeMetricFamily(
        "sitewatch_camera_fps_in",
        "Frames per second decoded from the camera's stream, recent mean.",
        labels=labels,
    )
    fps_analysed = GaugeMetricFamily(
        "sitewatch_camera_fps_analysed",
        "Frames per second of the camera that reached the detector, recent mean.",
        labels=labels,
    )
    dropped = CounterMetricFamily(
        "sitewatch_camera_frames_dropped",
        "Frames of the camera dropped as stale since its edge started (resets with the edge).",
        labels=labels,
    )
    reconnects = CounterMetricFamily(
        "sitewatch_camera_reconnects",
        "Reconnections to the camera's stream since its edge started (resets with the edge).",
        labels=labels,
    )
    for cam in cameras:
        key = [cam.site_id, cam.camera_id]
        up.add_metric(key, int(cam.state == "online" and cam.site_id not in offline))
        if cam.status_at is None:
            continue  # no status yet: nothing measured
        dropped.add_metric(key, cam.frames_dropped)
        reconnects.add_metric(key, cam.reconnects)
        if cam.site_id not in offline:
            fps_in.add_metric(key, cam.fps_in)
            fps_analysed.add_metric(key, cam.fps_analysed)
    yield from (up, fps_in, fps_analysed, dropped, reconnects)
