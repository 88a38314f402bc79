"""Alert messages and evidence bytes: idempotent upsert by alert id, files verified on arrival,
each alert grouped into its incident (sitewatch.console.domain.incidents).

Delivery is at-least-once and may reorder, so a repeated ``(id, seq)`` changes nothing (unless
a verified message replaces an unverified one); every new ``seq`` adds a timeline row and only
a higher one overwrites the alert's fields; evidence bytes that come before their listing are
staged and verified (size, SHA-256) when it arrives. An open site's messages are kept with
``signed`` False until a verified message replaces them; the listing's SHA-256 decides which
staged copy of a file is kept.

Once an alert is acknowledged or exported, later messages extend its timeline but do not change
its :data:`FACTS` or replace a file it lists (each refusal counted in ``ingest_rejects`` and
audited as user ``ingest``); after review only a verified message may add a new file, and
nothing is added once it was exported. Why: docs/design/console-evidence.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain import stats_rollup as stats_rollup  # its flush listener counts
from sitewatch.console.domain.incidents import group_alert
from sitewatch.console.domain.live import live_alert, live_incident
from sitewatch.console.ingest.context import Context, IngestError, ensure_camera, lock_alert
from sitewatch.console.store.evidence import file_digest
from sitewatch.console.store.models import Alert, AlertEventRow, Evidence
from sitewatch.contract import messages as m

TIMELINE_FIELDS = ("last_seen_at", "ended_at", "event", "seq")
"""Fields of the alert that the newest seq decides, even once its facts are fixed."""
FACTS = ("rule", "track_id", "zone_id", "label", "score", "started_at", "config_version")
"""Fields (with ``box``) that the newest seq decides until the alert is reviewed or exported."""
NEWEST_FIELDS = FACTS + TIMELINE_FIELDS
INGEST_USER = "ingest"  # the audit log's user for what ingest refused
Taken = Literal["repeat", "deleted", "staged", "stored", "mismatch"]
"""What became of evidence bytes (:func:`on_evidence`): a repeat of the stored file, past
retention (dropped), staged for the listing to come, stored (verified), or refused as not the
listed file (counted in ``ctx.rejects``)."""


def facts_fixed(alert: Alert) -> bool:
    """Whether the alert was reviewed (any state but ``new``) or exported."""
    return alert.state != "new" or alert.exported_at is not None


def on_alert(s: Session, ctx: Context, msg: m.AlertEvent) -> None:
    """Upsert the alert, add (or verify) its timeline row and its evidence rows."""
    ctx.same_site(msg.site_id)
    alert_id = str(msg.id)
    lock_alert(s, alert_id)
    alert = s.get(Alert, alert_id)
    seen: AlertEventRow | None = None
    if alert is not None:
        if alert.camera_id != msg.camera_id or alert.site_id != msg.site_id:
            raise IngestError(
                f"alert {alert_id} belongs to {alert.site_id}/{alert.camera_id}, got a message "
                f"for {msg.site_id}/{msg.camera_id}: an alert id never moves; the sender "
                "reuses ids"
            )
        seen = s.scalar(
            select(AlertEventRow).where(
                AlertEventRow.alert_id == alert_id, AlertEventRow.seq == msg.seq
            )
        )
        if seen is not None and (seen.signed or not ctx.signed):
            return  # a repeat of a message already kept
    ensure_camera(s, msg.site_id, msg.camera_id)
    created = alert is None
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
    elif msg.seq > alert.seq or (seen is not None and msg.seq == alert.seq):
        _update(s, ctx, alert, msg)
    values: dict[str, Any] = {
        "event": msg.event,
        "score": msg.score,
        "box": list(msg.box),
        "last_seen_at": msg.last_seen_at,
        "sent_at": msg.sent_at,
        "received_at": ctx.received_at,
        "payload": json.loads(m.encode(msg)),  # as received, with its signature
        "signed": ctx.signed,
        "signed_by": ctx.signed_by,
    }
    if seen is None:
        s.add(AlertEventRow(alert_id=alert_id, seq=msg.seq, **values))
    else:  # a verified message in place of the unverified one that came first
        _audit(s, alert, f"the verified message of seq {msg.seq} replaced an unverified one")
        for name, value in values.items():
            setattr(seen, name, value)
    s.flush()
    rows = _list_evidence(s, ctx, alert, msg.evidence, created)
    grouped = group_alert(s, alert, ctx.incident_windows, now=ctx.received_at)
    ctx.events.append(live_alert(s, alert, rows))
    ctx.events.append(live_incident(s, grouped.incident))


def _update(s: Session, ctx: Context, alert: Alert, msg: m.AlertEvent) -> None:
    """Newest wins: every field, or only the timeline's once the facts are fixed."""
    if facts_fixed(alert):
        changed = [name for name in FACTS if getattr(alert, name) != getattr(msg, name)]
        if [float(v) for v in alert.box] != list(msg.box):
            changed.append("box")
        if changed:
            was = ", ".join(f"{name} {_shown(alert, name)}" for name in changed)
            _refuse(
                s,
                ctx,
                alert,
                f"alert {alert.id} is {_why_fixed(alert)}: message seq {msg.seq} may extend its "
                f"timeline but not change {was} (kept) to "
                + ", ".join(f"{name} {_shown(msg, name)}" for name in changed),
            )
        names: tuple[str, ...] = TIMELINE_FIELDS
    else:
        names = NEWEST_FIELDS
        alert.box = list(msg.box)
    for name in names:
        setattr(alert, name, getattr(msg, name))
    alert.updated_at = ctx.received_at


def _shown(obj: object, name: str) -> str:
    value = getattr(obj, name)
    return value.isoformat() if hasattr(value, "isoformat") else repr(value)


def _why_fixed(alert: Alert) -> str:
    if alert.exported_at is not None:
        return f"{alert.state} and was exported (facts fixed)"
    return f"{alert.state} (facts fixed once reviewed)"


def _refuse(s: Session, ctx: Context, alert: Alert, reason: str, topic: str | None = None) -> None:
    """Refuse a part of a message about ``alert``: counted, kept in ingest_rejects, audited."""
    ctx.reject(reason, topic)
    _audit(s, alert, reason, action="ingest_refused")


def _audit(s: Session, alert: Alert, detail: str, action: str = "ingest_replaced") -> None:
    audit.record(
        s, INGEST_USER, action, "alert", alert.id,
        site_id=alert.site_id, camera_id=alert.camera_id, detail=detail,
    )  # fmt: skip


def _list_evidence(
    s: Session, ctx: Context, alert: Alert, files: list[m.EvidenceFile], created: bool
) -> list[Evidence] | None:
    """Add, verify or refuse each listed file; ``created``: the alert is new in this message
    (it has no evidence rows yet, so none are read). All of the alert's rows, flushed; None
    when none were read (nothing listed)."""
    if created and not files:
        return []
    if not files:
        return None
    known: dict[str, Evidence] = {}
    if not created:
        rows = s.scalars(select(Evidence).where(Evidence.alert_id == alert.id))
        known = {row.name: row for row in rows}
    fixed = facts_fixed(alert)
    for file in files:
        row = known.get(file.name)
        where = f"evidence {file.name} of alert {alert.id}"
        if row is None:
            if fixed and (alert.exported_at is not None or not ctx.signed):
                _refuse(s, ctx, alert, f"{where}: alert is {_why_fixed(alert)}: no file is "
                        "added after that unless its edge signed the listing (and none after "
                        "an export); refused")  # fmt: skip
                continue
            row = Evidence(alert_id=alert.id, name=file.name, status="expected")
            _take_listing(row, file, ctx.signed)
            s.add(row)
            known[file.name] = row
        elif (row.sha256, row.size_bytes) != (file.sha256, file.size_bytes):
            listed = f"{row.sha256} ({row.size_bytes} bytes)"
            new = f"{file.sha256} ({file.size_bytes} bytes)"
            if ctx.signed and not row.signed and not fixed:
                _drop_stored(ctx, row)
                _take_listing(row, file, signed=True)
                _refuse(s, ctx, alert, f"{where}: the verified listing (SHA-256 {new}) replaced "
                        f"an unverified one ({listed}) and its bytes")  # fmt: skip
            else:
                also = f" (and the alert is {_why_fixed(alert)})" if fixed else ""
                _refuse(s, ctx, alert, f"{where} was listed with SHA-256 {listed}, now with "
                        f"{new}: kept the first listing; an edge never changes a file it has "
                        f"listed{also}")  # fmt: skip
                continue
        elif ctx.signed and not row.signed:
            row.signed = True  # the same listing, now vouched for by the edge
        if row.status in ("expected", "mismatch"):
            _verify(ctx, alert, row)
    s.flush()
    return list(known.values())


def _take_listing(row: Evidence, file: m.EvidenceFile, signed: bool) -> None:
    row.kind, row.sha256, row.size_bytes = file.kind, file.sha256, file.size_bytes
    row.content_type, row.duration_s, row.signed = file.content_type, file.duration_s, signed


def _drop_stored(ctx: Context, row: Evidence) -> None:
    """Delete the bytes an unverified listing let in: the verified listing decides now."""
    if row.path is not None:
        ctx.store.delete(Path(row.path))
    row.status, row.path, row.stored_at = "expected", None, None


def _verify(ctx: Context, alert: Alert, row: Evidence) -> Taken | None:
    """Check the staged bytes of ``row`` (if any arrived) and store or refuse them; None when
    none arrived."""
    verdict = ctx.store.promote(alert.site_id, alert.id, row.name, row.sha256, row.size_bytes)
    if verdict is None:
        return None  # not arrived yet
    if verdict.path is not None:
        row.status = "stored"
        row.path = str(verdict.path)
        row.stored_at = ctx.received_at
        return "stored"
    row.status = "mismatch"
    ctx.reject(
        f"evidence {row.name} of alert {alert.id}: expected {row.size_bytes} bytes with SHA-256 "
        f"{row.sha256}, got {verdict.size_bytes} bytes with SHA-256 {verdict.sha256}; the file "
        "was refused (not kept): it was damaged or altered on the way",
        topic=m.evidence(ctx.prefix, alert.site_id, alert.id, row.name),
    )
    return "mismatch"


def on_evidence(s: Session, ctx: Context, payload: bytes | Path) -> Taken:
    """Evidence bytes of ``ctx.route``'s file, over MQTT, or uploaded over HTTP and given as
    the finished upload's file (sitewatch.console.ingest.evidence_http; streamed, never read
    whole, and left to the caller): stage them, and verify at once if their alert already
    lists them; what became of them."""
    route = ctx.route
    assert route.alert_id is not None and route.name is not None
    lock_alert(s, route.alert_id)
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
    if row is not None and row.status == "deleted":
        return "deleted"  # past retention
    if row is not None and row.status == "stored":
        if isinstance(payload, Path):
            got = file_digest(payload)[1]
        else:
            got = hashlib.sha256(payload).hexdigest()
        if got == row.sha256:
            return "repeat"  # a repeat of a file already verified
        if row.signed:
            raise IngestError(
                f"evidence {row.name} of alert {row.alert_id} is stored as the site's edge "
                f"listed it (SHA-256 {row.sha256}), got other bytes under its name: refused, "
                "not kept; something other than the edge publishes on its evidence topic"
            )
        # an unverified listing's file: keep these bytes staged for a verified listing
    if isinstance(payload, Path):
        ctx.store.stage_file(route.site_id, route.alert_id, route.name, payload)
    else:
        ctx.store.stage(route.site_id, route.alert_id, route.name, payload)
    if alert is None or row is None or row.status == "stored":
        return "staged"  # the alert message that lists (or claims) it comes next
    taken = _verify(ctx, alert, row) or "staged"
    s.flush()
    ctx.events.append(live_alert(s, alert))
    return taken
