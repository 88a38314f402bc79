"""The edge's configuration: one strict pydantic tree loaded from ``configs/cameras.yaml``.

Unknown keys are errors; every field is described; coordinates in config are normalised
0..1 points (x right, y down), never pixels.

Site defaults (``defaults.rules``, ``defaults.detect_fps``) are deep-merged into each camera
*before* validation (:func:`merge_camera_defaults`), so every :class:`CameraSettings` carries its
effective :class:`Rules` and ``detect_fps``. Relative paths are resolved against the config
file's directory when the validation context holds ``base_dir`` (as ``sitewatch.edge.config.load``
does); the loaded tree holds absolute paths. Validation checks each section on its own; the
cross-field checks (``sitewatch.edge.config.checks``, which import this module, never the other
way) are run by the loader: read a file with ``sitewatch.edge.config.load.load_config``, not with
``SiteConfig.model_validate``, to get them and YAML line numbers in errors.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sitewatch.contract.messages import ID_PATTERN, Label, RuleName, VideoStream, ZoneKind
from sitewatch.contract.signing import SigningKeyError, parse_public_key
from sitewatch.contract.topics import edge_client_id
from sitewatch.contract.vocabulary import LABELS
from sitewatch.core.geometry import polygon_problem
from sitewatch.edge.config.rule_specs import RULE_SPECS, RuleSpec, UnknownRule

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
DEFAULT_LABEL_CONF = 0.25
TILE_CUE = 0.01
"""The default ``detector.tile_cue`` (models/README.md, "Cued tiles")."""
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Make a relative path absolute against ``context["base_dir"]`` (no file-system access)."""
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if value.is_absolute() or base is None:
        return value
    return Path(os.path.normpath(Path(base) / value))


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path; relative ones are relative to the config file's directory."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(Strict):
    """A polygon on the camera image where a rule applies (or, for ``mask``, nothing does)."""

    id: str = Field(
        pattern=ID_PATTERN,
        description="Zone id, unique per camera: lower-case letters, digits, _ and -.",
    )
    name: str = Field("", description="Human-readable name shown in the console.")
    kind: ZoneKind = Field(
        description=(
            "helmet_required: heads here must wear hard hats; no_smoking: no cigarettes here; "
            "smoking_area: a designated smoking point (never a smoking alert inside); "
            "restricted: a danger zone no one may enter (under a crane's load, beside an "
            "excavator), tested at a person's feet; "
            "mask: ignored area (nothing inside triggers any rule)."
        )
    )
    points: list[tuple[UnitFloat, UnitFloat]] = Field(
        min_length=3,
        description="Polygon corners as [x, y] normalised to 0..1 of the image width/height "
        "(divide pixel coordinates by the image size).",
    )

    @model_validator(mode="after")
    def _simple_polygon(self) -> Zone:
        problem = polygon_problem(self.points)  # the same words as the contract's ZoneSpec
        if problem is not None:
            raise ValueError(problem)
        return self


class TimeWindow(Strict):
    """A daily window in the site's local time; ``end`` before ``start`` crosses midnight."""

    start: str = Field(description="Start, 24-hour HH:MM.")
    end: str = Field(description="End, 24-hour HH:MM.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected 24-hour HH:MM such as 07:30, got {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError(
                f"end different from start, got both {self.start}; "
                "leave active_hours out for a rule that is always active"
            )
        return self


class RuleConfig(Strict):
    """Settings of one rule. Site-level defaults are merged into each camera's rules."""

    enabled: bool = Field(True, description="Whether this rule raises alerts at all.")
    min_score: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum detector score for the evidence object."
    )
    dwell_s: float = Field(
        2.0,
        ge=0.0,
        le=600.0,
        description="Seconds a violation must persist on a track before an alert starts "
        "(read on the analysed frames, within half a frame interval).",
    )
    cooldown_s: float = Field(
        60.0,
        ge=0.0,
        le=86400.0,
        description="Seconds after an alert ends during which the same "
        "track and rule start no new alert.",
    )
    active_hours: list[TimeWindow] | None = Field(
        None, description="Windows when the rule is active; absent = always."
    )


class RestrictedZoneConfig(RuleConfig):
    """The ``restricted_zone`` rule's settings: its own defaults, the fields of every rule."""

    enabled: bool = Field(
        False,
        description="Whether this rule raises alerts at all; off unless turned on, so that "
        "sites configured before the rule existed keep their alerts and warnings.",
    )
    min_score: float = Field(
        0.5, ge=0.0, le=1.0, description="Minimum detector score of the person box."
    )
    dwell_s: float = Field(
        1.0,
        ge=0.0,
        le=600.0,
        description="Seconds a person's feet must stay in the zone before an alert starts "
        "(a danger zone is entered in a step, so shorter than the other rules').",
    )


class Rules(Strict):
    """The rules of a camera (or the site defaults)."""

    no_helmet: RuleConfig = Field(
        default_factory=RuleConfig, description="A bare head inside a helmet_required zone."
    )
    smoking: RuleConfig = Field(
        default_factory=RuleConfig,
        description="A cigarette at a person inside a no_smoking zone "
        "and outside every smoking_area.",
    )
    restricted_zone: RestrictedZoneConfig = Field(
        default_factory=RestrictedZoneConfig,
        description="A person whose feet (the bottom centre of the person box) are inside a "
        "restricted zone.",
    )

    def of(self, name: RuleName) -> RuleConfig:
        """The section of rule ``name`` (one field per contract ``RuleName``)."""
        section = getattr(self, name, None)
        if not isinstance(section, RuleConfig):
            raise UnknownRule(name, type(self).model_fields)
        return section


class SiteInfo(Strict):
    """Who this edge worker is."""

    id: str = Field(
        pattern=ID_PATTERN,
        description="Site id, unique across the console: lower-case letters, digits, _ and -.",
    )
    name: str = Field(min_length=1, description="Human-readable site name.")
    timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the site (e.g. Asia/Shanghai); active_hours use it.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"an IANA time zone name such as Asia/Shanghai or Europe/Berlin, got {value!r}"
            ) from None
        return value


class TlsConfig(Strict):
    """TLS to the MQTT broker."""

    enabled: bool = Field(False, description="Connect with TLS (usually port 8883).")
    ca_file: ConfigPath | None = Field(
        None, description="CA certificate (PEM) that signed the broker's; absent = system CAs."
    )
    certfile: ConfigPath | None = Field(
        None, description="Client certificate (PEM) for mutual TLS; needs keyfile."
    )
    keyfile: ConfigPath | None = Field(
        None, description="Client private key (PEM) for mutual TLS; needs certfile."
    )
    insecure: bool = Field(
        False, description="Skip the broker certificate check. Only for testing."
    )

    @model_validator(mode="after")
    def _cert_and_key(self) -> TlsConfig:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("certfile and keyfile together or neither, got only one of them")
        return self


class MqttConfig(Strict):
    """The MQTT broker that carries alerts and status to the console."""

    host: str = Field(min_length=1, description="Broker host name or IP address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port: 1883 plain, 8883 TLS.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings.")
    username_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding the user name (not the name).",
    )
    password_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding the password (never the password).",
    )
    topic_prefix: str = Field(
        "sitewatch",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="First topic level(s); no leading or trailing '/', no '+' or '#'.",
    )
    client_id: str = Field(
        "",
        max_length=64,
        description="MQTT client id; empty = 'sitewatch-edge-<site id>'.",
    )
    keepalive_s: int = Field(
        30,
        ge=5,
        le=3600,
        description="Seconds between keep-alive pings; the broker's "
        "last will fires after one and a half of these without contact.",
    )


class DetectorConfig(Strict):
    """The ONNX detector shared by all cameras, run in batches across cameras."""

    model: ConfigPath = Field(description="ONNX model file (relative to this file's folder).")
    input_size: int = Field(
        416, ge=160, le=1280, multiple_of=32, description="Model input side in pixels."
    )
    max_batch: int = Field(8, ge=1, le=64, description="Most frames per inference run.")
    batch_deadline_ms: int = Field(
        150,
        ge=1,
        le=5000,
        description="Run a partial batch once its oldest frame waited this long.",
    )
    max_frame_age_ms: int = Field(
        1000,
        ge=10,
        le=60000,
        description="Drop (and count) frames older than this instead of detecting on them.",
    )
    sessions: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Detector sessions working in parallel, each on its own thread with its "
        "own batches; absent = one per core.",
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="ONNX Runtime threads per session; absent = the cores shared out among "
        "the sessions (1 each by default).",
    )
    rect: bool = Field(
        True,
        description="Letterbox frames into the smallest input that holds them (416x256 for "
        "16:9 at input_size 416) instead of a square: less compute, the same picture pixels, "
        'slightly different scores (bench/RESULTS.md, "Edge throughput"; models with a dynamic '
        "input size only).",
    )
    second_look: bool = Field(
        True, description="Re-run the model on head-and-shoulders crops to find cigarettes."
    )
    head_look: bool = Field(
        False,
        description="Head look: re-run the model on crops of the people whose heads the whole "
        "frame shows small (under 24 model px) and let the crops decide hard hat or bare head "
        '(wide views find far more bare heads: models/README.md, "Head look"). Up to 8 crops '
        "per frame, each an inference at head_crop_size: turn it on for the wide cameras "
        "(cameras[].head_look), not for all of them.",
    )
    head_crop_size: int = Field(
        256,
        ge=160,
        le=1280,
        multiple_of=32,
        description="Square model input of the head look's crops: 256 finds nearly as many "
        "bare heads as 416 for well under half the work per crop (bench/RESULTS.md, "
        '"Head look").',
    )
    coarse_look: bool = Field(
        False,
        description="Coarse look: run each frame once more at 256 px and add the large heads "
        "found there (close-ups: a head over about a sixth of the frame, which the whole pass "
        "scores low or misses). One more inference per frame, smaller than the whole pass's "
        '(its cost: bench/RESULTS.md, "Coarse and fine looks"): turn it on for close cameras '
        "(gates, lifts, canteens: cameras[].coarse_look).",
    )
    tile_look: bool = Field(
        False,
        description="Tile look: see a large frame once more in overlapping 640 px tiles, each "
        "part of it at one and a half times its own size, and let the tiles decide the state of "
        'its small heads (far workers in caps: models/README.md, "The tile look"). Only frames '
        "the tiles show at least three times larger than the whole pass (at input_size 416: "
        "832 px wide and up, e.g. a 1080p main "
        "stream analysed directly; a 640x360 sub-stream never); such frames get no head look. "
        "A 1080p frame is 24 tiles, each an inference at 640 (its cost: bench/RESULTS.md, "
        '"The tile look on the edge"): turn it on for a few wide cameras at a low detect_fps '
        "(cameras[].tile_look).",
    )
    tile_cue: UnitFloat | None = Field(
        TILE_CUE,
        gt=0.0,
        description="Cued tiles: the tile look runs only the tiles where the frame, seen "
        "whole at input_size and once more at 960, shows a box (any label) scoring at least "
        "this, so the empty ground of a wide view costs no tiles; far heads show there at "
        'low scores (models/README.md, "Cued tiles"). null: every tile, at the full cost.',
    )
    stall_s: float = Field(
        60.0,
        ge=5.0,
        le=3600.0,
        description="Watchdog: a detector session that spends longer than this on one batch is "
        "hung; the worker then stops with an error (exit code 3) so that its supervisor "
        "(systemd, Docker) restarts it, instead of analysing nothing in silence.",
    )
    label_conf: dict[Label, UnitFloat] = Field(
        default_factory=dict,
        validate_default=True,
        description="Minimum score per label (helmet, head, person, cigarette) to keep a box; "
        f"labels left out use {DEFAULT_LABEL_CONF}.",
    )

    @field_validator("label_conf")
    @classmethod
    def _every_label(cls, value: dict[Label, float]) -> dict[Label, float]:
        return {label: value.get(label, DEFAULT_LABEL_CONF) for label in LABELS}


CLIP_MARGIN_S = 30.0
"""The clip ring keeps at least pre-roll + post-roll + this (a clip is cut after its post-roll)."""


def _hours_mapping(value: Any) -> Any:
    if value is not None and not isinstance(value, dict | BaseModel):
        raise ValueError(
            f"hours per stream, such as {{detect: 168, record: 1}}, got {value!r}; "
            "a stream left out keeps its default"
        )
    return value


class KeepHours(Strict):
    """Hours of continuous recording kept per stream (older segments are deleted)."""

    detect: float = Field(
        168.0,
        ge=0.0,
        le=8760.0,
        description="Hours of the detect (sub-)stream kept for playback; 0 = not recorded on a "
        "camera with a record stream (about 5.4 GB a day per camera at 0.5 Mbit/s).",
    )
    record: float = Field(
        1.0,
        ge=0.0,
        le=8760.0,
        description="Hours of the record (main) stream kept, where a camera has one; alert "
        "clips are cut from it, so at least their pre- and post-roll plus 30 s is kept.",
    )


class CameraKeepHours(Strict):
    """A camera's own retention per stream; a stream left out keeps evidence.keep_hours'."""

    detect: float | None = Field(
        None, ge=0.0, le=8760.0, description="Hours of the detect stream; absent = the site's."
    )
    record: float | None = Field(
        None, ge=0.0, le=8760.0, description="Hours of the record stream; absent = the site's."
    )


class EvidenceConfig(Strict):
    """Snapshots and clips recorded around each alert, and the disk they may use."""

    dir: ConfigPath = Field(description="Folder for the segment ring and evidence files.")
    pre_roll_s: float = Field(10.0, ge=0.0, le=120.0, description="Seconds of clip before.")
    post_roll_s: float = Field(10.0, ge=0.0, le=300.0, description="Seconds of clip after.")
    segment_s: float = Field(
        2.0,
        gt=0.0,
        le=60.0,
        description="Length of recorded ring segments; clips start and end on their bounds.",
    )
    retention_days: float = Field(
        7.0, gt=0.0, le=3650.0, description="Days to keep evidence before deleting it."
    )
    min_free_hours: float = Field(
        1.0,
        ge=0.0,
        le=720.0,
        description="Delete the oldest evidence early when the free disk holds fewer hours "
        "of recording than this.",
    )
    max_ring_gb: float = Field(
        2.0,
        gt=0.0,
        le=10000.0,
        description="Most disk all continuous recordings of this edge may use together (every "
        "camera and stream), in GB; over it the oldest segments go first, whichever camera "
        "they belong to, before their keep_hours end. A week of a 0.5 Mbit/s sub-stream is "
        "about 40 GB per camera.",
    )
    keep_hours: KeepHours = Field(
        default_factory=KeepHours,
        description="Hours of continuous recording kept per stream, e.g. {detect: 168, "
        "record: 1}; a camera's keep_hours overrides it.",
    )

    _keep_hours_mapping = field_validator("keep_hours", mode="before")(_hours_mapping)

    @property
    def clip_window_s(self) -> float:
        """Seconds the clip stream keeps at least: pre-roll + post-roll + a margin."""
        return self.pre_roll_s + self.post_roll_s + CLIP_MARGIN_S

    def keep_s(self, cam: CameraSettings) -> dict[VideoStream, float]:
        """Seconds of ``detect`` and ``record`` that ``cam`` keeps: its own keep_hours over
        the site's; the stream its clips come from (record when it has a separate one, else
        detect) keeps at least :attr:`clip_window_s`."""
        own = cam.keep_hours
        hours: dict[VideoStream, float] = {
            "detect": own.detect if own.detect is not None else self.keep_hours.detect,
            "record": own.record if own.record is not None else self.keep_hours.record,
        }
        clips: VideoStream = "record" if cam.record not in (None, cam.detect) else "detect"
        out = {stream: h * 3600.0 for stream, h in hours.items()}
        out[clips] = max(out[clips], self.clip_window_s)
        return out


class OutboxConfig(Strict):
    """The local store every alert is written to before it is published."""

    path: ConfigPath = Field(description="SQLite file of the outbox (created if absent).")
    max_evidence_mb: float = Field(
        2000.0,
        gt=0.0,
        le=1_000_000.0,
        description="Most evidence, in MB, waiting in the outbox to be sent (it refers to the "
        "files, not copies); beyond it the oldest evidence is dropped, counted and logged. "
        "Alert messages are never dropped.",
    )
    evidence_over_http: bool = Field(
        False,
        description="Upload evidence files to the console over HTTP(S), signed by the edge's "
        "key and resumable, instead of publishing them on the broker (alert messages stay on "
        "MQTT; docs/design/evidence-upload.md). Needs the site's edge key registered at the "
        "console and the console's address: evidence_url, else the upload_url of the first "
        "signed video command; until one is known evidence goes over MQTT.",
    )
    evidence_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The console's address as this edge reaches it (e.g. "
        "https://console.example:8443), for evidence_over_http; the console's edge_url.",
    )


def _console_key(value: str | None) -> str | None:
    """A base64 Ed25519 public key (checked, kept as text), or None."""
    if value is None:
        return None
    try:
        parse_public_key(value)
    except SigningKeyError:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(
            f"expected an Ed25519 public key as base64 of 32 bytes (44 characters ending in "
            f"'='), got {shown!r}; paste the output of 'sitewatch server public-key' on the "
            "console's machine"
        ) from None
    return value.strip()


class TrustConfig(Strict):
    """Keys: the edge signs what it publishes, and obeys only commands the console signed."""

    key_file: ConfigPath = Field(
        Path("edge.key"),
        validate_default=True,
        description="The edge's Ed25519 private key (PEM), made on first start if absent; its "
        "public key is logged at start for the console's 'server add-edge'. Keep it mode 0600.",
    )
    console_public_key: Annotated[str | None, AfterValidator(_console_key)] = Field(
        None,
        description="The console's public key (base64, from 'sitewatch server public-key'): "
        "config commands must carry its signature. Absent = every config command is refused.",
    )
    command_max_age_s: float = Field(
        300.0,
        ge=10.0,
        le=86400.0,
        description="Refuse a config command issued longer ago than this (by this edge's "
        "clock); keep the edge's clock in sync (NTP).",
    )


class VideoConfig(Strict):
    """Live view and playback: video the edge POSTs to the console when a signed command asks
    (docs/design/live-video.md)."""

    max_live: int = Field(
        4,
        ge=0,
        le=64,
        description="Most live streams at once (each one ffmpeg copying a camera stream and "
        "its upload); one more is answered 'busy'. 0 = no live view from this edge.",
    )
    upload_timeout_s: float = Field(
        10.0,
        gt=0.0,
        le=300.0,
        description="Seconds to wait for the console to connect, take a part and answer; a live "
        "fragment not answered in time is dropped, a range is retried.",
    )
    snapshot_every_s: float = Field(
        300.0,
        ge=10.0,
        le=3600.0,
        description="Seconds between a camera's latest-frame JPEGs sent to the console (the "
        "camera list's picture, the zone editor's backdrop; the live view is video); a camera's "
        'first frame goes at once (why 300 s: bench/RESULTS.md, "Console load (issue 16)").',
    )


class DefaultsConfig(Strict):
    """Site-wide defaults merged into every camera (a camera's own values win)."""

    rules: Rules = Field(default_factory=Rules, description="Default rule settings.")
    detect_fps: float = Field(
        2.0, gt=0.0, le=30.0, description="Default frames per second sent to the detector."
    )


def _stream_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in STREAM_SCHEMES:
        raise ValueError(
            f"a URL starting with {', '.join(s + '://' for s in STREAM_SCHEMES)}, got {value!r}"
        )
    if parts.scheme == "file" and not parts.path.startswith("/"):
        raise ValueError(f"an absolute file URL such as file:///data/clip.mp4, got {value!r}")
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError(f"a URL with a host, such as rtsp://192.0.2.10:554/sub, got {value!r}")
    return value


class CameraSettings(Strict):
    """One camera: where its streams are, its zones and its effective rules."""

    id: str = Field(
        pattern=ID_PATTERN,
        description="Camera id, unique per site: lower-case letters, digits, _ and -.",
    )
    name: str = Field("", description="Human-readable name; empty = the id.")
    enabled: bool = Field(True, description="Whether the worker opens this camera at all.")
    detect: Annotated[str, AfterValidator(_stream_url)] = Field(
        description="Stream analysed by the detector, usually the camera's small sub-stream: "
        "rtsp://, rtsps://, http(s):// or file:/// URL."
    )
    record: Annotated[str | None, AfterValidator(_stream_url)] = Field(
        None,
        description="Full-resolution main stream recorded for evidence; absent = record "
        "the detect stream.",
    )
    detect_fps: float = Field(
        gt=0.0,
        le=30.0,
        description="Frames per second sent to the detector; default: defaults.detect_fps.",
    )
    stall_s: float = Field(
        10.0, gt=0.0, le=600.0, description="Reconnect when no frame came for this long."
    )
    input_size: int | None = Field(
        None,
        ge=160,
        le=1280,
        multiple_of=32,
        description="This camera's model input side, overriding detector.input_size: 544-640 "
        "for wide views with distant workers (far heads need the pixels, for more inference "
        'than 416: bench/RESULTS.md, "Model input size"). Absent = detector.input_size.',
    )
    head_look: bool | None = Field(
        None,
        description="This camera's head look (see detector.head_look); absent = "
        "detector.head_look.",
    )
    coarse_look: bool | None = Field(
        None,
        description="This camera's coarse look (see detector.coarse_look); absent = "
        "detector.coarse_look.",
    )
    tile_look: bool | None = Field(
        None,
        description="This camera's tile look (see detector.tile_look): for a wide view whose "
        "detect stream is the full-resolution main stream; absent = detector.tile_look.",
    )
    keep_hours: CameraKeepHours = Field(
        default_factory=CameraKeepHours,
        description="This camera's hours of recording per stream, over evidence.keep_hours, "
        "e.g. {detect: 24}.",
    )
    zones: list[Zone] = Field(default_factory=list, description="Zones on this camera.")

    _keep_hours_mapping = field_validator("keep_hours", mode="before")(_hours_mapping)
    rules: Rules = Field(
        default_factory=Rules,
        description="This camera's rule settings, merged over defaults.rules.",
    )


class SiteConfig(Strict):
    """The whole edge configuration: one site, its broker, detector, storage and cameras."""

    version: int = Field(
        ge=1, description="Config version; the console bumps it and the edge reports it."
    )
    site: SiteInfo = Field(description="Site identity.")
    mqtt: MqttConfig = Field(description="Broker connection.")
    detector: DetectorConfig = Field(description="Detector settings.")
    evidence: EvidenceConfig = Field(description="Evidence clips and disk use.")
    outbox: OutboxConfig = Field(description="Local alert outbox.")
    defaults: DefaultsConfig = Field(
        default_factory=DefaultsConfig, description="Defaults merged into every camera."
    )
    trust: TrustConfig = Field(
        default_factory=dict,  # validated like a given section: key_file is resolved
        validate_default=True,
        description="Signing keys: the edge's own and the console's public key.",
    )
    video: VideoConfig = Field(
        default_factory=VideoConfig, description="Live view and playback uploads."
    )
    cameras: list[CameraSettings] = Field(min_length=1, description="The site's cameras.")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        return merge_camera_defaults(data)

    def camera(self, camera_id: str) -> CameraSettings:
        """The camera with ``camera_id``; ``KeyError`` listing the ids if there is none."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        raise KeyError(f"no camera {camera_id!r} in the config; cameras: {known}")


def camera_rules(config: SiteConfig, camera_id: str) -> Rules:
    """The effective (defaults-merged) rules of one camera."""
    return config.camera(camera_id).rules


def armed_rules(cam: CameraSettings) -> list[RuleSpec]:
    """The rules of ``cam`` that can fire: enabled, with at least one zone of their kind."""
    kinds = {zone.kind for zone in cam.zones}
    return [s for s in RULE_SPECS.values() if cam.rules.of(s.name).enabled and s.zone in kinds]


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged over ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def merge_camera_defaults(data: Any) -> Any:
    """Raw config with site defaults merged into each camera and the MQTT client id filled.

    Pure and tolerant: anything of an unexpected shape is left for validation to report.
    """
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    defaults = data.get("defaults")
    defaults = defaults if isinstance(defaults, dict) else {}
    default_rules = defaults.get("rules", {})
    default_fps = defaults.get("detect_fps", DefaultsConfig.model_fields["detect_fps"].default)
    cameras = data.get("cameras")
    if isinstance(cameras, list):
        for cam in cameras:
            if not isinstance(cam, dict):
                continue
            if isinstance(default_rules, dict) and isinstance(cam.get("rules", {}), dict):
                cam["rules"] = deep_merge(default_rules, cam.get("rules", {}))
            cam.setdefault("detect_fps", default_fps)
    mqtt, site = data.get("mqtt"), data.get("site")
    has_id = isinstance(site, dict) and isinstance(site.get("id"), str)
    if isinstance(mqtt, dict) and not mqtt.get("client_id") and has_id:
        mqtt["client_id"] = default_client_id(site["id"])
    return data


def default_client_id(site_id: str) -> str:
    """The edge's MQTT client id when the config names none (the contract's)."""
    return edge_client_id(site_id)
