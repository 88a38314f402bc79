"""The evidence package for police: one zip a reviewer can check without the console.

    sitewatch-alert-<id>/
        <clip>.mp4, <snapshot>.jpg ...   every stored evidence file, verified before it goes in
        alert.json                        the alert record, its timeline, workflow actions, evidence
        manifest.json                     SHA-256 and size of every file above, who exported, when
        manifest.sha256                   the same hashes (and manifest.json's) for `sha256sum -c`

Evidence that has not arrived, or was deleted by retention, is listed in ``manifest.json``
under ``missing`` with its status. A file whose bytes no longer match refuses the export.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.custody import EvidenceUnavailable, verified_file
from server.models import Alert, Evidence
from server.queries import alert_detail
from server.settings import Settings

COMPRESSED_KINDS = frozenset({"image/jpeg", "image/png", "video/mp4", "video/webm"})


def folder(alert: Alert) -> str:
    return f"sitewatch-alert-{alert.id}"


def build_package(
    s: Session,
    settings: Settings,
    alert: Alert,
    evidence: list[Evidence],
    *,
    exported_by: str,
    exported_at: datetime,
) -> bytes:
    """The zip's bytes; raises :class:`server.custody.Tampered` if a file was changed."""
    root = folder(alert)
    stamp = exported_at.timetuple()[:6]
    buf = io.BytesIO()
    hashes: dict[str, str] = {}
    files: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    with zipfile.ZipFile(buf, "w") as zf:

        def put(name: str, data: bytes, *, compress: bool) -> None:
            info = zipfile.ZipInfo(f"{root}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            zf.writestr(info, data)
            hashes[name] = hashlib.sha256(data).hexdigest()

        for ev in evidence:
            if ev.status in ("expected", "deleted"):
                missing.append({"name": ev.name, "kind": ev.kind, "status": ev.status})
                continue
            try:
                path = verified_file(settings, alert, ev)
            except EvidenceUnavailable as exc:
                if exc.status == 409:
                    raise
                missing.append({"name": ev.name, "kind": ev.kind, "status": str(exc)})
                continue
            data = path.read_bytes()
            put(ev.name, data, compress=ev.content_type not in COMPRESSED_KINDS)
            if hashes[ev.name] != ev.sha256:  # changed between the check and the read
                raise EvidenceUnavailable(409, f"evidence {ev.name!r} changed while exporting")
            files.append(
                {"name": ev.name, "kind": ev.kind, "sha256": ev.sha256, "size_bytes": len(data)}
            )
        record = alert_detail(s, alert).model_dump(mode="json")
        alert_json = _json(
            {"alert": record, "exported_by": exported_by, "exported_at": exported_at.isoformat()}
        )
        put("alert.json", alert_json, compress=True)
        files.append(
            {
                "name": "alert.json",
                "kind": "record",
                "sha256": hashes["alert.json"],
                "size_bytes": len(alert_json),
            }
        )
        manifest = _json(
            {
                "alert_id": alert.id,
                "site_id": alert.site_id,
                "camera_id": alert.camera_id,
                "exported_by": exported_by,
                "exported_at": exported_at.isoformat(),
                "algorithm": "sha256",
                "files": files,
                "missing": missing,
                "check": "cd into this folder and run: sha256sum -c manifest.sha256",
            }
        )
        put("manifest.json", manifest, compress=True)
        lines = "".join(f"{h}  {name}\n" for name, h in hashes.items())
        put("manifest.sha256", lines.encode(), compress=True)
    return buf.getvalue()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()
