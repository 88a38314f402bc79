"""Alert messages and evidence bytes: idempotent upsert by alert id, files verified on arrival.

Delivery is at-least-once and may reorder, so:

- a repeated ``(id, seq)`` changes nothing;
- every new ``seq`` adds a timeline row; only a ``seq`` higher than the alert's overwrites its
  fields (newest wins), an older one only joins the timeline;
- evidence bytes come before the alert message that lists them: they are staged and verified
  (size and SHA-256) when the listing arrives, or at once when it is already known.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract import messages as m
from server.ingest_context import Context, IngestError, ensure_camera
from server.ingest_live import live_alert
from server.models import Alert, AlertEventRow, Evidence

# fields of the alert that the newest seq decides
NEWEST_FIELDS = (
    "rule",
    "track_id",
    "zone_id",
    "label",
    "score",
    "started_at",
    "last_seen_at",
    "ended_at",
    "event",
    "seq",
    "config_version",
)


def on_alert(s: Session, ctx: Context, msg: m.AlertEvent) -> None:
    """Upsert the alert, add its timeline row and its evidence rows."""
    ctx.same_site(msg.site_id)
    alert_id = str(msg.id)
    alert = s.get(Alert, alert_id)
    if alert is not None:
        if alert.camera_id != msg.camera_id or alert.site_id != msg.site_id:
            raise IngestError(
                f"alert {alert_id} belongs to {alert.site_id}/{alert.camera_id}, got a message "
                f"for {msg.site_id}/{msg.camera_id}: an alert id never moves; the sender "
                "reuses ids"
            )
        seen = s.scalar(
            select(AlertEventRow.id).where(
                AlertEventRow.alert_id == alert_id, AlertEventRow.seq == msg.seq
            )
        )
        if seen is not None:
            return  # a repeat of a message already kept
    ensure_camera(s, msg.site_id, msg.camera_id)
    if alert is None:
        alert = Alert(
            id=alert_id,
            site_id=msg.site_id,
            camera_id=msg.camera_id,
            box=list(msg.box),
            state="new",
            received_at=ctx.received_at,
            updated_at=ctx.received_at,
            **{name: getattr(msg, name) for name in NEWEST_FIELDS},
        )
        s.add(alert)
    elif msg.seq > alert.seq:
        for name in NEWEST_FIELDS:
            setattr(alert, name, getattr(msg, name))
        alert.box = list(msg.box)
        alert.updated_at = ctx.received_at
    s.add(
        AlertEventRow(
            alert_id=alert_id,
            seq=msg.seq,
            event=msg.event,
            score=msg.score,
            box=list(msg.box),
            last_seen_at=msg.last_seen_at,
            sent_at=msg.sent_at,
            received_at=ctx.received_at,
            payload=json.loads(m.encode(msg)),
        )
    )
    s.flush()
    _list_evidence(s, ctx, alert, msg.evidence)
    ctx.events.append(live_alert(s, alert))


def _list_evidence(s: Session, ctx: Context, alert: Alert, files: list[m.EvidenceFile]) -> None:
    rows = s.scalars(select(Evidence).where(Evidence.alert_id == alert.id))
    known = {row.name: row for row in rows}
    for file in files:
        row = known.get(file.name)
        if row is None:
            row = Evidence(
                alert_id=alert.id,
                name=file.name,
                kind=file.kind,
                sha256=file.sha256,
                size_bytes=file.size_bytes,
                content_type=file.content_type,
                duration_s=file.duration_s,
                status="expected",
            )
            s.add(row)
            known[file.name] = row
        elif (row.sha256, row.size_bytes) != (file.sha256, file.size_bytes):
            ctx.reject(
                f"evidence {file.name} of alert {alert.id} was listed with SHA-256 "
                f"{row.sha256} ({row.size_bytes} bytes), now with {file.sha256} "
                f"({file.size_bytes} bytes): kept the first listing; an edge never changes "
                "a file it has listed"
            )
            continue
        if row.status in ("expected", "mismatch"):
            _verify(ctx, alert, row)
    s.flush()


def _verify(ctx: Context, alert: Alert, row: Evidence) -> None:
    """Check the staged bytes of ``row`` (if any arrived) and store or refuse them."""
    verdict = ctx.store.promote(alert.site_id, alert.id, row.name, row.sha256, row.size_bytes)
    if verdict is None:
        return  # not arrived yet
    if verdict.path is not None:
        row.status = "stored"
        row.path = str(verdict.path)
        row.stored_at = ctx.received_at
        return
    row.status = "mismatch"
    ctx.reject(
        f"evidence {row.name} of alert {alert.id}: expected {row.size_bytes} bytes with SHA-256 "
        f"{row.sha256}, got {verdict.size_bytes} bytes with SHA-256 {verdict.sha256}; the file "
        "was refused (not kept): it was damaged or altered on the way",
        topic=m.evidence(ctx.prefix, alert.site_id, alert.id, row.name),
    )


def on_evidence(s: Session, ctx: Context, payload: bytes) -> None:
    """Evidence bytes: stage them, and verify at once if their alert already lists them."""
    route = ctx.route
    assert route.alert_id is not None and route.name is not None
    alert = s.get(Alert, route.alert_id)
    if alert is not None and alert.site_id != route.site_id:
        raise IngestError(
            f"alert {alert.id} belongs to site {alert.site_id!r}, got its evidence on site "
            f"{route.site_id!r}'s topic: refused; the sender uses the wrong topic"
        )
    row = None
    if alert is not None:
        row = s.scalar(
            select(Evidence).where(Evidence.alert_id == alert.id, Evidence.name == route.name)
        )
    if row is not None and row.status in ("stored", "deleted"):
        return  # a repeat of a file already verified (or already past retention)
    ctx.store.stage(route.site_id, route.alert_id, route.name, payload)
    if alert is None or row is None:
        return  # the alert message that lists it comes next
    _verify(ctx, alert, row)
    s.flush()
    ctx.events.append(live_alert(s, alert))
