"""What each camera has recorded, and the playback timeline drawn from it.

The edge publishes a retained RecordingIndex per camera and stream (docs/design/live-video.md,
"Index"); :func:`store_index` keeps the latest per (site, camera, stream): a newer ``at``
replaces the row, an older or equal one (a retained copy coming again) changes nothing.
An index that says ``recording`` is not sent again while only its last span's end grows:
:func:`recorded_until` extends that end up to the camera's last status, bounded so that it
never shows recording that did not happen. :func:`timeline` answers the playback page: the
recorded spans clipped to what it asked, the camera's alerts and incidents in that time as
markers, and the edge's state. Times are Unix seconds (floats) throughout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.store.models import Alert, Camera, Incident, RecordingIndexRow, Site
from sitewatch.contract import messages as m

Span = tuple[float, float]
MARKERS_MAX = 1000
"""Most alerts (and incidents) one timeline answer lists, the newest kept."""
GROWING_MAX_S = 2.0 * m.RECORDING_INDEX_REFRESH_S
"""A growing span is extended at most this far past its index's ``at`` (s): an edge that
sent no refresh in two of its periods is not taken to be recording (a lost index, a bug)."""
FRAMES_STOPPED_S = 10.0
"""A status whose last frame is older than its own time by more than this (s) says the
camera's frames had stopped: its recording is not extended past that frame."""


def store_index(s: Session, msg: m.RecordingIndex, received_at: datetime) -> bool:
    """Keep ``msg`` as its camera and stream's index unless the stored one is as new or newer;
    returns whether it was stored."""
    row = s.get(RecordingIndexRow, (msg.site_id, msg.camera_id, msg.stream))
    if row is not None and row.at >= msg.at:
        return False
    if row is None:
        row = RecordingIndexRow(site_id=msg.site_id, camera_id=msg.camera_id, stream=msg.stream)
        s.add(row)
    row.spans = [[span.start.timestamp(), span.end.timestamp()] for span in msg.spans]
    row.size_bytes = msg.size_bytes
    row.keep_s = msg.keep_s
    row.at = msg.at
    row.received_at = received_at
    row.recording = msg.recording
    return True


def recorded_until(
    row: RecordingIndexRow, camera: Camera | None, site: Site | None, now: float
) -> float | None:
    """Where the last span of ``row`` ends as the console shows it (None: no spans).

    Its ``end`` as listed, unless the index says ``recording`` and the camera's last status
    says ``online`` while its edge is not ``offline``: then the later of ``end`` and the
    earliest of when the camera was last heard of, ``now`` and ``at`` + :data:`GROWING_MAX_S`.
    Heard of: the later of its status's time and its edge's last stats (every 60 s; a camera
    whose state changes sends a status at once, so stats after an ``online`` status mean it
    is still online), but no later than its last frame when that status said its frames had
    stopped (:data:`FRAMES_STOPPED_S` before the status). An offline camera or edge freezes
    the end at the index's (the edge sends a new index when recording stops)."""
    if not row.spans:
        return None
    end = row.spans[-1][1]
    if not row.recording or camera is None or camera.state != "online":
        return end
    if camera.status_at is None or (site is not None and site.edge_state == "offline"):
        return end
    status = camera.status_at.timestamp()
    heard = status
    if site is not None and site.stats_at is not None:
        heard = max(heard, site.stats_at.timestamp())
    if (
        camera.last_frame_at is not None
        and camera.last_frame_at.timestamp() < status - FRAMES_STOPPED_S
    ):
        heard = camera.last_frame_at.timestamp()
    return max(end, min(heard, now, row.at.timestamp() + GROWING_MAX_S))


def shown_spans(
    row: RecordingIndexRow, camera: Camera | None, site: Site | None, now: float
) -> list[Span]:
    """``row``'s spans with the last one ending at :func:`recorded_until`."""
    spans: list[Span] = [(a, b) for a, b in row.spans]
    until = recorded_until(row, camera, site, now)
    if until is not None:
        spans[-1] = (spans[-1][0], until)
    return spans


def clip_spans(spans: Iterable[Span], lo: float, hi: float) -> list[Span]:
    """``spans`` merged where they overlap or touch, clipped to ``[lo, hi]``, oldest first;
    spans wholly outside, and those clipped to nothing, are left out."""
    out: list[Span] = []
    for start, end in sorted(spans):
        start, end = max(start, lo), min(end, hi)
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def may_hold(s: Session, site_id: str, camera_id: str, stream: str, lo: float, hi: float) -> bool:
    """Whether the edge may hold some of ``[lo, hi]``: its latest index has a span there, or
    the range reaches past the index (recorded since). False with no index at all: an edge
    that records publishes one (retained), so none means nothing is recorded."""
    row = s.get(RecordingIndexRow, (site_id, camera_id, stream))
    if row is None:
        return False
    if hi > row.at.timestamp():
        return True
    return any(start < hi and lo < end for start, end in row.spans)


def timeline(
    s: Session, site_id: str, camera_id: str, stream: str, lo: float, hi: float
) -> dict[str, Any]:
    """The playback timeline of one camera and stream from ``lo`` to ``hi`` (see the Console
    API in docs/design/live-video.md): spans, alerts and incidents overlapping the range
    (at most :data:`MARKERS_MAX` each, the newest), ``keep_s``, ``index_at`` and the edge."""
    row = s.get(RecordingIndexRow, (site_id, camera_id, stream))
    spans: list[Span] = []
    if row is not None:
        camera, site = s.get(Camera, (site_id, camera_id)), s.get(Site, site_id)
        spans = clip_spans(shown_spans(row, camera, site, time.time()), lo, hi)
    t_lo, t_hi = _utc(lo), _utc(hi)
    alerts = s.scalars(
        select(Alert)
        .where(
            Alert.site_id == site_id,
            Alert.camera_id == camera_id,
            Alert.started_at <= t_hi,
            Alert.last_seen_at >= t_lo,
        )
        .order_by(Alert.started_at.desc())
        .limit(MARKERS_MAX)
    )
    incidents = s.scalars(
        select(Incident)
        .where(
            Incident.site_id == site_id,
            Incident.camera_id == camera_id,
            Incident.first_at <= t_hi,
            Incident.last_at >= t_lo,
        )
        .order_by(Incident.first_at.desc())
        .limit(MARKERS_MAX)
    )
    return {
        "spans": [{"start": a, "end": b} for a, b in spans],
        "alerts": [
            {
                "id": a.id,
                "at": a.started_at.timestamp(),
                "rule": a.rule,
                "state": a.state,
                "incident_id": a.incident_id,
            }
            for a in reversed(list(alerts))
        ],
        "incidents": [
            {
                "id": i.id,
                "first_at": i.first_at.timestamp(),
                "last_at": i.last_at.timestamp(),
                "rule": i.rule,
                "state": i.state,
            }
            for i in reversed(list(incidents))
        ],
        "keep_s": row.keep_s if row is not None else None,
        "index_at": row.at.timestamp() if row is not None else None,
        "edge": edge_state(s, site_id),
    }


def edge_state(s: Session, site_id: str) -> dict[str, Any]:
    """``{state, since}`` of the site's edge: since its last message when offline, else since
    it started (Unix seconds; None when unknown)."""
    site = s.get(Site, site_id)
    if site is None:
        return {"state": "unknown", "since": None}
    since = site.last_seen_at if site.edge_state == "offline" else site.edge_started_at
    return {"state": site.edge_state, "since": since.timestamp() if since else None}


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
