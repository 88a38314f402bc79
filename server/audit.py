"""Chain of custody: one row per view, download, export or change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.models import AuditEntry, User


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
) -> None:
    """Add an audit row to ``session`` (committed with the caller's transaction)."""
    session.add(
        AuditEntry(
            username=user if isinstance(user, str) else user.username,
            action=action,
            object_type=object_type,
            object_id=object_id,
            site_id=site_id,
            camera_id=camera_id,
            detail=detail,
            client=client,
        )
    )
