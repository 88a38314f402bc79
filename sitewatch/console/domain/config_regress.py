"""Configuration that goes backwards: an edge, or one camera's config, reporting a version
older than the last change this console saw it apply, and the change that re-sends it.

A camera's or site's ``config_regressed`` is ``{"applied", "reported", "since"}`` (versions as
the edge writes them, ``since`` an ISO 8601 UTC time) while it is behind, else None. A camera
is compared with the last change applied to that camera, a site with the last applied to any
of its cameras. "Last" is the latest answered, not the highest version: an edge reset on
purpose and changed again is behind no more. Versions that are not decimal numbers are never
called older. Marking is idempotent: a repeat of the same report keeps ``since`` and writes no
second audit row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import Conflict, Invalid
from sitewatch.console.schemas import ConfigChangeIn
from sitewatch.console.store.models import Camera, ConfigRequest, Site

SYSTEM_USER = "ingest"  # the audit log's user for what ingest noticed
ZONE_COMMAND = "sitewatch.config_command/1"  # the requests whose zones and rules can be re-sent


def applied_requests(s: Session, site_id: str, camera_id: str | None = None) -> list[ConfigRequest]:
    """Changes the edge applied at the site (or to one camera), oldest answer first."""
    query = select(ConfigRequest).where(
        ConfigRequest.site_id == site_id, ConfigRequest.status == "applied"
    )
    if camera_id is not None:
        query = query.where(ConfigRequest.camera_id == camera_id)
    return list(s.scalars(query.order_by(ConfigRequest.answered_at, ConfigRequest.issued_at)))


def last_applied(s: Session, site_id: str, camera_id: str | None = None) -> ConfigRequest | None:
    """The change the edge answered last as applied at the site (or to one camera)."""
    query = select(ConfigRequest).where(
        ConfigRequest.site_id == site_id, ConfigRequest.status == "applied"
    )
    if camera_id is not None:
        query = query.where(ConfigRequest.camera_id == camera_id)
    order = (ConfigRequest.answered_at.desc(), ConfigRequest.issued_at.desc())
    return s.scalar(query.order_by(*order).limit(1))


def older(reported: str | None, applied: str | None) -> bool:
    """Whether ``reported`` is a lower version number than ``applied`` (both decimal)."""
    if reported is None or applied is None:
        return False
    if not (reported.isdecimal() and applied.isdecimal()):
        return False
    return int(reported) < int(applied)


def _mark(current: dict[str, Any] | None, applied: str, reported: str, at: datetime) -> Any:
    if current and (current.get("applied"), current.get("reported")) == (applied, reported):
        return current
    return {"applied": applied, "reported": reported, "since": at.isoformat()}


def check_camera(s: Session, camera: Camera, at: datetime, reported: str | None = None) -> bool:
    """Mark or clear the camera's ``config_regressed`` after it reported ``config_version``
    (or its edge ``reported`` a version for all its cameras); True when it newly went behind
    (audited here)."""
    version = reported if reported is not None else camera.config_version
    last = last_applied(s, camera.site_id, camera.camera_id)
    applied = last.version if last else None
    if last is None or applied is None or version is None or not older(version, applied):
        camera.config_regressed = None
        return False
    before = camera.config_regressed
    camera.config_regressed = _mark(before, applied, version, at)
    if camera.config_regressed is before:
        return False
    audit.record(
        s, SYSTEM_USER, "config_regressed", "camera", f"{camera.site_id}/{camera.camera_id}",
        site_id=camera.site_id, camera_id=camera.camera_id, at=at,
        detail=f"the edge reports config version {version}, older than "
        f"version {applied} applied by request {last.request_id}: the change was lost "
        "(the edge restarted from an older file?); re-send it from the console",
        key="camera_regressed",
        params={"version": version, "applied": applied, "request": last.request_id},
    )  # fmt: skip
    return True


def check_site(s: Session, site: Site, at: datetime) -> bool:
    """Mark or clear the site's ``config_regressed`` after its edge reported
    ``config_version``; True when it newly went behind (audited here)."""
    last = last_applied(s, site.id)
    applied = last.version if last else None
    if last is None or applied is None or not older(site.config_version, applied):
        site.config_regressed = None
        return False
    assert site.config_version is not None
    before = site.config_regressed
    site.config_regressed = _mark(before, applied, site.config_version, at)
    if site.config_regressed is before:
        return False
    audit.record(
        s, SYSTEM_USER, "config_regressed", "site", site.id, site_id=site.id, at=at,
        detail=f"the edge runs config version {site.config_version}, older than version "
        f"{applied} it applied (request {last.request_id}): changes made since were lost",
        key="site_regressed",
        params={"version": site.config_version, "applied": applied, "request": last.request_id},
    )  # fmt: skip
    return True


def resend_change(s: Session, camera: Camera) -> tuple[ConfigChangeIn, str]:
    """The change that restores what the camera lost, against the version its edge runs now,
    and a line for the audit log: the zones of the last applied change and the rule overrides
    of every applied change (a later one wins). :class:`Conflict` when the camera is not behind
    or lost a camera change, :class:`Invalid` when the lost zones no longer validate.
    """
    lost = camera.config_regressed
    if not lost or camera.config_version is None:
        raise Conflict(
            f"expected a camera whose edge reports an older config version than the last one "
            f"it applied; camera {camera.site_id}/{camera.camera_id} reports version "
            f"{camera.config_version} and has lost nothing: nothing to re-send",
            code="config.nothing_lost",
            params={"camera": camera.camera_id},
        )
    every = applied_requests(s, camera.site_id, camera.camera_id)
    if every and every[-1].payload.get("schema") != ZONE_COMMAND:
        action = every[-1].payload.get("action", "change")
        raise Conflict(
            f"expected a lost zone change, got a lost camera {action} (request "
            f"{every[-1].request_id}): make it again in the camera editor; the console keeps "
            "no stream password to send again",
            code="config.lost_camera_change",
        )
    rows = [row for row in every if row.payload.get("schema") == ZONE_COMMAND]
    if not rows:
        raise Conflict(
            f"camera {camera.site_id}/{camera.camera_id}: no applied zone change is on record "
            "to re-send; make the change again in the zone editor",
            code="config.no_applied_change",
        )
    rules: dict[str, dict[str, Any]] = {}
    for row in rows:
        for rule, values in (row.payload.get("rules") or {}).items():
            rules[rule] = {**rules.get(rule, {}), **values}
    site = s.get(Site, camera.site_id)
    base = (site.config_version if site else None) or camera.config_version  # the edge's now
    zones = rows[-1].payload.get("zones") or []
    try:
        change = ConfigChangeIn.model_validate(
            {"base_version": base, "zones": zones, "rules": rules or None}
        )
    except ValidationError as exc:  # checks the console added since the change was made
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise Invalid(
            f"the lost change of request {rows[-1].request_id} is not valid today ({problems}): "
            "make it again in the zone editor",
            code="config.invalid",
            params={"problems": problems},
        ) from None
    why = (
        f"re-sending version {lost.get('applied')} (request {rows[-1].request_id}), lost when "
        f"the edge went back to version {lost.get('reported')}: "
    )
    return change, why
