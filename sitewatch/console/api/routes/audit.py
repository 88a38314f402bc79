"""The audit log (chain of custody), limited to the user's sites and cameras."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from sitewatch.console.api.deps import DB, check_site, require
from sitewatch.console.domain.audit import THUMBNAIL_VIEW, about_alert
from sitewatch.console.domain.queries import aware_param, scoped
from sitewatch.console.schemas import AuditOut
from sitewatch.console.store.models import AuditEntry, User

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit")
def audit_log(
    user: Annotated[User, Depends(require("audit.read"))],
    s: DB,
    alert: Annotated[
        str | None,
        Query(
            max_length=200,
            description="an alert id: the alert's own rows (workflow, exports, tampering) and "
            "those of its evidence files (object `<alert>/<file>`): its chain of custody",
        ),
    ] = None,
    site: Annotated[str | None, Query(description="one of the user's sites")] = None,
    by: Annotated[str | None, Query(alias="user", description="rows of this username")] = None,
    username: Annotated[str | None, Query(description="the same as `user`")] = None,
    action: Annotated[str | None, Query(description="e.g. view, download, export")] = None,
    object_type: Annotated[str | None, Query(description="alert, evidence, user ...")] = None,
    object_id: Annotated[str | None, Query(description="exact object id")] = None,
    thumbnails: Annotated[
        bool,
        Query(
            description="include `view_thumbnail` rows (images the feed showed small); left "
            "out unless asked for here or with action=view_thumbnail"
        ),
    ] = False,
    since: Annotated[datetime | None, Query(description="at >= since (with time zone)")] = None,
    until: Annotated[datetime | None, Query(description="at < until (with time zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page")] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")] = 0,
) -> list[AuditOut]:
    """Who viewed, downloaded or exported which evidence and who changed what, newest first.
    Entries without a site (logins, user changes) are shown to users of every site only;
    a user limited to cameras sees the entries of those cameras only. A view of a file is
    recorded once per user and 10 minutes; downloads and exports every time."""
    stmt = scoped(select(AuditEntry), AuditEntry.site_id, user, AuditEntry.camera_id)
    if site is not None:
        check_site(user, site)
        stmt = stmt.where(AuditEntry.site_id == site)
    if alert is not None:
        stmt = stmt.where(about_alert(alert))
    filters: dict[str, str | None] = {
        "username": username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, column) == value)
    if by is not None:
        stmt = stmt.where(AuditEntry.username == by)
    if not thumbnails and action != THUMBNAIL_VIEW:
        stmt = stmt.where(AuditEntry.action != THUMBNAIL_VIEW)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= aware_param(since, "since"))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < aware_param(until, "until"))
    rows = s.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return [AuditOut.model_validate(r) for r in rows]
