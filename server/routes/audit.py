"""The audit log (chain of custody), limited to the user's sites."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from server.deps import DB, check_site, require
from server.models import AuditEntry, User
from server.queries import aware_param, scoped
from server.schemas import AuditOut

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit")
def audit_log(
    user: Annotated[User, Depends(require("audit.read"))],
    s: DB,
    site: str | None = None,
    username: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditOut]:
    """Who viewed, downloaded or exported which evidence and who changed what, newest first.
    Entries without a site (logins, user changes) are shown to users of every site only;
    a user limited to cameras sees the entries of those cameras only."""
    stmt = scoped(select(AuditEntry), AuditEntry.site_id, user, AuditEntry.camera_id)
    if site is not None:
        check_site(user, site)
        stmt = stmt.where(AuditEntry.site_id == site)
    filters: dict[str, str | None] = {
        "username": username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, column) == value)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= aware_param(since, "since"))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < aware_param(until, "until"))
    rows = s.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return [AuditOut.model_validate(r) for r in rows]
