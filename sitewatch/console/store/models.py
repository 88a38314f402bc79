"""Console tables. Times are stored in UTC and come back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from sitewatch.console.store.db import Base
from sitewatch.console.workflow import ALERT_STATES as ALERT_STATES  # defined by the workflow
from sitewatch.console.workflow import CLOSED_STATES as CLOSED_STATES

ROLES = ("admin", "manager", "police", "operator")


_OPEN = text("state IN ('new', 'acknowledged', 'assigned')")  # OPEN_STATES; partial indexes


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["*"] = every site
    # "site_id/camera_id" entries; None = every camera of the sites
    cameras: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSession(Base):
    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    edge_state: Mapped[str] = mapped_column(String(16), default="unknown")
    software_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    edge_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    stats_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # IANA zone the edge reports (EdgeStatus.timezone); None until an edge sends one (UTC then)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the edge runs an older config version than it last applied (domain/config_regress.py)
    config_regressed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the edge's standing warnings about its own settings (EdgeStatus.warnings: contract
    # EdgeWarning objects; plain strings in rows written before codes)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)


class Camera(Base):
    __tablename__ = "cameras"
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    fps_in: Mapped[float] = mapped_column(Float, default=0.0)
    fps_analysed: Mapped[float] = mapped_column(Float, default=0.0)
    frames_dropped: Mapped[int] = mapped_column(Integer, default=0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    last_frame_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the edge's standing warnings about the camera's settings (CameraStatus.warnings, as above)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the camera's zones and rules as the edge last reported them (CameraConfig)
    zones: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    config_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snapshot_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the camera reports an older config version than it last applied (domain/config_regress.py)
    config_regressed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # name, stream URLs (passwords masked), fps, input size as CameraConfig.camera reports them
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40))
    camera_id: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(32))
    track_id: Mapped[int] = mapped_column(Integer)
    zone_id: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    event: Mapped[str] = mapped_column(String(8))  # latest lifecycle step: start/update/end
    seq: Mapped[int] = mapped_column(Integer)  # highest seq received
    config_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # first police export; from then on its facts are fixed and its evidence on legal hold
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the incident the alert belongs to (domain/incidents.py); NULL only while being ingested
    incident_id: Mapped[str | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL", name="fk_alerts_incident_id"),
        nullable=True,
        index=True,
    )

    __table_args__ = (
        Index("ix_alerts_site_state_started", "site_id", "state", "started_at"),
        Index("ix_alerts_site_camera_started", "site_id", "camera_id", "started_at"),
        Index("ix_alerts_started", "started_at"),
        # the open alerts only, in the feed's order (migration 0013; a county's history)
        Index(
            "ix_alerts_open_started", "started_at", "id", postgresql_where=_OPEN, sqlite_where=_OPEN
        ),
        # a site's statistics over a time range from the index alone (migration 0013)
        Index(
            "ix_alerts_site_started_stats",
            "site_id",
            "started_at",
            "camera_id",
            "rule",
            "state",
            "received_at",
            "acknowledged_at",
        ),
    )


class Incident(Base):
    """Alerts of one (site, camera, rule, zone) close together in time, as one unit of work.

    ``state`` and the workflow fields follow the alert workflow (workflow.py): an action on the
    incident is applied to each of its alerts. ``first_at``/``last_at``: the earliest start and
    the latest ``last_seen_at`` of its alerts; ``best_alert_id``: the alert of highest score
    (whose evidence the feed shows). ``zone_id`` is NULL for an alert without a zone.
    """

    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40))
    camera_id: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(32))
    zone_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    best_alert_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    best_score: Mapped[float] = mapped_column(Float, default=0.0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_incidents_key_last", "site_id", "camera_id", "rule", "zone_id", "last_at"),
        Index("ix_incidents_site_state_last", "site_id", "state", "last_at"),
        Index("ix_incidents_last", "last_at"),
        Index(
            "ix_incidents_open_first", "first_at", "id", postgresql_where=_OPEN, sqlite_where=_OPEN
        ),
        Index("ix_incidents_site_first", "site_id", "first_at", "state"),
    )


class AlertEventRow(Base):
    """Every (id, seq) message received: the track's timeline."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(JSON)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the message as received, signature too
    # verified against the site's registered edge key on arrival (False: an open site's), and
    # that key (base64): a package still verifies the message after the edge's key is rotated
    signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    signed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    __table_args__ = (UniqueConstraint("alert_id", "seq", name="uq_alert_events_alert_seq"),)


class AlertAction(Base):
    """A workflow step or note on an alert: who, when, what, why."""

    __tablename__ = "alert_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class Evidence(Base):
    """An evidence file an alert lists; ``status``: expected → stored, or mismatch.

    ``signed``: the listing (name, size, SHA-256) came in a message verified against the site's
    registered edge key; an unsigned listing (an open site's) is kept but gives way to a signed
    one of the same name."""

    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="expected")
    path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (UniqueConstraint("alert_id", "name", name="uq_evidence_alert_name"),)


class AuditEntry(Base):
    """Chain of custody: who viewed, downloaded, exported or changed what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    camera_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    # the detail's template (audit_detail.<key> in the page's lang files) and its values; NULL
    # in rows from before migration 0010, which show ``detail`` as stored
    detail_key: Mapped[str | None] = mapped_column(String(48), nullable=True)
    detail_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ConfigRequest(Base):
    """A zone/threshold change sent to an edge, and its answer."""

    __tablename__ = "config_requests"
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40))
    camera_id: Mapped[str] = mapped_column(String(40))
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    base_version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # applied / refused
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IngestReject(Base):
    """A message ingest refused (malformed, unknown schema, bad hash): kept for diagnosis."""

    __tablename__ = "ingest_rejects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    topic: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)


class BrokerAccount(Base):
    """An identity on the MQTT broker: the console's, or one site's edge with its public key.

    ``password_hash`` is in mosquitto_passwd's format (``$7$`` PBKDF2-SHA512), so the broker's
    password file is written from these rows; ``public_key`` (edges only) is base64 of the raw
    Ed25519 key the edge signs its messages with (sitewatch/contract/signing.py).
    """

    __tablename__ = "broker_accounts"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # console / edge
    site_id: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    # RabbitMQ's salted SHA-256 of the same password (its definitions file); None on a row set
    # before the column came: a new password (add-edge --rotate) fills it
    rabbitmq_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    public_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotifyRoute(Base):
    """Who gets what (sitewatch/console/notify/routing.py): a channel and its target, for
    alerts of some sites, cameras and rules, at one escalation ``level`` (1 site safety manager,
    2 project manager, 3 command centre), within ``hours`` ("07:00-19:00", the site's zone)."""

    __tablename__ = "notify_routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)  # url, secret, to (secrets included)
    level: Mapped[int] = mapped_column(Integer, default=1)
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["*"] = every site
    cameras: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # "site/camera"
    rules: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None = every rule
    hours: Mapped[str | None] = mapped_column(String(11), nullable=True)  # None = always
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    rate_per_min: Mapped[int] = mapped_column(Integer, default=20)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # None: an alert route; ["daily"], ["weekly"] or both: a report route (notify/schedule.py)
    reports: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # a level-1 alert route: also a "N more" line (at most one a minute) as an incident grows
    incident_updates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """One notification in the durable outbox and its delivery log.

    ``state``: pending → sending (claimed until ``lease_until``) → sent, or back to pending
    with ``next_try_at`` after a failure, failed after the last attempt. ``dedupe_key``
    (incident and episode or alert, level, route; a report's kind, site, period and route)
    makes enqueueing idempotent; ``message_id`` names the message (one
    notification, or a digest of several) it last went out in."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    route_id: Mapped[int | None] = mapped_column(
        ForeignKey("notify_routes.id", ondelete="SET NULL"), nullable=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    alert_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    site_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    camera_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=1)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # title, line, alert facts
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (
        Index("ix_notifications_state_next", "state", "next_try_at"),
        Index("ix_notifications_route_sent", "route_id", "sent_at"),
    )


class AlertNotice(Base):
    """An alert reached escalation ``level`` at ``at`` (its notifications were enqueued, to
    ``routes`` routes): one row per alert and level, so a restart neither skips nor repeats.
    Level 0: the alert was folded into its incident's lead (notify/leads.py), nothing sent."""

    __tablename__ = "alert_notices"
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    routes: Mapped[int] = mapped_column(Integer, default=0)


class PushSubscription(Base):
    """A browser's Web Push subscription (sitewatch/console/notify/webpush.py): its push
    service ``endpoint`` and RFC 8291 keys (``p256dh`` public key, ``auth`` secret; base64url),
    for the user it notifies. Removed when the push service answers 404 or 410."""

    __tablename__ = "push_subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecordingIndexRow(Base):
    """The latest RecordingIndex of one camera's stream as its edge published it (a newer
    ``at`` replaces it, an older one is ignored). ``spans``: ``[[start, end], ...]`` in Unix
    seconds, oldest first; ``keep_s``: the stream's retention in seconds; ``recording``: the
    last span is still growing (sitewatch/console/video/recordings.py, ``shown_spans``)."""

    __tablename__ = "recording_indexes"
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    stream: Mapped[str] = mapped_column(String(8), primary_key=True)
    spans: Mapped[list[list[float]]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    keep_s: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the edge wrote it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recording: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class VideoExport(Base):
    """A recorded range a user asked to keep as evidence (sitewatch/console/video/exports.py).

    ``state``: pending until the edge's upload is stored (``ready``: ``path``, ``sha256`` and
    ``size_bytes`` computed by the console from the file, ``actual_start``/``actual_end`` the
    wall clock of its first and last frame) or it failed (``error_code``, ``error``: why). An
    export naming ``alert_id`` goes into that alert's police package."""

    __tablename__ = "video_exports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40))
    camera_id: Mapped[str] = mapped_column(String(40))
    stream: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    alert_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actual_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actual_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (Index("ix_video_exports_site_camera", "site_id", "camera_id"),)


class LoginFailure(Base):
    """A login counted as failed under one of its limiter keys (``pair|name|address``,
    ``addr|address``, ``user|name``), shared by every replica on the database
    (sitewatch/console/domain/login_failures.py). ``attempt`` names the login (its three rows
    share it: a success or a refusal takes them back); ``at``: Unix seconds, the replica's
    wall clock. Rows older than the limiter's window are pruned."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    attempt: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float, index=True)
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


class LiveEventRow(Base):
    """A live event too large for a PostgreSQL NOTIFY payload (8000 bytes): the replica that
    published it stores its JSON here and notifies the row's id; the others read it
    (sitewatch/console/store/pg_events.py). Pruned after a few minutes."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    body: Mapped[str] = mapped_column(Text)


class ConsoleReplica(Base):
    """A console replica on the shared PostgreSQL database: its id (made at each start), the
    address the other replicas reach it at (``replica_url``), when it started and when it last
    said it is alive (every few seconds; sitewatch/console/store/replicas.py). Rows of replicas
    gone an hour are deleted."""

    __tablename__ = "console_replicas"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
