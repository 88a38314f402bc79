"""Chain of custody: one row per view, download, export or change.

A view is recorded once per user, file and 10 minutes (:func:`record_view`): a player seeking a
clip sends many requests and the feed reloads its thumbnails, and a row for each would bury the
views that matter. Downloads, exports and changes are recorded every time (:func:`record`).
A row's ``detail`` is English text; given ``key``, the row also stores that template's name and
``params`` (migration 0010) so that the audit page says it in the reader's language
(``audit_detail.<key>`` in static/lang/*.json, placeholders filled from ``params``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from sitewatch.console.store.models import AuditEntry, User

VIEW_WINDOW: Final = timedelta(minutes=10)
VIEW: Final = "view"
THUMBNAIL_VIEW: Final = "view_thumbnail"  # an image shown small in a list (the feed)


def record(
    session: Session,
    user: User | str,
    action: str,
    object_type: str,
    object_id: str,
    *,
    site_id: str | None = None,
    camera_id: str | None = None,
    detail: str = "",
    client: str | None = None,
    at: datetime | None = None,
    key: str | None = None,
    params: Mapping[str, object] | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the caller's transaction); ``at``
    defaults to now. ``key`` and ``params``: the detail as a template the page translates
    (``detail`` stays the English text)."""
    session.add(
        AuditEntry(
            at=at or datetime.now(UTC),
            username=user if isinstance(user, str) else user.username,
            action=action,
            object_type=object_type,
            object_id=object_id,
            site_id=site_id,
            camera_id=camera_id,
            detail=detail,
            detail_key=key,
            detail_params=dict(params) if params is not None else None,
            client=client,
        )
    )


def record_view(
    session: Session,
    user: User,
    object_type: str,
    object_id: str,
    *,
    thumbnail: bool = False,
    site_id: str | None = None,
    camera_id: str | None = None,
    detail: str = "",
    client: str | None = None,
) -> bool:
    """Record that ``user`` looked at ``object_id`` (action ``view``, or ``view_thumbnail``
    given ``thumbnail``), unless that is already on record from the last 10 minutes
    (:data:`VIEW_WINDOW`): later views of the same object by the same user within the window
    are not new rows, the first one stands for them. A thumbnail within 10 minutes of a full
    ``view`` is not recorded either; a ``view`` after a thumbnail is. Two requests racing may
    both record (more rows, never fewer). Returns whether a row was added."""
    action = THUMBNAIL_VIEW if thumbnail else VIEW
    covering = (VIEW, THUMBNAIL_VIEW) if thumbnail else (VIEW,)
    since = datetime.now(UTC) - VIEW_WINDOW
    earlier = session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.username == user.username,
            AuditEntry.object_type == object_type,
            AuditEntry.object_id == object_id,
            AuditEntry.action.in_(covering),
            AuditEntry.at >= since,
        )
        .limit(1)
    )
    if earlier is not None:
        return False
    record(
        session,
        user,
        action,
        object_type,
        object_id,
        site_id=site_id,
        camera_id=camera_id,
        detail=detail,
        client=client,
    )
    return True


def about_alert(alert_id: str) -> ColumnElement[bool]:
    """The rows of one alert's chain of custody: its own (workflow actions, exports, detected
    tampering, masks drawn from it) and those of its evidence files (``<alert>/<file>``)."""
    return or_(
        and_(AuditEntry.object_type == "alert", AuditEntry.object_id == alert_id),
        and_(
            AuditEntry.object_type == "evidence",
            AuditEntry.object_id.startswith(f"{alert_id}/", autoescape=True),
        ),
    )


def alert_trail(session: Session, alert_id: str) -> list[AuditEntry]:
    """One alert's chain of custody, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry).where(about_alert(alert_id)).order_by(AuditEntry.at, AuditEntry.id)
        )
    )
