"""False positives as training data for the next model (operators and admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from sitewatch.console.api.blob_files import refuse_off_filesystem
from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.api.errors import CodedHTTPException
from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import Tampered
from sitewatch.console.domain.queries import alert_filters
from sitewatch.console.domain.training_data import build_false_positives
from sitewatch.console.state import AppState
from sitewatch.console.store.models import Alert, User
from sitewatch.contract.messages import RuleName

router = APIRouter(prefix="/api/false-positives", tags=["training data"])
MAX_ALERTS = 2000


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "images + labels.jsonl"},
        404: {"description": "site or camera outside the user's scope"},
        409: {"description": "a snapshot no longer matches its SHA-256"},
    },
)
def export_false_positives(
    request: Request,
    user: Annotated[User, Depends(require("config.write"))],
    s: DB,
    state: Annotated[AppState, Depends(app_state)],
    site: str | None = None,
    camera: str | None = None,
    rule: RuleName | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 500,
) -> Response:
    """A zip of the clean snapshots of false positives (newest first, at most ``limit``) with
    the wrong boxes in labels.jsonl: hard negatives for the next model."""
    refuse_off_filesystem(state.settings, "the training data export")
    where = alert_filters(user, site=site, camera=camera, rule=rule, since=since, until=until)
    alerts = list(
        s.scalars(
            select(Alert)
            .where(Alert.state == "false_positive", *where)
            .order_by(Alert.started_at.desc(), Alert.id)
            .limit(limit)
        )
    )
    now = datetime.now(UTC)
    try:
        data, n = build_false_positives(s, state.settings, alerts, by=user.username, at=now)
    except Tampered as exc:
        raise CodedHTTPException(409, exc.code, f"export refused: {exc}", exc.params) from None
    audit.record(
        s,
        user,
        "export_training",
        "false_positives",
        site or "*",
        site_id=site,
        detail=f"{n} image(s)",
        client=client_address(request),
    )
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="false-positives-{stamp}.zip"'},
    )
