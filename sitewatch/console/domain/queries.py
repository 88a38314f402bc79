"""Query helpers the routes share: site scoping, loading an alert a user may see, and building
the response bodies of alerts (with their snapshot URL), evidence and users. Refusals are
:mod:`sitewatch.console.domain.errors` (no fastapi here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from sitewatch.console.domain.errors import Invalid, NotFound
from sitewatch.console.permissions import ROLE_CAPABILITIES, Scope, can_see_camera, can_see_site
from sitewatch.console.schemas import (
    ActionOut,
    AlertDetail,
    AlertOut,
    CameraOut,
    EvidenceOut,
    EvidenceState,
    TimelineEntry,
    UserOut,
)
from sitewatch.console.store.models import Alert, AlertAction, AlertEventRow, Camera, Evidence, User
from sitewatch.console.workflow import OPEN_STATES as OPEN_STATES  # defined by the workflow

S = TypeVar("S", bound=Select[*tuple[Any, ...]])
TOTAL_CAP = 10_000
"""Lists count their matching rows up to this many: a total over it is answered as "at least
TOTAL_CAP" (``total_capped``), because an exact count reads every matching index entry
while counting to the cap stops early (bench/RESULTS.md, "Database at county size")."""


def site_filter(
    column: InstrumentedAttribute[Any],
    user: User,
    camera_column: InstrumentedAttribute[Any] | None = None,
) -> ColumnElement[bool] | None:
    """A WHERE clause keeping the user's sites (and, given ``camera_column``, only their
    cameras there); None when they see everything. Rows without a camera (NULL) are kept
    only for users who see every camera of their sites."""
    scope = Scope.of(user)
    if scope.cameras is not None:
        if not scope.cameras:
            return false()
        if camera_column is None:
            return column.in_(sorted(scope.cameras))
        return or_(
            *(
                and_(column == site_id, camera_column.in_(sorted(cams)))
                for site_id, cams in sorted(scope.cameras.items())
            )
        )
    if scope.sites is None:
        return None
    return column.in_(sorted(scope.sites))


def scoped(
    stmt: S,
    column: InstrumentedAttribute[Any],
    user: User,
    camera_column: InstrumentedAttribute[Any] | None = None,
) -> S:
    """``stmt`` restricted to the user's sites and, given ``camera_column``, cameras."""
    clause = site_filter(column, user, camera_column)
    return stmt if clause is None else stmt.where(clause)


def alert_filters(
    user: User,
    *,
    site: str | None = None,
    camera: str | None = None,
    rule: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for alerts of the user's sites matching the filters given (times are
    on ``started_at``: ``since <= t < until``); :class:`NotFound` for a site (or a site's
    camera) outside the user's scope."""
    where: list[ColumnElement[bool]] = []
    scope = site_filter(Alert.site_id, user, Alert.camera_id)
    if scope is not None:
        where.append(scope)
    if site is not None:
        if not can_see_site(user, site):
            raise NotFound(f"no site {site!r}", code="scope.no_site", params={"site": site})
        where.append(Alert.site_id == site)
        if camera is not None and not can_see_camera(user, site, camera):
            raise NotFound(
                f"no camera {camera!r} at {site!r}",
                code="scope.no_camera",
                params={"site": site, "camera": camera},
            )
    if camera is not None:
        where.append(Alert.camera_id == camera)
    if rule is not None:
        where.append(Alert.rule == rule)
    if since is not None:
        where.append(Alert.started_at >= aware_param(since, "since"))
    if until is not None:
        where.append(Alert.started_at < aware_param(until, "until"))
    return where


def capped_total(
    s: Session, table: Any, where: Sequence[ColumnElement[bool]], cap: int = TOTAL_CAP
) -> tuple[int, bool]:
    """How many rows of ``table`` match ``where``, counted up to ``cap``: (the count, False)
    when at most ``cap`` match, else (``cap``, True), meaning "more than ``cap``"."""
    first = select(literal(1)).select_from(table).where(*where).limit(cap + 1).subquery()
    n = s.scalar(select(func.count()).select_from(first)) or 0
    return (cap, True) if n > cap else (n, False)


def get_alert(s: Session, user: User, alert_id: str) -> Alert:
    """The alert, if it exists and is of one of the user's sites and cameras; else 404
    (the same answer): :class:`NotFound`."""
    alert = s.get(Alert, alert_id)
    if alert is None or not can_see_camera(user, alert.site_id, alert.camera_id):
        raise NotFound(f"no alert {alert_id!r}", code="alert.not_found", params={"alert": alert_id})
    return alert


def evidence_url(alert_id: str, name: str) -> str:
    return f"/api/alerts/{alert_id}/evidence/{name}"


def evidence_out(ev: Evidence) -> EvidenceOut:
    out = EvidenceOut.model_validate({**_columns(ev), "url": None})
    if ev.status == "stored":
        out.url = evidence_url(ev.alert_id, ev.name)
    return out


def snapshot_names(s: Session, alert_ids: Sequence[str]) -> dict[str, str]:
    """alert id → name of its stored annotated snapshot (the one lists show)."""
    if not alert_ids:
        return {}
    rows = s.execute(
        select(Evidence.alert_id, Evidence.name)
        .where(
            Evidence.alert_id.in_(list(alert_ids)),
            Evidence.kind == "snapshot",
            Evidence.status == "stored",
        )
        .order_by(Evidence.id)
    )
    names: dict[str, str] = {}
    for alert_id, name in rows:
        names.setdefault(alert_id, name)
    return names


def evidence_states(s: Session, alert_ids: Sequence[str]) -> dict[str, list[EvidenceState]]:
    """alert id → its evidence files (in listing order) and their status; one query."""
    if not alert_ids:
        return {}
    rows = s.execute(
        select(Evidence.alert_id, Evidence.name, Evidence.kind, Evidence.status)
        .where(Evidence.alert_id.in_(list(alert_ids)))
        .order_by(Evidence.id)
    )
    states: dict[str, list[EvidenceState]] = {}
    for alert_id, name, kind, status in rows:
        states.setdefault(alert_id, []).append(EvidenceState(name=name, kind=kind, status=status))
    return states


def alert_out(alert: Alert, files: Sequence[EvidenceState]) -> AlertOut:
    """The alert with its ``files`` (:func:`evidence_states`); its snapshot is the first
    stored file of kind ``snapshot`` (as :func:`snapshot_names`)."""
    out = AlertOut.model_validate(alert)
    out.evidence_files = list(files)
    snapshot = next((f.name for f in files if f.kind == "snapshot" and f.status == "stored"), None)
    out.snapshot_url = evidence_url(alert.id, snapshot) if snapshot else None
    return out


def alert_outs(s: Session, alerts: Sequence[Alert]) -> list[AlertOut]:
    states = evidence_states(s, [a.id for a in alerts])
    return [alert_out(a, states.get(a.id, [])) for a in alerts]


@dataclass(frozen=True)
class AlertRows:
    """An alert's timeline (by seq), workflow actions (by time) and evidence (by id), and the
    name of its stored snapshot (None if none): what the detail and the package show."""

    events: Sequence[AlertEventRow]
    actions: Sequence[AlertAction]
    evidence: Sequence[Evidence]
    snapshot: str | None


def alert_rows(s: Session, alert: Alert) -> AlertRows:
    events = s.scalars(
        select(AlertEventRow).where(AlertEventRow.alert_id == alert.id).order_by(AlertEventRow.seq)
    ).all()
    actions = s.scalars(
        select(AlertAction)
        .where(AlertAction.alert_id == alert.id)
        .order_by(AlertAction.at, AlertAction.id)
    ).all()
    evidence = s.scalars(
        select(Evidence).where(Evidence.alert_id == alert.id).order_by(Evidence.id)
    ).all()
    snapshot = next(
        (e.name for e in evidence if e.kind == "snapshot" and e.status == "stored"), None
    )
    return AlertRows(events, actions, evidence, snapshot)


def alert_detail(s: Session, alert: Alert) -> AlertDetail:
    """The alert with its timeline (every message), workflow actions and evidence."""
    rows = alert_rows(s, alert)
    events, actions, evidence = rows.events, rows.actions, rows.evidence
    files = [EvidenceState.model_validate(e) for e in evidence]
    return AlertDetail(
        **dict(alert_out(alert, files)),
        timeline=[TimelineEntry.model_validate(e) for e in events],
        actions=[ActionOut.model_validate(a) for a in actions],
        evidence=[evidence_out(e) for e in evidence],
    )


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def aware_param(t: datetime, name: str) -> datetime:
    """A time query parameter, which must carry its time zone."""
    if t.tzinfo is None:
        raise Invalid(
            f"{name}={t.isoformat()} has no time zone: add one, e.g. {t.isoformat()}Z",
            code="time.no_zone",
            params={"name": name},
        )
    return t


def camera_out_of(
    cam: Camera, edge_offline: bool, last_alert_at: datetime | None, open_alerts: int
) -> CameraOut:
    """A camera as the API shows it: ``offline`` when its edge is, whatever it said last."""
    values: dict[str, Any] = {c.key: getattr(cam, c.key) for c in Camera.__table__.columns}
    values.update(
        state="offline" if edge_offline else cam.state,
        snapshot_url=f"/api/cameras/{cam.site_id}/{cam.camera_id}/snapshot"
        if cam.snapshot_path
        else None,
        warnings=cam.warnings or [],
        last_alert_at=last_alert_at,
        open_alerts=open_alerts,
        zone_names={
            str(z["id"]): str(z["name"])
            for z in cam.zones or []
            if isinstance(z, dict) and z.get("id") and z.get("name")
        },
    )
    return CameraOut.model_validate(values)


def site_for_scope(data: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """A site as a user limited to cameras may see it: the edge's per-camera numbers only for
    their cameras, and no site-wide open-alert count (it would count other cameras' alerts)."""
    if scope.cameras is None:
        return data
    site_id = str(data.get("id", ""))
    out = dict(data)
    stats = out.get("stats")
    if isinstance(stats, dict) and isinstance(stats.get("cameras"), list):
        out["stats"] = {
            **stats,
            "cameras": [
                c
                for c in stats["cameras"]
                if isinstance(c, dict) and scope.camera(site_id, str(c.get("camera_id")))
            ],
        }
    out.pop("open_alerts", None)
    return out


def user_out(user: User) -> UserOut:
    """A user as the API shows them, with the capabilities of their role."""
    return UserOut.model_validate(
        {
            "username": user.username,
            "role": user.role,
            "language": user.language,
            "sites": user.sites,
            "cameras": user.cameras,
            "active": user.active,
            "capabilities": sorted(ROLE_CAPABILITIES.get(user.role, ())),
        }
    )
