"""What every ingest handler gets: the message's context, and the rows every message may create.

A handler changes rows in the session it is given, appends the live events to publish once
the transaction commits, and adds a reject for each part it refuses; it raises
:class:`IngestError` to refuse the whole message (nothing of it is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.domain.incidents import Windows
from sitewatch.console.events import LiveEvent
from sitewatch.console.ingest.topics import Route
from sitewatch.console.store.db import lock_key
from sitewatch.console.store.evidence import EvidenceStore
from sitewatch.console.store.models import Camera, Site


class IngestError(ValueError):
    """A message the console refuses; the text says what was expected, what came, what to do."""


@dataclass
class Context:
    """One received message: where it came from and what handling it produced."""

    store: EvidenceStore
    prefix: str
    topic: str
    route: Route
    received_at: datetime
    retained: bool = False
    # the registered edge key (base64) the message verified with (sitewatch.console.ingest.trust)
    signed_by: str | None = None
    # how close in time alerts of one camera, rule and zone form one incident
    incident_windows: Windows = field(default_factory=Windows)
    events: list[LiveEvent] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (topic, reason)

    @property
    def signed(self) -> bool:
        """Whether the message verified against its site's registered edge key."""
        return self.signed_by is not None

    def reject(self, reason: str, topic: str | None = None) -> None:
        """Refuse a part of the message (e.g. one evidence file) and go on with the rest."""
        self.rejects.append((topic or self.topic, reason))

    def same_site(self, site_id: str) -> None:
        """The message's site must be the topic's: a site never speaks for another."""
        if site_id != self.route.site_id:
            raise IngestError(
                f"expected site_id {self.route.site_id!r} (the topic's site), got {site_id!r}: "
                "the edge publishes on another site's topic; fix its site id or topic prefix"
            )

    def same_camera(self, camera_id: str) -> None:
        if camera_id != self.route.camera_id:
            raise IngestError(
                f"expected camera_id {self.route.camera_id!r} (the topic's camera), got "
                f"{camera_id!r}: the edge publishes on another camera's topic"
            )


_HELD = "sitewatch.ingest.sites"
"""``Session.info`` key: the site rows :func:`ensure_site` returned in this session."""
_HELD_CAMERAS = "sitewatch.ingest.cameras"


def ensure_site(s: Session, site_id: str) -> Site:
    """The site's row, created on first sight. The session holds on to it (its identity map
    holds rows weakly), so the site's next message in the same batch finds it without a query;
    ``Session.get`` still reads it again once expired (a cluster replica expires every row
    between messages)."""
    site = s.get(Site, site_id)
    if site is None:
        site = Site(id=site_id, name="", edge_state="unknown")
        s.add(site)
        s.flush()
    s.info.setdefault(_HELD, {})[site_id] = site
    return site


def ensure_camera(s: Session, site_id: str, camera_id: str) -> Camera:
    """The camera's row (and its site's), created on first sight; held for the session as
    :func:`ensure_site`'s (an alert burst brings many messages of one camera per batch)."""
    ensure_site(s, site_id)
    camera = s.get(Camera, (site_id, camera_id))
    if camera is None:
        camera = Camera(
            site_id=site_id,
            camera_id=camera_id,
            name="",
            state="unknown",
            fps_in=0.0,
            fps_analysed=0.0,
            frames_dropped=0,
            reconnects=0,
        )
        s.add(camera)
        s.flush()
    s.info.setdefault(_HELD_CAMERAS, {})[site_id, camera_id] = camera
    return camera


def lock_alert(s: Session, alert_id: str) -> None:
    """Serialise this transaction with every other one handling ``alert_id`` until it ends:
    on PostgreSQL ``pg_advisory_xact_lock`` (replicas: the consumer storing an alert's listing
    and another replica storing an upload of its file would otherwise each miss the other's
    uncommitted half and leave the file staged forever); SQLite has one writer anyway."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(lock_key(f"alert:{alert_id}"))))
