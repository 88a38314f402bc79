"""Camera and edge status, stats, camera configs, snapshots and config results.

Retained topics hold state: a console that (re)subscribes gets the latest of each again, so
a repeat must change nothing. An edge that goes offline (its last will) takes its cameras
offline with it; a retained camera status read while the edge is offline is old news, and so
is an 'offline' status of an edge run older than the one the console knows (or forged):
refused. A camera the edge removed is forgotten; its retained status, snapshot and older
configs are ignored. A config reporting an older version than the last change applied there
is marked ``config_regressed``, audited and shown (domain/config_regress.py).

A config result is believed only as the first answer to a request this console sent to that
site, made after the request was sent (give or take ``clock_skew_max_s``); a second answer
that says something else is refused.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.camera_changes import forget_if_removed, masked, removal
from sitewatch.console.domain.config_regress import check_camera, check_site
from sitewatch.console.domain.live import live_camera, live_config, live_site
from sitewatch.console.ingest.context import Context, IngestError, ensure_camera, ensure_site
from sitewatch.console.store.models import Camera, ConfigRequest
from sitewatch.contract import messages as m


def running_camera(s: Session, site_id: str, camera_id: str) -> Camera | None:
    """The camera's row (created on first sight); None for a camera the edge removed, not seen
    running since: what is said about it is ignored."""
    camera = s.get(Camera, (site_id, camera_id))
    if camera is not None:
        return camera
    if removal(s, site_id, camera_id) is not None:
        return None
    return ensure_camera(s, site_id, camera_id)


def on_camera_status(s: Session, ctx: Context, msg: m.CameraStatus) -> None:
    ctx.same_site(msg.site_id)
    ctx.same_camera(msg.camera_id)
    camera = running_camera(s, msg.site_id, msg.camera_id)
    if camera is None:
        return
    if camera.status_at is not None and msg.at <= camera.status_at:
        return  # a repeat, or older than what we have
    site = ensure_site(s, msg.site_id)
    stale = site.edge_state == "offline" and ctx.retained
    camera.state = "offline" if stale else msg.state
    camera.fps_in = msg.fps_in
    camera.fps_analysed = msg.fps_analysed
    camera.frames_dropped = msg.frames_dropped
    camera.reconnects = msg.reconnects
    camera.last_frame_at = msg.last_frame_at
    camera.error = msg.error
    camera.warnings = [w.model_dump() for w in msg.warnings] or None
    camera.status_at = msg.at
    s.flush()
    ctx.events.append(live_camera(s, camera, site))


def on_edge_status(s: Session, ctx: Context, msg: m.EdgeStatus) -> None:
    """The edge's state; its last will ('offline') carries an old ``at``: use receive time.
    The site's time zone is kept when an (older) edge sends none."""
    ctx.same_site(msg.site_id)
    site = ensure_site(s, msg.site_id)
    known = site.edge_started_at
    if msg.state == "offline" and known is not None and msg.started_at < known:
        raise IngestError(
            f"an 'offline' status of site {msg.site_id}'s edge as started at "
            f"{msg.started_at.isoformat()}: expected the run the console knows (started "
            f"{known.isoformat()}) or a later one: refused as old news (a stale retained "
            "status, or one the edge did not send)"
        )
    site.edge_state = msg.state
    site.software_version = msg.software_version
    site.config_version = msg.config_version
    site.edge_started_at = msg.started_at
    if msg.timezone is not None:
        site.timezone = msg.timezone
    site.warnings = [w.model_dump() for w in msg.warnings] or None
    site.last_seen_at = ctx.received_at
    check_site(s, site, ctx.received_at)
    s.flush()
    ctx.events.append(live_site(s, site))
    offline = msg.state == "offline"
    for camera in s.scalars(select(Camera).where(Camera.site_id == site.id)).all():
        # a camera the edge no longer runs (added since its older file) hears of it here only
        before = camera.config_regressed
        check_camera(s, camera, ctx.received_at, msg.config_version)
        if offline:
            camera.state = "offline"
        if offline or camera.config_regressed != before:
            ctx.events.append(live_camera(s, camera, site))
    s.flush()


def on_stats(s: Session, ctx: Context, msg: m.EdgeStats) -> None:
    ctx.same_site(msg.site_id)
    site = ensure_site(s, msg.site_id)
    if site.stats_at is not None and msg.at <= site.stats_at:
        return
    site.stats = msg.model_dump(mode="json", exclude={"schema_id"})
    site.stats_at = msg.at
    site.last_seen_at = ctx.received_at
    s.flush()
    ctx.events.append(live_site(s, site))


def on_camera_config(s: Session, ctx: Context, msg: m.CameraConfig) -> None:
    """The zones, rules and settings a camera runs with: what the editors start from. One
    written before the edge removed the camera is old news."""
    ctx.same_site(msg.site_id)
    ctx.same_camera(msg.camera_id)
    gone = removal(s, msg.site_id, msg.camera_id)
    if gone is not None and msg.at <= gone:
        return
    camera = ensure_camera(s, msg.site_id, msg.camera_id)
    camera.name = msg.camera.name if msg.camera is not None else msg.name or camera.name
    camera.settings = masked(msg.camera) if msg.camera is not None else None
    camera.zones = [zone.model_dump(mode="json") for zone in msg.zones]
    camera.rules = {rule: dict(values) for rule, values in msg.rules.items()}
    camera.config_version = msg.version
    check_camera(s, camera, ctx.received_at)
    s.flush()
    ctx.events.append(live_camera(s, camera))


def on_snapshot(s: Session, ctx: Context, payload: bytes) -> None:
    """A camera's latest JPEG, the zone editor's backdrop."""
    route = ctx.route
    assert route.camera_id is not None
    camera = running_camera(s, route.site_id, route.camera_id)
    if camera is None:
        return
    try:
        path = ctx.store.write_snapshot(route.site_id, route.camera_id, payload)
    except ValueError as exc:
        raise IngestError(str(exc)) from None
    camera.snapshot_path = str(path)
    camera.snapshot_at = ctx.received_at
    s.flush()
    ctx.events.append(live_camera(s, camera, ensure_site(s, route.site_id)))


def on_config_result(s: Session, ctx: Context, msg: m.ConfigResult, skew_s: float = 600.0) -> None:
    """The edge's answer to a config change: applied (with the new version) or refused; only
    the first answer of the request's own site, dated after the request (less ``skew_s``)."""
    ctx.same_site(msg.site_id)
    request = s.get(ConfigRequest, str(msg.request_id))
    if request is None:
        raise IngestError(
            f"expected the answer to a config change this console sent, got one for unknown "
            f"request {msg.request_id}: another console shares the broker, or the database "
            "was reset"
        )
    if request.site_id != msg.site_id:
        raise IngestError(
            f"config request {request.request_id} went to site {request.site_id!r}, the answer "
            f"came from {msg.site_id!r}: refused"
        )
    if request.answered_at is not None:
        if (request.status, request.version, request.reason) == (
            msg.status,
            msg.version,
            msg.reason,
        ):
            return  # a repeat: the first answer stands
        raise IngestError(
            f"config request {request.request_id} was answered {request.status!r} (version "
            f"{request.version}) already, got {msg.status!r} (version {msg.version}): the "
            "first answer stands, this one is refused (an edge answers once)"
        )
    earliest = request.issued_at - timedelta(seconds=skew_s)
    if msg.at < earliest:
        raise IngestError(
            f"config request {request.request_id} was sent at {request.issued_at.isoformat()}; "
            f"expected an answer made after it, got one dated {msg.at.isoformat()}: refused "
            "(an answer to an older request, or forged; check the edge's clock if it is wrong)"
        )
    request.status = msg.status
    request.version = msg.version
    request.reason = msg.reason
    request.answered_at = ctx.received_at
    forget_if_removed(s, request)
    s.flush()
    ctx.events.append(live_config(request))
