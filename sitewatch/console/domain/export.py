"""The evidence package for police: one zip a reviewer can check without the console.

``sitewatch-alert-<id>/`` holds ``evidence/<name>`` (every stored evidence file, verified before
it goes in), ``alert.json`` (its own versioned record, :data:`ALERT_RECORD`, not the API's
response), ``messages.json`` (every message as the edge sent it, with its signature),
``keys.json``, ``custody.json`` (the chain of custody up to and including this export),
``manifest.json`` (SHA-256 and size of every file, who exported, when), ``manifest.sha256``
and ``manifest.json.sig`` (the console's Ed25519 signature). Evidence that has not arrived or
was deleted is listed under ``missing``; a file whose bytes no longer match refuses the export.
``video/<export id>.mp4`` holds every ready range export made from the alert (issue 15: the
SHA-256 the console computed when the edge uploaded it; the manifest lists camera, stream and
range). ``sitewatch verify`` (:mod:`sitewatch.console.domain.verify_package`) checks it all
offline.
Layout and why: docs/design/police-package.md.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.audit import VIEW_WINDOW, alert_trail
from sitewatch.console.domain.custody import (
    EvidenceUnavailable,
    Tampered,
    sha256_file,
    verified_file,
)
from sitewatch.console.domain.queries import alert_rows, evidence_url
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import (
    Alert,
    AlertEventRow,
    AuditEntry,
    BrokerAccount,
    Evidence,
    VideoExport,
)
from sitewatch.contract.signing import fingerprint, public_key_text

ALERT_RECORD = "sitewatch.package_alert/2"  # /2: the alert's incident_id
"""The version of alert.json's record; a change to its fields is a new version."""
ALERT_FIELDS = (
    *("id", "site_id", "camera_id", "rule", "track_id", "zone_id", "label", "score", "box"),
    *("started_at", "last_seen_at", "ended_at", "event", "seq", "config_version", "state"),
    *("assignee", "received_at", "updated_at", "acknowledged_at", "closed_at", "incident_id"),
)
TIMELINE_FIELDS = ("seq", "event", "score", "box", "last_seen_at", "sent_at", "received_at")
ACTION_FIELDS = ("at", "username", "action", "from_state", "to_state", "assignee", "note")
EVIDENCE_FIELDS = ("name", "kind", "sha256", "size_bytes", "content_type", "duration_s", "status")
EVIDENCE_DIR = "evidence"
VIDEO_DIR = "video"
SIGNATURE_FILE = "manifest.json.sig"
COMPRESSED_KINDS = frozenset({"image/jpeg", "image/png", "video/mp4", "video/webm"})
CUSTODY_ABOUT = (
    "The console's audit log for this alert, oldest first: who viewed (view; view_thumbnail: "
    "shown small in a list), downloaded or exported which evidence file, from which address, "
    "and every workflow action and change on the alert, up to and including this export (the "
    "last entry). Views of one file by one user are recorded once per "
    f"{int(VIEW_WINDOW.total_seconds() // 60)} minutes. The package's own SHA-256 cannot be "
    "inside it: the console's audit log keeps it with this export's entry."
)
MESSAGES_ABOUT = (
    "Every message of this alert the console received, in seq order, as received: 'message' "
    "is the edge's message with its 'signature' (base64 Ed25519 over the message without it, "
    "as sorted compact JSON). 'signed_on_arrival' says whether the console verified it against "
    "the site edge's registered key when it arrived, 'verified_with' that key's fingerprint "
    "(keys.json lists it under 'edge_keys'). Each message's 'evidence' list names the "
    "files with their SHA-256: the edge's signature vouches for them."
)
KEYS_ABOUT = (
    "'edge': the public key registered for the site's edge now (null while the site is open); "
    "'edge_keys': every key the console verified this alert's messages with on arrival (the "
    "edge's key may have been replaced since); 'console': the public key "
    "of the console that made this package and signed manifest.json (manifest.json.sig). Keys "
    "are base64 of the raw 32-byte Ed25519 key; compare the fingerprints with the ones the "
    "site and the console show ('sitewatch server public-key')."
)


def folder(alert: Alert) -> str:
    return f"sitewatch-alert-{alert.id}"


def files_note(evidence: list[Evidence]) -> str:
    """The evidence an export carries, as its audit row and custody.json say it."""
    return f"files {', '.join(e.name for e in evidence if e.status == 'stored')}"


def build_package(
    s: Session,
    settings: Settings,
    alert: Alert,
    evidence: list[Evidence],
    *,
    exported_by: str,
    exported_at: datetime,
    console_key: Ed25519PrivateKey,
    client: str | None = None,
) -> bytes:
    """The zip's bytes; raises :class:`sitewatch.console.domain.custody.Tampered` if a file was
    changed. ``client`` is the exporter's address, for this export's entry in custody.json (the
    caller records the same entry in the audit log, at ``exported_at``); ``console_key`` signs the
    manifest."""
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
            name = f"{EVIDENCE_DIR}/{ev.name}"
            put(name, data, compress=ev.content_type not in COMPRESSED_KINDS)
            if hashes[name] != ev.sha256:  # changed between the check and the read
                raise EvidenceUnavailable(
                    409,
                    f"evidence {ev.name!r} changed while exporting",
                    "evidence.tampered",
                    ev.name,
                )
            files.append(
                {
                    "name": name,
                    "kind": ev.kind,
                    "sha256": ev.sha256,
                    "size_bytes": len(data),
                    "listing_signed": ev.signed,
                }
            )

        for vx in video_exports(s, alert):
            name = f"{VIDEO_DIR}/{vx.id}.mp4"
            try:
                data = verified_video(vx).read_bytes()
            except EvidenceUnavailable as exc:
                if exc.status == 409:
                    raise
                missing.append({"name": name, "kind": "video_export", "status": str(exc)})
                continue
            put(name, data, compress=False)
            if hashes[name] != vx.sha256:  # changed between the check and the read
                raise EvidenceUnavailable(
                    409,
                    f"video export {vx.id} changed while exporting",
                    "evidence.tampered",
                    name,
                )
            files.append({"name": name, **video_entry(vx), "size_bytes": len(data)})

        def put_record(name: str, kind: str, obj: dict[str, Any]) -> None:
            data = _json(obj)
            put(name, data, compress=True)
            files.append(
                {"name": name, "kind": kind, "sha256": hashes[name], "size_bytes": len(data)}
            )

        who = {"exported_by": exported_by, "exported_at": exported_at.isoformat()}
        put_record(
            "alert.json", "record", {"record": ALERT_RECORD, **alert_record(s, alert), **who}
        )
        put_record("messages.json", "messages", _messages(s, alert))
        put_record("keys.json", "keys", _keys(s, alert, console_key))
        custody = _custody(s, alert, evidence, client, by=exported_by, at=exported_at)
        put_record("custody.json", "custody", custody)
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
                "check": "run: sitewatch verify <this zip>; or cd into this folder and run: "
                "sha256sum -c manifest.sha256",
            }
        )
        put("manifest.json", manifest, compress=True)
        lines = "".join(f"{h}  {name}\n" for name, h in hashes.items())
        put("manifest.sha256", lines.encode(), compress=True)
        signature = base64.b64encode(console_key.sign(manifest)).decode() + "\n"
        put(SIGNATURE_FILE, signature.encode(), compress=False)
    return buf.getvalue()


def video_exports(s: Session, alert: Alert) -> list[VideoExport]:
    """The alert's ready range exports, oldest first."""
    return list(
        s.scalars(
            select(VideoExport)
            .where(VideoExport.alert_id == alert.id, VideoExport.state == "ready")
            .order_by(VideoExport.requested_at, VideoExport.id)
        )
    )


def verified_video(vx: VideoExport) -> Path:
    """A ready export's file after checking its bytes against its SHA-256; raises
    :class:`EvidenceUnavailable` (410 gone) or :class:`Tampered` (409)."""
    path = Path(vx.path or "")
    if not vx.path or not path.is_file():
        raise EvidenceUnavailable(
            410,
            f"video export {vx.id} is recorded as ready but its file {path} is missing",
            "evidence.file_missing",
            f"video/{vx.id}.mp4",
        )
    found = sha256_file(path)
    if found != vx.sha256:
        raise Tampered(f"video/{vx.id}.mp4", str(vx.sha256), found)
    return path


def video_entry(vx: VideoExport) -> dict[str, Any]:
    """A range export as the manifest lists it (times ISO 8601)."""
    return {
        "kind": "video_export",
        "sha256": vx.sha256,
        "camera_id": vx.camera_id,
        "stream": vx.stream,
        "start": to_jsonable_python(vx.actual_start or vx.start),
        "end": to_jsonable_python(vx.actual_end or vx.end),
        "requested_by": vx.requested_by,
        "hashed_by": "console, on upload",
    }


def alert_record(s: Session, alert: Alert) -> dict[str, Any]:
    """alert.json's ``alert``: the alert's fields, the snapshot's URL, its timeline (every
    message), workflow actions and evidence, from the models (not the API's response model, so
    an API change cannot change the legal record; :data:`ALERT_RECORD` versions it). Times are
    ISO 8601 (UTC as ``Z``), boxes normalised 0..1 xyxy floats."""
    rows = alert_rows(s, alert)
    events, actions, evidence, snapshot = rows.events, rows.actions, rows.evidence, rows.snapshot
    return {
        "alert": {
            **_fields(alert, ALERT_FIELDS),
            "snapshot_url": evidence_url(alert.id, snapshot) if snapshot else None,
            "timeline": [_fields(e, TIMELINE_FIELDS) for e in events],
            "actions": [_fields(a, ACTION_FIELDS) for a in actions],
            "evidence": [
                {
                    **_fields(e, EVIDENCE_FIELDS),
                    "url": evidence_url(e.alert_id, e.name) if e.status == "stored" else None,
                }
                for e in evidence
            ],
        }
    }


def _fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``row``'s ``names`` as JSON values (a box's numbers as floats)."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(row, name)
        if name in ("box", "score") and value is not None:
            value = [float(v) for v in value] if name == "box" else float(value)
        out[name] = to_jsonable_python(value)
    return out


def _messages(s: Session, alert: Alert) -> dict[str, Any]:
    rows = s.scalars(
        select(AlertEventRow).where(AlertEventRow.alert_id == alert.id).order_by(AlertEventRow.seq)
    )
    return {
        "alert_id": alert.id,
        "about": MESSAGES_ABOUT,
        "messages": [
            {
                "seq": row.seq,
                "received_at": row.received_at.isoformat(),
                "signed_on_arrival": row.signed,
                "verified_with": fingerprint(row.signed_by) if row.signed_by else None,
                "message": row.payload,
            }
            for row in rows
        ],
    }


def _keys(s: Session, alert: Alert, console_key: Ed25519PrivateKey) -> dict[str, Any]:
    account = s.scalar(
        select(BrokerAccount).where(
            BrokerAccount.site_id == alert.site_id, BrokerAccount.role == "edge"
        )
    )
    edge = None
    if account is not None and account.public_key:
        edge = {
            "site_id": alert.site_id,
            "account": account.username,
            "public_key": account.public_key,
            "fingerprint": fingerprint(account.public_key),
            "registered_at": account.updated_at.isoformat(),
        }
    console = public_key_text(console_key)
    used = s.scalars(
        select(AlertEventRow.signed_by)
        .where(AlertEventRow.alert_id == alert.id, AlertEventRow.signed_by.is_not(None))
        .distinct()
    )
    return {
        "about": KEYS_ABOUT,
        "edge": edge,
        "edge_keys": [
            {"public_key": k, "fingerprint": fingerprint(k)} for k in sorted(filter(None, used))
        ],
        "console": {"public_key": console, "fingerprint": fingerprint(console)},
    }


def _custody(
    s: Session,
    alert: Alert,
    evidence: list[Evidence],
    client: str | None,
    *,
    by: str,
    at: datetime,
) -> dict[str, Any]:
    """custody.json: the alert's audit rows and, last, this export (not yet stored: the caller
    stores it with the package's SHA-256)."""
    this_export = AuditEntry(
        at=at,
        username=by,
        action="export",
        object_type="alert",
        object_id=alert.id,
        site_id=alert.site_id,
        camera_id=alert.camera_id,
        client=client,
        detail=f"this package; {files_note(evidence)}",
    )
    return {
        "alert_id": alert.id,
        "exported_by": by,
        "exported_at": at.isoformat(),
        "about": CUSTODY_ABOUT,
        "entries": [_entry(r) for r in [*alert_trail(s, alert.id), this_export]],
    }


def _entry(row: AuditEntry) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "username": row.username,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "site_id": row.site_id,
        "camera_id": row.camera_id,
        "client": row.client,
        "detail": row.detail,
    }


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()
