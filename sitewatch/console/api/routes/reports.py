"""Reports: a day's or a week's violations of a site or of all one's sites (xlsx or PDF), and an
alert's one-page evidence report (PDF), in English or Chinese."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from sitewatch.console.api.blob_files import refuse_off_filesystem
from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.api.errors import CodedHTTPException, refuse
from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import EvidenceUnavailable, Tampered
from sitewatch.console.domain.evidence_report import evidence_report
from sitewatch.console.domain.queries import get_alert
from sitewatch.console.domain.report_pdf import FontMissing, report_pdf
from sitewatch.console.domain.report_records import Period
from sitewatch.console.domain.report_text import Lang, text
from sitewatch.console.domain.report_xlsx import report_xlsx
from sitewatch.console.domain.reports import DAYS, build_report, report_sites, zone_of
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User

router = APIRouter(prefix="/api", tags=["reports"])
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_STORE: Final = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


@router.get(
    "/reports",
    response_class=Response,
    responses={
        200: {"content": {XLSX: {}, "application/pdf": {}}},
        404: {"description": "no such site among the user's"},
    },
)
def report(
    request: Request,
    user: Annotated[User, Depends(require("reports.read"))],
    s: DB,
    state: Annotated[AppState, Depends(app_state)],
    site: Annotated[str | None, Query(description="a site id; none: all the user's sites")] = None,
    period: Period = "day",
    day: Annotated[
        date | None,
        Query(
            alias="date",
            ge=DAYS[0],
            le=DAYS[1],
            description="a local date (YYYY-MM-DD) of the day, or any day of the week "
            "(Monday to Sunday); default: yesterday in the site's zone (UTC for all sites)",
        ),
    ] = None,
    format: Literal["xlsx", "pdf"] = "pdf",
    lang: Annotated[Lang | None, Query(description="default: the user's language")] = None,
    overdue_after_min: Annotated[
        float | None,
        Query(
            gt=0,
            le=24 * 60,
            description="acknowledged later than this many minutes is overdue; default: the "
            "console's notify_escalate_after_min (when an alert escalates)",
        ),
    ] = None,
) -> Response:
    """Violations per camera, rule, hour and day, times to acknowledge and to resolve (median,
    90th percentile), overdue alerts and cameras offline; each site's days in its own zone.
    Audited as a download."""
    language: Lang = lang or _lang(user)
    now = datetime.now(UTC)
    if day is None:
        sites = report_sites(s, user, site) if site else []
        zone = zone_of(sites[0].timezone if sites else None)
        day = (now.astimezone(zone) - timedelta(days=1)).date()
    rep = build_report(
        s, user, site=site, period=period, day=day, generated_at=now,
        overdue_after_min=overdue_after_min or state.settings.notify_escalate_after_min,
    )  # fmt: skip
    label = rep.sites[0].name if site and rep.sites else text(language, "report.all_sites")
    try:
        data = (
            report_xlsx(rep, language, label)
            if format == "xlsx"
            else report_pdf(rep, language, label)
        )
    except FontMissing as exc:
        raise refuse(
            503, "report.pdf_unavailable", f"the PDF cannot be made: {exc}; or ask for format=xlsx"
        ) from None
    name = f"sitewatch-{site or 'all'}-{period}-{rep.first_day.isoformat()}.{format}"
    digest = hashlib.sha256(data).hexdigest()
    audit.record(
        s, user, "download", "report", name, site_id=site,
        detail=f"{period} report {format} ({language}), sha256 {digest}",
        client=client_address(request), at=now, key=f"report_{period}",
        params={"format": format, "language": language, "sha256": digest},
    )  # fmt: skip
    s.commit()
    return Response(
        data,
        media_type=XLSX if format == "xlsx" else "application/pdf",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/alerts/{alert_id}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        404: {"description": "no such alert among the user's"},
        409: {"description": "the picture no longer matches its SHA-256: refused"},
    },
)
def alert_report(
    alert_id: str,
    request: Request,
    user: Annotated[User, Depends(require("evidence.export"))],
    s: DB,
    state: Annotated[AppState, Depends(app_state)],
    lang: Annotated[Lang | None, Query(description="default: the user's language")] = None,
) -> Response:
    """The alert's printable one-page evidence report; audited as a download of the alert."""
    refuse_off_filesystem(state.settings, "the evidence report")
    try:
        made = evidence_report(
            s, state.settings, user, alert_id, lang or _lang(user),
            now=datetime.now(UTC), client=client_address(request),
        )  # fmt: skip
    except EvidenceUnavailable as exc:
        if isinstance(exc, Tampered):  # a custody event: kept although the request fails
            alert = get_alert(s, user, alert_id)
            audit.record(
                s, user, "tamper_detected", "alert", alert.id, site_id=alert.site_id,
                camera_id=alert.camera_id, detail=str(exc), client=client_address(request),
            )  # fmt: skip
            s.commit()
        why = f"evidence report refused: {exc}"
        raise CodedHTTPException(exc.status, exc.code, why, exc.params) from None
    except FontMissing as exc:
        raise refuse(503, "report.pdf_unavailable", f"the PDF cannot be made: {exc}") from None
    s.commit()  # the audit row is written before a byte leaves
    return Response(
        made.pdf,
        media_type="application/pdf",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="sitewatch-alert-{alert_id}.pdf"',
            "X-Content-SHA256": made.sha256,
        },
    )


def _lang(user: User) -> Lang:
    return "zh-CN" if user.language == "zh-CN" else "en"
