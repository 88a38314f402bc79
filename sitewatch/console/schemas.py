"""Request and response bodies of the console's HTTP API (the web console and scripts use
these; the OpenAPI document at ``/openapi.json`` is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, model_validator

from sitewatch.console.settings import Language
from sitewatch.console.workflow import ActionName as ActionName  # defined by the workflow
from sitewatch.console.workflow import AlertState as AlertState
from sitewatch.contract.edge_warnings import Warnings
from sitewatch.contract.messages import CameraSpec, Ident, RuleName, ZoneSpec

Role = Literal["admin", "manager", "police", "operator"]
Username = str


class In(BaseModel):
    """Request bodies refuse unknown fields; invalid Unicode in text becomes U+FFFD."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _unicode_only(cls, data: Any) -> Any:
        return _valid_text(data)


def _valid_text(value: Any) -> Any:
    """JSON may carry a lone UTF-16 surrogate (``"\\ud800"``), which no database, hash, MQTT
    message or error reply can encode: it becomes U+FFFD, as in any invalid text decoded."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(Out):
    username: str
    role: Role
    language: Language
    sites: list[str] = Field(description='Site ids this user sees; ["*"] = every site.')
    cameras: list[str] | None = Field(
        None,
        description='Cameras this user is limited to, as "site_id/camera_id" entries (each '
        "at one of the user's sites); null = every camera of the user's sites.",
    )
    active: bool
    capabilities: list[str] = Field(default_factory=list)


class UserCreateIn(In):
    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
    password: str = Field(min_length=10, max_length=1024)
    role: Role
    sites: list[str] = Field(min_length=1)
    cameras: list[str] | None = Field(
        None,
        description='Cameras this user is limited to, as "site_id/camera_id" entries (each '
        "at one of the user's sites); null = every camera of the user's sites.",
    )
    language: Language | None = None


class UserUpdateIn(In):
    password: str | None = Field(None, min_length=10, max_length=1024)
    role: Role | None = None
    sites: list[str] | None = Field(None, min_length=1)
    cameras: list[str] | None = Field(
        None,
        description='Limit the user to these cameras ("site_id/camera_id" entries); send '
        "null to lift the limit (every camera of the user's sites); leave out: no change.",
    )
    language: Language | None = None
    active: bool | None = None


class AssigneeOut(Out):
    """A user an alert can be assigned to: active, may work alerts, sees its camera."""

    username: str
    role: Role


class LanguageIn(In):
    language: Language


class EvidenceState(Out):
    """An evidence file of an alert as lists and the live stream show it: what it is and
    whether it has arrived."""

    name: str
    kind: str
    status: Literal["expected", "stored", "mismatch", "deleted"] = Field(
        description="expected: listed, not arrived yet; stored: arrived and verified; "
        "mismatch: arrived with another SHA-256 (refused); deleted: retention passed."
    )


class EvidenceOut(EvidenceState):
    sha256: str
    size_bytes: int
    content_type: str
    duration_s: float | None
    url: str | None = Field(description="Where to fetch it (only when stored).")


class AlertOut(Out):
    id: str
    site_id: str
    camera_id: str
    rule: RuleName
    track_id: int
    zone_id: str
    label: str
    score: float
    box: list[float]
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    event: Literal["start", "update", "end"]
    seq: int
    config_version: str
    state: AlertState
    assignee: str | None
    received_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    snapshot_url: str | None = None
    incident_id: str | None = Field(None, description="The incident the alert belongs to.")
    evidence_files: list[EvidenceState] = Field(
        default_factory=list,
        description="Each evidence file the alert lists, in listing order, and whether it has "
        "arrived: a file's arrival changes it (the live stream sends the alert again then).",
    )


class AlertPage(Out):
    items: list[AlertOut]
    total: int = Field(description="Matching alerts, counted up to 10,000 (``total_capped``).")
    total_capped: bool = Field(
        False, description="True: more than ``total`` match (the count stopped there)."
    )


class TimelineEntry(Out):
    seq: int
    event: Literal["start", "update", "end"]
    score: float
    box: list[float]
    last_seen_at: datetime
    sent_at: datetime
    received_at: datetime


class ActionOut(Out):
    at: datetime
    username: str
    action: str
    from_state: AlertState
    to_state: AlertState
    assignee: str | None
    note: str


class AlertDetail(AlertOut):
    timeline: list[TimelineEntry]
    actions: list[ActionOut]
    evidence: list[EvidenceOut]


class AlertView(AlertDetail):
    """The detail as one user gets it: with the workflow actions that user may take now (the
    export's ``alert.json`` is its own record, the same for everyone: export.ALERT_RECORD)."""

    allowed_actions: list[ActionName] = Field(
        description="Actions this user may take on the alert in its state, 'note' included; "
        "empty for a role that may not work alerts."
    )


class ActionIn(In):
    action: ActionName
    note: str = Field("", max_length=4000)
    assignee: str | None = Field(None, max_length=64, description="Required for 'assign'.")


IncidentAction = Literal["acknowledge", "assign", "resolve", "false_positive"]
"""Actions on an incident or a selection: each applied to every alert it covers that allows it."""


class IncidentOut(Out):
    """Alerts of one site, camera, rule and zone close in time (domain/incidents.py)."""

    id: str
    site_id: str
    camera_id: str
    rule: RuleName
    zone_id: str | None
    state: AlertState
    assignee: str | None
    first_at: datetime
    last_at: datetime
    alert_count: int
    new_alerts: int = Field(0, description="Alerts of the incident still in state 'new'.")
    best_alert_id: str | None
    best_score: float
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    snapshot_url: str | None = Field(None, description="The best alert's snapshot, if stored.")
    box: list[float] | None = Field(
        None, description="That snapshot's alert's box, normalised x1, y1, x2, y2 (the close-up)."
    )
    label: str | None = Field(
        None, description="That alert's label (a bare head: the close-up reaches down to it)."
    )


class IncidentPage(Out):
    items: list[IncidentOut]
    total: int = Field(description="Matching incidents, counted up to 10,000 (``total_capped``).")
    total_capped: bool = Field(
        False, description="True: more than ``total`` match (the count stopped there)."
    )


class IncidentView(IncidentOut):
    """One incident with every alert in it (oldest first) and the actions the user may take."""

    alerts: list[AlertOut]
    allowed_actions: list[IncidentAction]


class IncidentActionIn(In):
    action: IncidentAction
    note: str = Field("", max_length=4000)
    assignee: str | None = Field(None, max_length=64, description="Required for 'assign'.")


class BulkActionIn(IncidentActionIn):
    """One action on a selection; each id is one item, done or refused on its own."""

    alert_ids: list[str] = Field([], max_length=500)
    incident_ids: list[str] = Field([], max_length=500)

    @model_validator(mode="after")
    def _some(self) -> BulkActionIn:
        if not self.alert_ids and not self.incident_ids:
            raise ValueError("expected alert_ids or incident_ids (or both), got neither")
        return self


class BulkItemOut(Out):
    kind: Literal["alert", "incident"]
    id: str
    ok: bool
    status: int = Field(description="200 when done, else the status a single request gets.")
    state: AlertState | None = Field(description="The item's state after the request.")
    detail: str | None = Field(None, description="Why it was refused.")


class BulkResultOut(Out):
    items: list[BulkItemOut]
    done: int
    refused: int


class ConfigRegressed(Out):
    """An edge or camera reporting an older config version than the last change it applied."""

    applied: str = Field(description="Version of the last change the edge applied.")
    reported: str = Field(description="The older version it reports now.")
    since: datetime = Field(description="When the console first saw it go back.")


class SiteNameIn(In):
    name: str = Field(
        max_length=200, description="Display name (any script); empty = show the site's id."
    )


class SiteOut(Out):
    id: str
    name: str
    edge_state: Literal["online", "offline", "unknown"]
    software_version: str | None
    config_version: str | None
    last_seen_at: datetime | None
    open_alerts: int = 0
    stats: dict[str, Any] | None = None
    timezone: str | None = Field(
        None,
        description="IANA time zone of the site as its edge reports it (e.g. Asia/Shanghai): "
        "its days are counted and its times shown in it; None until the edge sends one (UTC).",
    )
    config_regressed: ConfigRegressed | None = Field(
        None, description="Set while the edge runs an older config than it last applied."
    )
    warnings: Warnings | None = Field(
        None,
        description="The edge's standing warnings about its own settings, each saying what "
        "to do (e.g. a model that miscounts on its CPU); None when none. Each has a code the "
        "page translates (edge_warning.<code>), its params and the English text.",
    )


class CameraSettingsOut(Out):
    """A camera's settings as its edge reports them, stream passwords masked (``***``)."""

    name: str
    detect: str
    record: str | None
    detect_fps: float | None
    input_size: int | None
    head_look: bool | None = None
    coarse_look: bool | None = None
    tile_look: bool | None = None


class CameraAddIn(CameraSpec):
    """A new camera: its id, its settings, and the site config version the form was made
    against (the edge refuses the change if it runs another)."""

    camera_id: Ident = Field(description="The new camera's id, unique at the site.")
    base_version: str = Field(min_length=1, max_length=64)


class CameraEditIn(In):
    """A camera's settings to change: each field given replaces the edge's (null too, where
    allowed), the others stay; a URL with its password shown as *** keeps the edge's."""

    base_version: str = Field(min_length=1, max_length=64)
    name: str | None = None
    detect: str | None = None
    record: str | None = None
    detect_fps: float | None = None
    input_size: int | None = None
    head_look: StrictBool | None = None
    coarse_look: StrictBool | None = None
    tile_look: StrictBool | None = None


class CameraOut(Out):
    site_id: str
    camera_id: str
    name: str
    state: Literal["online", "offline", "stalled", "unknown"] = Field(
        description="offline also when the camera's edge is offline."
    )
    fps_in: float
    fps_analysed: float
    frames_dropped: int
    reconnects: int
    last_frame_at: datetime | None
    error: str | None
    warnings: Warnings = Field(
        default_factory=list,
        description="The edge's standing warnings about the camera's settings, each saying "
        "what to do (e.g. a tile look on a sub-stream); empty when none. As the site's.",
    )
    status_at: datetime | None
    config_version: str | None
    snapshot_url: str | None
    snapshot_at: datetime | None
    last_alert_at: datetime | None = None
    open_alerts: int = 0
    config_regressed: ConfigRegressed | None = Field(
        None,
        description="Set while the camera reports an older config than it last applied: "
        "POST .../config/resend re-sends the lost change.",
    )
    settings: CameraSettingsOut | None = Field(
        None, description="Name, streams, fps and input size as the edge reports them."
    )
    zone_names: dict[str, str] = Field(
        default_factory=dict, description="Zone id -> display name, of the zones that have one."
    )


class CameraConfigOut(Out):
    site_id: str
    camera_id: str
    version: str | None = Field(description="Config version the edge last reported.")
    zones: list[ZoneSpec]
    rules: dict[str, dict[str, JsonValue]]
    pending: ConfigRequestOut | None = Field(description="Latest change still unanswered.")


class ConfigChangeIn(In):
    base_version: str = Field(
        min_length=1, max_length=64, description="The version the change was made against."
    )
    zones: list[ZoneSpec]
    rules: dict[RuleName, dict[str, JsonValue]] | None = None


class MaskIn(In):
    """ "Ignore this spot": a mask zone made from an alert's box (every field optional)."""

    margin: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Share of the box's width and height added on every side, then clamped "
        "to the frame. Keep it above 0: an anchor on the box's bottom edge (a person's feet) "
        "counts as outside a zone whose bottom edge it lies on.",
    )
    name: str | None = Field(
        None, max_length=100, description="The mask zone's name; default: names the alert."
    )


class ConfigRequestOut(Out):
    request_id: str
    site_id: str
    camera_id: str
    issued_by: str
    issued_at: datetime
    base_version: str
    status: Literal["pending", "applied", "refused"]
    version: str | None
    reason: str | None
    answered_at: datetime | None


class DayCount(Out):
    day: str = Field(
        description="YYYY-MM-DD: the site's local date, in its time zone (``timezone``)."
    )
    site_id: str = Field(description="Empty: all the sites in the view (``source`` rollup).")
    camera_id: str = Field(description="Empty: all the site's cameras (``source`` rollup).")
    rule: str
    count: int
    timezone: str = Field(
        "UTC",
        description="Time zone ``day`` is in: the site's, UTC while it is unknown; empty when "
        "the row sums sites of several zones (each site's own local day).",
    )


class SiteCount(Out):
    site_id: str
    rule: str
    count: int = Field(description="Alerts of the site and rule in the whole range.")


class StatsOut(Out):
    per_day: list[DayCount]
    per_site: list[SiteCount] = Field(
        [],
        description="``source`` rollup only: alerts per site and rule over the whole range "
        "(``per_day`` is then summed over sites).",
    )
    by_state: dict[str, int]
    incidents_by_state: dict[str, int] = Field(
        {}, description="Incidents per state, of those whose first alert falls in the range."
    )
    incidents: int = Field(0, description="Incidents whose first alert falls in the range.")
    ack_seconds_median: float | None
    ack_seconds_p90: float | None
    acknowledged: int
    source: Literal["alerts", "rollup"] = Field(
        "alerts",
        description="alerts: counted from the alerts, exact (one site, or cameras). rollup: "
        "several sites, from the per-site daily rollup: ``per_day`` per day and rule, "
        "summed over sites (``site_id`` and ``camera_id`` empty), ``per_site`` per site and "
        "rule, the range widened to whole local days of each site, the "
        "times to acknowledge read from a histogram (``ack_resolution``).",
    )
    ack_resolution: float | None = Field(
        None,
        description="None: exact percentiles. Else the relative width of the histogram's bins "
        "(0.189: within 19 % of the exact value).",
    )


class AuditOut(Out):
    at: datetime
    username: str
    action: str
    object_type: str
    object_id: str
    site_id: str | None
    detail: str
    detail_key: str | None = Field(
        None, description="the detail's template (audit_detail.<key>); null: show `detail`"
    )
    detail_params: dict[str, Any] | None = Field(None, description="the values it fills in")
    client: str | None


class HealthOut(Out):
    status: Literal["ok"]
    ingest_connected: bool
    messages_received: int
    messages_rejected: int


CameraConfigOut.model_rebuild()
