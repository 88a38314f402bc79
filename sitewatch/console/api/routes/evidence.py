"""Evidence files (with HTTP Range, so clips seek in the browser) and the export package.

Every file is checked against the SHA-256 it arrived with before it is served; a changed
file is refused and the refusal logged. Views, downloads and exports go to the audit log.

Only what the product makes is served (:data:`SERVED_TYPES`: JPEG snapshots, MP4 clips), with
its own type, ``nosniff`` and a ``sandbox`` CSP. A row of any other type (stored by a release
before the contract allowed only these) is refused with 415, not served as an attachment: a
saved HTML or SVG file still runs script when opened from disk, and nobody needs it in the
browser. It stays in custody and leaves only inside the export package, for offline work.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select

from sitewatch.console.api.blob_files import blob_response, refuse_off_filesystem, seeks
from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.api.errors import CodedHTTPException, refuse
from sitewatch.console.api.headers import CLIP_CSP, EVIDENCE_CSP
from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import EvidenceUnavailable, Tampered, verified_file
from sitewatch.console.domain.custody_blobs import verified_blob
from sitewatch.console.domain.export import build_package, files_note, folder
from sitewatch.console.domain.queries import get_alert
from sitewatch.console.state import AppState
from sitewatch.console.store.blob_backends import evidence_blobs
from sitewatch.console.store.blobs import BlobStore
from sitewatch.console.store.models import Alert, Evidence, User

router = APIRouter(prefix="/api/alerts", tags=["evidence"])
SERVED_TYPES: Final = frozenset({"image/jpeg", "video/mp4"})
State = Annotated[AppState, Depends(app_state)]

FILE_RESPONSES: Final[dict[int | str, dict[str, object]]] = {
    200: {"description": "the whole file", "content": {"application/octet-stream": {}}},
    206: {"description": "the requested byte range (Content-Range)"},
    404: {"description": "no such alert or file, or not arrived yet"},
    415: {"description": "stored as a type the console does not serve (not JPEG or MP4)"},
    409: {"description": "the file no longer matches its SHA-256 (tampering): refused"},
    410: {"description": "deleted by retention, or missing on disk"},
    416: {"description": "range not satisfiable"},
}


@router.get("/{alert_id}/evidence/{name}", response_class=FileResponse, responses=FILE_RESPONSES)
def evidence_file(
    alert_id: str,
    name: str,
    request: Request,
    user: Annotated[User, Depends(require("evidence.read"))],
    s: DB,
    state: State,
    download: Annotated[
        bool, Query(description="save it (attachment), audited as a download every time")
    ] = False,
    purpose: Annotated[
        Literal["view", "thumbnail"],
        Query(
            description="`thumbnail`: an image shown small in a list (the feed), audited as "
            "`view_thumbnail`, which the audit log hides unless asked; a clip is a `view` "
            "whatever the purpose"
        ),
    ] = "view",
) -> Response:
    """The file; ``Range: bytes=a-b`` gets 206. ``download=true`` asks the browser to save it
    (audited as a download, every time). Otherwise it is audited as a view (or a thumbnail
    view) once per user and file per 10 minutes: later views within that window add no row."""
    alert = get_alert(s, user, alert_id)
    ev = s.scalar(select(Evidence).where(Evidence.alert_id == alert.id, Evidence.name == name))
    if ev is None:
        raise refuse(
            404,
            "evidence.not_found",
            f"alert {alert_id} has no evidence file {name!r}",
            alert=alert_id,
            name=name,
        )
    if ev.content_type not in SERVED_TYPES:
        raise refuse(
            415,
            "evidence.type_not_served",
            f"evidence {name!r} of alert {alert_id} is stored as {ev.content_type!r}; the console "
            f"serves only {', '.join(sorted(SERVED_TYPES))}: the file is kept, export the alert "
            "to examine it offline",
            name=name,
            type=ev.content_type,
        )
    object_id = f"{alert.id}/{ev.name}"
    blobs = evidence_blobs(state.settings)
    if blobs is None:
        path, stored = _verified(s, state, user, request, alert, ev), ("", 0)
    else:
        path, stored = None, _verified_blob(s, state, blobs, user, request, alert, ev)
    site, camera, client = alert.site_id, alert.camera_id, client_address(request)
    detail = f"sha256 {ev.sha256}"
    if download:
        audit.record(
            s, user, "download", "evidence", object_id,
            site_id=site, camera_id=camera, detail=detail, client=client,
        )  # fmt: skip
    else:
        audit.record_view(
            s, user, "evidence", object_id,
            thumbnail=purpose == "thumbnail" and ev.content_type == "image/jpeg",
            site_id=site, camera_id=camera, detail=detail, client=client,
        )  # fmt: skip
    s.commit()  # the audit row is written before a byte leaves
    headers = {
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": CLIP_CSP if ev.content_type == "video/mp4" else EVIDENCE_CSP,
        "X-Content-Type-Options": "nosniff",
    }
    disposition = "attachment" if download else "inline"
    if blobs is not None:  # not on the filesystem: streamed from the store, Range kept
        key, size = stored
        return blob_response(
            request, blobs, key, size, media_type=ev.content_type, headers=headers,
            filename=ev.name, disposition=disposition,
        )  # fmt: skip
    assert path is not None
    return FileResponse(
        path,
        media_type=ev.content_type,
        filename=ev.name,
        content_disposition_type=disposition,
        headers=headers,
    )


@router.get(
    "/{alert_id}/export",
    response_class=Response,
    responses={
        200: {"description": "the zip", "content": {"application/zip": {}}},
        404: {"description": "no such alert"},
        409: {"description": "an evidence file no longer matches its SHA-256: refused"},
        501: {"description": "evidence is kept in S3: the package is not made yet"},
    },
)
def export(
    alert_id: str,
    request: Request,
    user: Annotated[User, Depends(require("evidence.export"))],
    s: DB,
    state: State,
) -> Response:
    """The evidence package (zip, see :mod:`sitewatch.console.domain.export`): evidence/ (clip,
    snapshots), alert.json, messages.json (every message as the edge signed it), keys.json,
    custody.json (the alert's chain of custody up to and including this export), manifest.json, its
    signature and manifest.sha256; check it with ``sitewatch verify PACKAGE.zip``. Recorded
    every time; from the first export the alert's facts are fixed and its evidence is on legal
    hold (retention never deletes it)."""
    alert = get_alert(s, user, alert_id)
    refuse_off_filesystem(state.settings, "the evidence package")
    evidence = list(
        s.scalars(select(Evidence).where(Evidence.alert_id == alert.id).order_by(Evidence.id))
    )
    if state.signing_key is None:  # only an app whose start-up did not run
        raise refuse(
            503, "export.no_signing_key", "export refused: the console has no signing key loaded"
        )
    now, client = datetime.now(UTC), client_address(request)
    try:
        data = build_package(
            s, state.settings, alert, evidence, exported_by=user.username,
            exported_at=now, client=client, console_key=state.signing_key,
        )  # fmt: skip
    except EvidenceUnavailable as exc:
        _log_refusal(s, user, request, alert, exc)
        raise CodedHTTPException(
            exc.status, exc.code, f"export refused: {exc}", exc.params
        ) from None
    alert.exported_at = alert.exported_at or now
    alert.legal_hold = True
    digest = hashlib.sha256(data).hexdigest()
    audit.record(
        s,
        user,
        "export",
        "alert",
        alert.id,
        site_id=alert.site_id,
        camera_id=alert.camera_id,
        detail=f"zip sha256 {digest}, {len(data)} bytes, {files_note(evidence)}; legal hold",
        client=client,
        at=now,  # the time custody.json gives this export
        key="export_zip",
        params={"sha256": digest, "bytes": len(data)},
    )
    s.commit()
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{folder(alert)}.zip"',
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": digest,
        },
    )


def _verified(
    s: DB, state: AppState, user: User, request: Request, alert: Alert, ev: Evidence
) -> Path:
    try:
        return verified_file(state.settings, alert, ev)
    except EvidenceUnavailable as exc:
        _log_refusal(s, user, request, alert, exc)
        raise CodedHTTPException(exc.status, exc.code, str(exc), exc.params) from None


def _verified_blob(
    s: DB, state: AppState, blobs: BlobStore, user: User, request: Request, alert: Alert,
    ev: Evidence,
) -> tuple[str, int]:  # fmt: skip
    try:
        seek = seeks(request.headers.get("range"))
        return verified_blob(state.settings, blobs, alert, ev, cached_ok=seek)
    except EvidenceUnavailable as exc:
        _log_refusal(s, user, request, alert, exc)
        raise CodedHTTPException(exc.status, exc.code, str(exc), exc.params) from None


def _log_refusal(
    s: DB, user: User, request: Request, alert: Alert, exc: EvidenceUnavailable
) -> None:
    """A tampered file is a custody event: keep the record even though the request fails."""
    if not isinstance(exc, Tampered):
        return
    audit.record(
        s,
        user,
        "tamper_detected",
        "alert",
        alert.id,
        site_id=alert.site_id,
        camera_id=alert.camera_id,
        detail=str(exc),
        client=client_address(request),
    )
    s.commit()
