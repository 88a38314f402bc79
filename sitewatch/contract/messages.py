"""The MQTT message contract between edge and console: versioned models, topics, encode/decode.

Every message carries a literal ``schema`` field, ``"sitewatch.<name>/<version>"``; a reader
routes on it and refuses what it does not know (:func:`decode`). Readers also refuse unknown
fields, so a change to a message is a new version, except an added *optional* field with a
default (old messages still parse, e.g. ``EdgeStatus.timezone``) or an added value of a word
list such as ``RuleName``, ``ZoneKind`` or ``EvidenceKind`` (``restricted_zone``,
``restricted``, ``still_annotated``); either way, ship the console that reads the new messages
before the edges that write them (an older console refuses them).
``python -m sitewatch.contract.schema`` writes the JSON Schema of every message into
``docs/schemas/``. Codec and topics live in :mod:`sitewatch.contract.codec` and
:mod:`sitewatch.contract.topics` and are re-exported here: this module is the whole contract.

Delivery is at-least-once (QoS 1 from an outbox), so a reader must treat a repeated
``(id, seq)`` of an :class:`AlertEvent` as a no-op and keep the highest ``seq`` of each alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    StrictBool,
    model_serializer,
    model_validator,
)

from sitewatch.contract.codec import (
    MAX_MESSAGE_BYTES,
    SCHEMA_DOC,
    ContractError,
    Message,
    Strict,
    decode,
    encode,
    model_for,
)
from sitewatch.contract.edge_warnings import EdgeWarning, Warnings, edge_warning
from sitewatch.contract.topics import (
    ANY,
    DEFAULT_PREFIX,
    TopicSpec,
    alerts,
    camera_config,
    camera_snapshot,
    camera_status,
    config_command,
    config_result,
    console_subscriptions,
    edge_status,
    evidence,
    evidence_filter,
    recording_index,
    stats,
    topic_table,
    video_command,
)
from sitewatch.core.geometry import polygon_problem

__all__ = [
    "ANY",
    "DEFAULT_PREFIX",
    "MAX_EVIDENCE_FILES",
    "MAX_HOLD_S",
    "MAX_MESSAGE_BYTES",
    "MAX_VIDEO_RANGE_S",
    "MESSAGES",
    "AlertEvent",
    "CameraCommand",
    "CameraConfig",
    "CameraSpec",
    "CameraStats",
    "CameraStatus",
    "Command",
    "ConfigCommand",
    "ConfigResult",
    "ContractError",
    "EdgeStats",
    "EdgeStatus",
    "EdgeWarning",
    "EvidenceFile",
    "Message",
    "RecordedSpan",
    "RecordingIndex",
    "TopicSpec",
    "VideoCommand",
    "VideoStream",
    "ZoneSpec",
    "alerts",
    "camera_config",
    "camera_snapshot",
    "camera_status",
    "config_command",
    "config_result",
    "console_subscriptions",
    "decode",
    "edge_status",
    "edge_warning",
    "encode",
    "evidence",
    "evidence_filter",
    "last_will",
    "masked_url",
    "model_for",
    "recording_index",
    "stats",
    "topic_table",
    "video_command",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0.0)]
Version = Annotated[str, Field(min_length=1, max_length=64)]
WARNINGS_DOC = (
    "Empty when none (and from edges before this field), else standing problems that the edge "
    "cannot fix itself, each a code with its params and English text saying what to do (a plain "
    "string, as edges before codes sent, reads as code 'other'), with"
)
Drops = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Count], Field(max_length=64)
]
"""Counts by reason (a short text the edge chooses); only reasons that occurred appear."""
RuleName = Literal["no_helmet", "smoking", "restricted_zone"]
Label = Literal["helmet", "head", "person", "cigarette"]
"""The detector's labels, in the model's class order (an alert's ``label`` is one of them)."""
ZoneKind = Literal["helmet_required", "no_smoking", "smoking_area", "restricted", "mask"]
EvidenceKind = Literal["snapshot", "snapshot_clean", "clip", "still", "still_annotated"]
EvidenceType = Literal["image/jpeg", "video/mp4"]
VideoStream = Literal["detect", "record"]
"""A camera's two streams: ``detect`` (the sub-stream, the default for live view and the
continuous recording) and ``record`` (the main stream; the same as ``detect`` when the camera
has none)."""
MAX_VIDEO_RANGE_S = 3600.0
"""The longest range one :class:`VideoCommand` may ask for, in seconds."""
MAX_HOLD_S = 8 * 86400.0
"""The longest range one legal hold (:class:`VideoCommand` ``hold``) may cover, in seconds."""
MAX_EVIDENCE_FILES = 16
"""Evidence files one alert message may list (the edge makes at most five)."""


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"an IANA time zone name such as Asia/Shanghai or Europe/Berlin, got {name!r}"
        ) from None
    return name


TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


def _ordered(first: datetime, then: datetime | None, what: str) -> None:
    if then is not None and then < first:
        raise ValueError(f"{what} ({then.isoformat()}) is before started_at ({first.isoformat()})")


class EvidenceFile(Strict):
    """A file of evidence that follows the alert to the console (uploaded with retries)."""

    kind: EvidenceKind = Field(
        description="snapshot: annotated best frame; still: that moment at the record "
        "stream's full resolution (taken from the clip), untouched; still_annotated: the still "
        "with the box drawn (added value, version kept); snapshot_clean: the snapshot's frame "
        "without drawings; clip: pre/post-roll video."
    )
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="File name only (no directory), unique within the alert.",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower hex.")
    size_bytes: Count = Field(description="File size in bytes.")
    content_type: EvidenceType = Field(
        description="MIME type: only what the edge makes (JPEG pictures, MP4 clips); anything "
        "else, e.g. HTML or SVG that could run script in a browser, is refused."
    )
    duration_s: float | None = Field(
        None, gt=0.0, description="Clip length in seconds; only for kind 'clip'."
    )

    @model_validator(mode="after")
    def _duration_only_for_clips(self) -> EvidenceFile:
        if self.duration_s is not None and self.kind != "clip":
            raise ValueError(f"duration_s is only for clips, got it on a {self.kind}")
        return self


class AlertEvent(Message):
    """One message in an alert's life: start (seq 0), updates (seq 1, 2, ...), end (last)."""

    schema_id: Literal["sitewatch.alert/1"] = Field(
        "sitewatch.alert/1", alias="schema", description=SCHEMA_DOC
    )
    id: UUID = Field(description="Alert id, the same in every message of this alert.")
    seq: Count = Field(
        description="Increases with every message of this alert (start=0); the console keeps "
        "the highest and ignores a repeated (id, seq)."
    )
    event: Literal["start", "update", "end"] = Field(description="Lifecycle step.")
    site_id: Ident = Field(description="Site that raised the alert.")
    camera_id: Ident = Field(description="Camera that saw it.")
    rule: RuleName = Field(description="Rule that was violated.")
    track_id: Count = Field(description="Tracker id of the person, unique per camera run.")
    zone_id: Ident = Field(description="Zone where the rule was violated.")
    label: str = Field(
        min_length=1, max_length=40, description="Detector label of the evidence object."
    )
    score: Unit = Field(description="Best detector score of the evidence object so far.")
    box: tuple[Unit, Unit, Unit, Unit] = Field(
        description="Best evidence box as normalised 0..1 xyxy (x right, y down)."
    )
    started_at: AwareDatetime = Field(description="When the violation was confirmed.")
    last_seen_at: AwareDatetime = Field(description="Latest frame showing the violation.")
    ended_at: AwareDatetime | None = Field(None, description="When it ended; only on 'end'.")
    sent_at: AwareDatetime = Field(description="When the edge wrote this message.")
    evidence: list[EvidenceFile] = Field(
        default_factory=list,
        max_length=MAX_EVIDENCE_FILES,
        description="Evidence files known so far; they follow by upload.",
    )
    config_version: Version = Field(description="Edge config version the rule ran with.")

    @model_validator(mode="after")
    def _lifecycle(self) -> AlertEvent:
        if (self.event == "start") != (self.seq == 0):
            raise ValueError(f"seq is 0 exactly on 'start', got event {self.event} seq {self.seq}")
        if (self.event == "end") != (self.ended_at is not None):
            raise ValueError("ended_at is set exactly on 'end' (None before)")
        x1, y1, x2, y2 = self.box
        if x2 < x1 or y2 < y1:
            raise ValueError(f"box must be x1 <= x2 and y1 <= y2 (xyxy), got {self.box}")
        _ordered(self.started_at, self.last_seen_at, "last_seen_at")
        _ordered(self.started_at, self.ended_at, "ended_at")
        return self


class CameraStatus(Message):
    """State of one camera's stream (retained: the latest wins)."""

    schema_id: Literal["sitewatch.camera_status/1"] = Field(
        "sitewatch.camera_status/1", alias="schema", description=SCHEMA_DOC
    )
    site_id: Ident = Field(description="Site of the camera.")
    camera_id: Ident = Field(description="Camera id.")
    state: Literal["online", "offline", "stalled"] = Field(
        description="online: frames arrive; offline: no connection; stalled: connected, no frames."
    )
    fps_in: Rate = Field(description="Frames per second decoded from the stream, recent mean.")
    fps_analysed: Rate = Field(description="Frames per second that reached the detector.")
    frames_dropped: Count = Field(description="Frames dropped as stale since the edge started.")
    reconnects: Count = Field(description="Stream reconnections since the edge started.")
    last_frame_at: AwareDatetime | None = Field(description="Latest frame; None if none yet.")
    error: str | None = Field(
        None, max_length=1000, description="Latest stream error, None when healthy."
    )
    warnings: Warnings = Field(
        default_factory=list,
        description=f"{WARNINGS_DOC} the camera's settings (e.g. a tile look on frames too "
        "small for tiles).",
    )
    at: AwareDatetime = Field(description="When this status was written.")


class EdgeStatus(Message):
    """State of an edge worker (retained); also its last will with state 'offline'."""

    schema_id: Literal["sitewatch.edge_status/1"] = Field(
        "sitewatch.edge_status/1", alias="schema", description=SCHEMA_DOC
    )
    site_id: Ident = Field(description="Site the edge serves.")
    state: Literal["online", "offline"] = Field(description="Whether the edge is connected.")
    software_version: Version = Field(description="SiteWatch version of the edge.")
    config_version: Version = Field(description="Config version the edge runs.")
    started_at: AwareDatetime = Field(description="When the edge process started.")
    cameras: Count = Field(description="Number of configured cameras.")
    at: AwareDatetime = Field(
        description="When this status was written; for a last will, when the will was set "
        "(the broker sends it later), so use the receive time."
    )
    timezone: TimeZone | None = Field(
        None,
        description="IANA time zone of the site (e.g. Asia/Shanghai): the console counts days "
        "and shows times in it.",
    )
    warnings: Warnings = Field(
        default_factory=list,
        description=f"{WARNINGS_DOC} the edge's own settings (e.g. a model that miscounts on "
        "this CPU).",
    )


def last_will(status: EdgeStatus) -> EdgeStatus:
    """The 'offline' twin of an online status, to register as the MQTT last will."""
    return status.model_copy(update={"state": "offline"})


class CameraStats(Strict):
    """One camera's numbers in :class:`EdgeStats`, over the stats interval."""

    camera_id: Ident = Field(description="Camera id.")
    state: Literal["online", "offline", "stalled"] = Field(description="State at the end.")
    fps_in: Rate = Field(description="Mean frames per second decoded from the stream.")
    fps_analysed: Rate = Field(description="Mean frames per second that reached the detector.")
    frames_dropped: Count = Field(description="Frames dropped in the interval.")
    reconnects: Count = Field(description="Stream reconnections in the interval.")


class EdgeStats(Message):
    """Periodic numbers of an edge; counts are over the last ``interval_s`` seconds."""

    schema_id: Literal["sitewatch.stats/1"] = Field(
        "sitewatch.stats/1", alias="schema", description=SCHEMA_DOC
    )
    site_id: Ident = Field(description="Site the edge serves.")
    at: AwareDatetime = Field(description="End of the interval.")
    interval_s: float = Field(gt=0.0, description="Length of the interval in seconds.")
    cameras: list[CameraStats] = Field(max_length=1024, description="Per-camera numbers.")
    batches: Count = Field(description="Detector batches run.")
    batch_size_mean: Rate = Field(description="Mean frames per batch (0 if no batch).")
    inference_ms_p50: Rate = Field(description="Median detector time per batch, ms.")
    inference_ms_p95: Rate = Field(description="95th percentile detector time per batch, ms.")
    frames_dropped_stale: Count = Field(description="Frames dropped as too old for any batch.")
    outbox_depth: Count = Field(description="Messages waiting in the outbox at the end.")
    disk_hours_left: float | None = Field(
        ge=0.0, description="Hours of recording the free disk holds; None if unknown."
    )
    evidence_dropped: Drops | None = Field(
        None,
        description="Evidence files the edge could not write or index in the interval, by "
        "reason (e.g. 'snapshot: disk full', 'clip: failed'); the alert messages still went "
        "out. Absent from edges that do not count them.",
    )
    outbox_dropped: Drops | None = Field(
        None,
        description="Outbox rows given up in the interval, by reason (e.g. 'memory full: "
        "evidence' while the disk is full, 'evidence over the cap'). Absent from edges that do "
        "not count them.",
    )


StreamUrl = Annotated[str, Field(min_length=1, max_length=2000)]
"""A camera stream URL (rtsp://, rtsps://, http(s):// or file:///); the edge checks the scheme."""


def masked_url(url: str) -> str:
    """``url`` with the password of its user part as ``***`` (the edge publishes this form; a
    command that sends it back unchanged keeps the password the edge has)."""
    scheme, sep, rest = url.partition("://")
    user, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in user:
        return url
    return f"{scheme}://{user.split(':', 1)[0]}:***@{host}"


class CameraSpec(Strict):
    """The settings of a camera that the console edits; the edge's other settings of the
    camera (zones, rules, stall_s) stay as they are."""

    name: str = Field("", max_length=200, description="Display name; empty = the camera id.")
    detect: StreamUrl = Field(
        description="Stream analysed by the detector (usually the sub-stream): rtsp://, "
        "rtsps://, http(s):// or file:/// URL. A password shown as *** (masked_url) keeps the "
        "edge's."
    )
    record: StreamUrl | None = Field(
        None,
        description="Full-resolution main stream recorded for evidence; None = record the "
        "detect stream.",
    )
    detect_fps: float | None = Field(
        None,
        gt=0.0,
        le=30.0,
        description="Frames per second sent to the detector; None = the site's default.",
    )
    input_size: int | None = Field(
        None,
        ge=160,
        le=1280,
        multiple_of=32,
        description="Model input side in pixels for this camera; None = the detector's.",
    )
    head_look: StrictBool | None = Field(
        None,
        description="Second, closer look at the heads of people seen small (wide views, at "
        "more detector time); None = the detector's setting.",
    )
    coarse_look: StrictBool | None = Field(
        None,
        description="One more whole-frame pass at a small input, for heads too large for the "
        "model (close views: gates, lifts, canteens; at more detector time); None = the "
        "detector's setting.",
    )
    tile_look: StrictBool | None = Field(
        None,
        description="The frame once more in tiles near its own resolution, which decide the "
        "state of small heads (a wide view analysed on its full-resolution main stream; many "
        "more inferences per frame); None = the detector's setting.",
    )


class ZoneSpec(Strict):
    """A zone as sent by the console; the edge validates it against its config tree."""

    id: Ident = Field(description="Zone id, unique per camera.")
    name: str = Field("", max_length=100, description="Human-readable name.")
    kind: ZoneKind = Field(description="What the zone means for the rules.")
    points: list[tuple[Unit, Unit]] = Field(
        min_length=3,
        max_length=200,
        description="Polygon corners as [x, y] normalised 0..1 (x right, y down), in order "
        "around the outline: no corner twice, edges that do not cross (no bow-tie), an area.",
    )

    @model_validator(mode="after")
    def _simple_polygon(self) -> ZoneSpec:
        problem = polygon_problem(self.points)  # the edge's config checks its zones the same
        if problem is not None:
            raise ValueError(problem)
        return self


class CameraConfig(Message):
    """The zones and rules one camera runs with (retained), published by the edge at start and
    after every applied change: what the console's zone editor starts from."""

    schema_id: Literal["sitewatch.camera_config/1"] = Field(
        "sitewatch.camera_config/1", alias="schema", description=SCHEMA_DOC
    )
    site_id: Ident = Field(description="Site of the camera.")
    camera_id: Ident = Field(description="Camera id.")
    name: str = Field("", max_length=200, description="Camera's human-readable name.")
    version: Version = Field(description="Edge config version these zones and rules belong to.")
    zones: list[ZoneSpec] = Field(max_length=100, description="The camera's zones.")
    rules: dict[RuleName, dict[str, JsonValue]] = Field(
        description="Effective rule settings per rule (site defaults merged in)."
    )
    at: AwareDatetime = Field(description="When this was written.")
    camera: CameraSpec | None = Field(
        None,
        description="The camera's settings as the console's camera editor shows them, stream "
        "passwords masked (masked_url); absent from edges that predate camera commands.",
    )


class ConfigCommand(Message):
    """A config change for one camera, made by the console against ``base_version``."""

    schema_id: Literal["sitewatch.config_command/1"] = Field(
        "sitewatch.config_command/1", alias="schema", description=SCHEMA_DOC
    )
    request_id: UUID = Field(description="Id echoed in the ConfigResult.")
    site_id: Ident = Field(description="Site of the edge that should apply it.")
    camera_id: Ident = Field(description="Camera whose zones/rules change.")
    base_version: Version = Field(
        description="Config version the change was made against; the edge refuses it if "
        "its current version differs."
    )
    issued_by: str = Field(min_length=1, max_length=200, description="User who made it.")
    issued_at: AwareDatetime = Field(description="When the console sent it.")
    zones: list[ZoneSpec] = Field(
        max_length=100, description="The camera's complete zone list after the change."
    )
    rules: dict[RuleName, dict[str, JsonValue]] | None = Field(
        None, description="Per-rule overrides (keys of the edge's rule config); None = unchanged."
    )

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> ConfigCommand:
        ids = [zone.id for zone in self.zones]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"zone ids must be unique per camera, repeated: {repeated}")
        return self


class CameraCommand(Message):
    """Add, edit or remove one camera of an edge, made by the console against
    ``base_version``; answered by a :class:`ConfigResult` on the same topics as a
    :class:`ConfigCommand` (an edge older than this message refuses it unread)."""

    schema_id: Literal["sitewatch.camera_command/1"] = Field(
        "sitewatch.camera_command/1", alias="schema", description=SCHEMA_DOC
    )
    request_id: UUID = Field(description="Id echoed in the ConfigResult.")
    site_id: Ident = Field(description="Site of the edge that should apply it.")
    action: Literal["add", "edit", "remove"] = Field(
        description="add: a new camera (no zones yet); edit: the camera's settings become "
        "`camera`; remove: the camera, its zones and rules leave the config."
    )
    camera_id: Ident = Field(description="The camera added, edited or removed.")
    camera: CameraSpec | None = Field(
        None, description="The camera's settings after the change; None exactly on remove."
    )
    base_version: Version = Field(
        description="Config version the change was made against; the edge refuses it if "
        "its current version differs."
    )
    issued_by: str = Field(min_length=1, max_length=200, description="User who made it.")
    issued_at: AwareDatetime = Field(description="When the console sent it.")

    @model_validator(mode="after")
    def _camera_unless_removed(self) -> CameraCommand:
        if (self.action == "remove") != (self.camera is None):
            raise ValueError(
                f"camera settings on add and edit and none on remove, got action "
                f"{self.action} with camera {'set' if self.camera else 'None'}"
            )
        return self


Command = ConfigCommand | CameraCommand
"""What the console sends an edge on :func:`config_command`."""


class ConfigResult(Message):
    """The edge's answer to a ConfigCommand."""

    schema_id: Literal["sitewatch.config_result/1"] = Field(
        "sitewatch.config_result/1", alias="schema", description=SCHEMA_DOC
    )
    request_id: UUID = Field(description="request_id of the command.")
    site_id: Ident = Field(description="Site of the edge.")
    status: Literal["applied", "refused"] = Field(description="Outcome.")
    version: Version = Field(description="Config version now running (the new one if applied).")
    reason: str | None = Field(
        None, max_length=4000, description="Why it was refused; None if applied."
    )
    at: AwareDatetime = Field(description="When the edge decided.")

    @model_validator(mode="after")
    def _reason_iff_refused(self) -> ConfigResult:
        if (self.status == "refused") != bool(self.reason):
            raise ValueError("reason is required when refused and must be None when applied")
        return self


class VideoCommand(Message):
    """Console -> edge: stream one camera live, stop that, or send one recorded range, to the
    console over HTTP(S) that the edge opens (no port opens at the site). Signed by the console.

    ``live`` streams until ``expires_at`` unless renewed by another ``live`` of the same
    ``request_id`` (the console renews while anyone watches); ``range`` is dropped when it
    cannot start by ``expires_at``. ``hold`` (added to version 1 later: an older edge refuses
    it as unreadable, and the console times out) puts a legal hold with id ``request_id`` on
    ``start``..``end`` of every recorded stream of the camera, kept until released at the
    edge, and answers with a ``held`` part (or an ``error`` part). How the edge uploads:
    docs/design/live-video.md.
    """

    schema_id: Literal["sitewatch.video_command/1"] = Field(
        "sitewatch.video_command/1", alias="schema", description=SCHEMA_DOC
    )
    request_id: UUID = Field(description="The video session; every upload names it.")
    site_id: Ident = Field(description="Site of the edge that should send the video.")
    camera_id: Ident = Field(description="Camera whose video is wanted.")
    action: Literal["live", "stop", "range", "hold"] = Field(
        description="live: stream (or keep streaming) now; stop: end that stream; range: send "
        "the recording from start to end; hold: keep the recording from start to end (every "
        "stream) until the hold is released (a legal hold)."
    )
    stream: VideoStream = Field("detect", description="Which of the camera's streams.")
    start: AwareDatetime | None = Field(
        None, description="range and hold only: first moment wanted."
    )
    end: AwareDatetime | None = Field(None, description="range and hold only: last moment wanted.")
    reason: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="hold only: why the recording is kept (case number, who asked).",
    )
    upload_url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=2000,
        description="Where the edge POSTs the video of this session (http:// or https://).",
    )
    expires_at: AwareDatetime = Field(
        description="live: stop streaming then unless renewed; range: drop it if not begun by then."
    )
    issued_by: str = Field(min_length=1, max_length=200, description="User who asked.")
    issued_at: AwareDatetime = Field(description="When the console sent it.")

    @model_serializer(mode="wrap")
    def _without_reason(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No ``reason`` key but in a hold: an edge older than ``hold`` reads the others."""
        data: dict[str, Any] = handler(self)
        if self.reason is None:
            data.pop("reason", None)
        return data

    @model_validator(mode="after")
    def _range_fields(self) -> VideoCommand:
        if (self.action == "hold") != (self.reason is not None):
            raise ValueError("action 'hold' needs a reason, and only it has one")
        if self.action not in ("range", "hold"):
            if self.start is not None or self.end is not None:
                raise ValueError("start and end belong to actions 'range' and 'hold' only")
            return self
        if self.start is None or self.end is None:
            raise ValueError(f"action {self.action!r} needs start and end")
        length = (self.end - self.start).total_seconds()
        longest = MAX_VIDEO_RANGE_S if self.action == "range" else MAX_HOLD_S
        if not 0 < length <= longest:
            raise ValueError(
                f"a {self.action} of more than 0 and at most {longest:g} s, got {length:g} s "
                "from start to end: ask for shorter pieces"
            )
        return self


class RecordedSpan(Strict):
    """One stretch of continuous recording (gaps shorter than two segments are bridged)."""

    start: AwareDatetime = Field(description="First recorded moment.")
    end: AwareDatetime = Field(description="Last recorded moment.")

    @model_validator(mode="after")
    def _ordered(self) -> RecordedSpan:
        _ordered(self.start, self.end, "end")
        return self


RECORDING_INDEX_REFRESH_S = 900.0
"""An edge publishes each stream's RecordingIndex at least this often (seconds), news or not;
a console extends a growing span no further than two of these past the index's ``at``."""


class RecordingIndex(Message):
    """Edge -> console, retained per camera and stream: what is recorded and can be played back."""

    schema_id: Literal["sitewatch.recording_index/1"] = Field(
        "sitewatch.recording_index/1", alias="schema", description=SCHEMA_DOC
    )
    site_id: Ident = Field(description="Site of the camera.")
    camera_id: Ident = Field(description="Camera id.")
    stream: VideoStream = Field(description="Which of the camera's streams is recorded.")
    spans: list[RecordedSpan] = Field(
        max_length=5000, description="Recorded stretches, oldest first, not overlapping."
    )
    size_bytes: Count = Field(description="Disk the recording of this stream uses, in bytes.")
    keep_s: float = Field(ge=0.0, description="Retention set for this stream, in seconds.")
    at: AwareDatetime = Field(description="When this index was written.")
    recording: bool = Field(
        False,
        description=(
            "The last span is still being recorded: until a newer index, its end is taken as "
            "the later of `end` and the camera's last status time (no later than its last "
            "frame, nor 30 minutes after `at`) while that status says online and the edge is "
            "not offline. False (also an index without it): the spans are as listed. The edge "
            "sends a new index when anything but that growing end changes, and at least every "
            "15 minutes."
        ),
    )


MESSAGES: tuple[type[Message], ...] = (
    AlertEvent,
    CameraStatus,
    CameraConfig,
    EdgeStatus,
    EdgeStats,
    ConfigCommand,
    CameraCommand,
    ConfigResult,
    VideoCommand,
    RecordingIndex,
)
