"""Console settings: one strict tree read from ``SITEWATCH_*`` environment variables.

Every field can be set as ``SITEWATCH_<FIELD>`` (e.g. ``SITEWATCH_DATABASE_URL``); a
``.env`` file is not read, so what runs is what the environment says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sitewatch.console.logs import LogFormat, LogLevel
from sitewatch.contract.messages import RuleName

Language = Literal["zh-CN", "en"]


class Settings(BaseSettings):
    """Everything the console needs; ``create_app(Settings(...))`` builds it."""

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="forbid", frozen=True)

    database_url: str = Field(
        "sqlite:///data/console.db",
        description="SQLAlchemy URL: sqlite:///path.db (default) or "
        "postgresql+psycopg://user:pass@host/db.",
    )
    evidence_dir: Path = Field(
        Path("data/evidence"), description="Directory for evidence files (snapshots, clips)."
    )
    video_dir: Path = Field(
        Path("data/video"),
        description="Directory for video the edges upload: playback windows (a cache, pruned "
        "oldest first to video_cache_gb) and range exports (kept like evidence).",
    )
    video_cache_gb: float = Field(
        5.0, gt=0, le=100000, description="Most disk the playback cache may use, in GB."
    )
    video_upload_max_bytes: int = Field(
        2 * 1024**3,
        ge=1024 * 1024,
        description="Largest video upload from an edge in bytes (default 2 GiB: an hour's range "
        "of a 4 Mbit/s stream); a larger one gets 413. Video uploads are bounded by this, not "
        "by max_request_bytes.",
    )
    video_live_grace_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a live stream goes on after its last viewer left (a viewer who "
        "comes back within it gets the stream at once); then the edge is told to stop.",
    )
    video_viewer_buffer_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="Live video bytes queued for one viewer (default 16 MiB); a viewer who "
        "falls further behind is dropped (its stream ends), never the upstream.",
    )
    edge_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The console's address as the edges reach it (e.g. https://console.example:8443)"
        ", where they POST live and recorded video; default: console_url, else "
        "http://127.0.0.1 with the port the console listens on.",
    )
    replica_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+/?$",
        description="This replica's own address as the other replicas reach it (e.g. "
        "http://console1:8000), on PostgreSQL behind a proxy: edges' video uploads that the "
        "proxy hands another replica are passed on to the one that asked "
        '(docs/design/replicas.md, "Uploads to the replica that asked"); unset: not passed on.',
    )
    mqtt_host: str | None = Field(
        "localhost", description="MQTT broker the edges publish to; empty/None = no ingest."
    )
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_username: str | None = Field(None, description="MQTT user name, if the broker wants one.")
    mqtt_password: str | None = Field(None, description="MQTT password (keep it in the env).")
    mqtt_tls_ca: Path | None = Field(
        None, description="CA certificate file: set it to connect with TLS."
    )
    mqtt_client_id: str = Field("sitewatch-console", description="MQTT client id (unique).")
    topic_prefix: str = Field("sitewatch", description="Topic prefix shared with the edges.")
    amqp_urls: Annotated[list[str], NoDecode] = Field(
        [],
        description="RabbitMQ nodes (comma-separated amqp:// or amqps:// URLs, tried in turn) "
        "to consume the ingest queue from instead of subscribing over MQTT: set it on every "
        "replica of a cluster (deploy/cluster/), so each message is stored by one replica; "
        "commands to the edges still go over MQTT (SITEWATCH_MQTT_HOST).",
    )
    amqp_queue: str = Field(
        "sitewatch.ingest",
        min_length=1,
        description="The quorum queue bound to the edges' topics "
        "(deploy/cluster/definitions.json).",
    )
    amqp_prefetch: int = Field(
        20,
        ge=1,
        le=1000,
        description="Messages the broker hands one replica before it acknowledges any (its "
        "in-flight window, as mosquitto's max_inflight_messages), per shard it consumes: "
        "bounds ingest's memory.",
    )
    amqp_shards: int = Field(
        4,
        ge=1,
        le=64,
        description="Ingest queues: amqp_queue.0 .. amqp_queue.<n-1>, filled by a "
        "consistent-hash exchange (deploy/cluster/definitions.json); every replica consumes "
        "all of them. 1: the single queue amqp_queue itself (a cluster set up before shards).",
    )
    amqp_replicas: int = Field(
        1,
        ge=1,
        le=64,
        description="Replicas that consume the shards (spreads them: see amqp_replica).",
    )
    amqp_replica: int = Field(
        0,
        ge=0,
        description="This replica's place, 0 .. amqp_replicas-1: it subscribes at once to the "
        "shards s with s % amqp_replicas == amqp_replica, to the others 30 s later (standby).",
    )
    signing_key_file: Path = Field(
        Path("data/console.key"),
        description="The console's Ed25519 key (PEM), made on first start: it signs every "
        "command to an edge; edges get its public key ('sitewatch server public-key').",
    )
    broker_password_file: Path = Field(
        Path("data/broker/passwd"),
        description="Mosquitto password file that 'sitewatch server add-edge' writes (the "
        "broker's password_file).",
    )
    broker_acl_file: Path = Field(
        Path("data/broker/acl"),
        description="Mosquitto ACL file that 'sitewatch server add-edge' writes (the broker's "
        "acl_file): each edge publishes only its own site's topics.",
    )
    cookie_secure: bool = Field(
        False, description="Mark session cookies Secure (set it when served over HTTPS)."
    )
    public_origins: list[str] = Field(
        [],
        description="Origins users open the console at (e.g. https://sitewatch.example), for "
        "a reverse proxy that does not pass the browser's Host header on (nginx without "
        "`proxy_set_header Host $host`); a request's own origin is always accepted.",
    )
    max_request_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest HTTP request body in bytes (default 1 MiB); a larger one gets 413. "
        "Edges upload evidence over HTTP in chunks of at most this size (a file's own limit is "
        "the evidence quota); live and playback video have their own limit.",
    )
    session_hours: float = Field(12.0, gt=0, description="How long a login lasts.")
    login_attempts: int = Field(
        5, ge=1, description="Failed logins per user name and address before a pause."
    )
    login_window_s: float = Field(300.0, gt=0, description="Window of the login rate limit.")
    login_attempts_per_address: int = Field(
        20,
        ge=1,
        description="Failed logins from one address, over every user name, before that address "
        "is paused (stops trying many user names).",
    )
    login_attempts_per_user: int = Field(
        50,
        ge=2,
        description="Failed logins for one user name, over every address, before it is paused "
        "everywhere; must be more than login_attempts, so that one address (paused after "
        "login_attempts) cannot lock the user out from another.",
    )
    login_checks_at_once: int = Field(
        4,
        ge=1,
        description="Password checks (argon2: each holds its memory cost and a CPU) run at once; "
        "a login beyond them gets 503 at once instead of queueing.",
    )
    evidence_retention_days: float = Field(
        30.0,
        ge=0,
        description="Days evidence is kept after its alert is resolved (false positives: "
        "false_positive_retention_days); evidence of open alerts is never deleted.",
    )
    false_positive_retention_days: float | None = Field(
        None,
        ge=0,
        description="Days the evidence of false positives is kept after marking; None (the "
        "default) keeps it: false positives are the data for the next model.",
    )
    metrics_token: str | None = Field(
        None,
        min_length=16,
        description="Bearer token for Prometheus at /metrics; None (default) = /metrics is off.",
    )
    log_level: LogLevel = Field(
        "INFO", description="Least severe log records written: DEBUG, INFO, WARNING or ERROR."
    )
    log_format: LogFormat = Field(
        "text",
        description="Log lines on stderr: text ('<time> LEVEL logger: message') or json (one "
        "object per line: time in UTC, level, logger, message, exception), uvicorn's too.",
    )
    default_language: Language = Field("zh-CN", description="Language of new users.")
    ingest_queue_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="Payload bytes of received MQTT messages waiting for the ingest worker "
        "(default 64 MiB): beyond it QoS 0 messages are dropped and counted (metric "
        'sitewatch_ingest_messages_total{outcome="dropped"}); QoS 1 messages are never '
        "dropped: beyond it they wait at the broker until the worker makes room.",
    )
    ingest_queue_messages: int = Field(
        10_000, ge=1, description="Messages waiting for the ingest worker before QoS 0 drops."
    )
    ingest_batch: int = Field(
        64,
        ge=1,
        description="Most messages the ingest worker stores in one database transaction (each "
        "in its own savepoint; acknowledged after the commit); 1 = a transaction per message.",
    )
    clock_skew_max_s: float = Field(
        600.0,
        ge=0,
        description="How far (seconds) a time in an incoming message may be ahead of the "
        "console's clock; a message dated later is refused (check the edge's NTP).",
    )
    evidence_file_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest evidence file in bytes (default 64 MiB)."
    )
    evidence_alert_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Evidence bytes one alert may hold, its files together (default 256 MiB).",
    )
    snapshot_max_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest camera snapshot in bytes (default 2 MiB)."
    )
    evidence_staged_site_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Evidence bytes of one site waiting for the alert that lists them (default "
        "256 MiB); over it the site's oldest waiting files are deleted, counted.",
    )
    evidence_staged_max_age_s: float = Field(
        6 * 3600.0,
        gt=0,
        description="Seconds evidence may wait for the alert that lists it (default 6 h); an "
        "edge whose link drops between a file and its listing must send the listing within it.",
    )
    incident_window_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="Seconds between the last alert of an incident and a new one of the same "
        "site, camera, rule and zone within which the new one joins it (or re-opens it, if "
        "closed) instead of starting an incident of its own; a rule's own window in "
        "incident_windows_s wins. Why this default: docs/design/incidents.md.",
    )
    incident_windows_s: dict[RuleName, Annotated[float, Field(gt=0, le=86400)]] = Field(
        {},
        description='Per-rule incident windows in seconds, e.g. {"no_helmet": 600} (as JSON in '
        "SITEWATCH_INCIDENT_WINDOWS_S); rules not named use incident_window_s.",
    )
    notify_poll_s: float = Field(
        1.0,
        ge=0,
        description="Seconds between passes of the notification worker (routes new alerts, "
        "escalates, sends the outbox); 0 = no notifications from this console.",
    )
    notify_escalate_after_min: float = Field(
        30.0,
        gt=0,
        description="Minutes an alert may stay new (not acknowledged) at one notification "
        "level before it goes to the next (site safety manager, project manager, command "
        "centre).",
    )
    notify_lookback_min: float = Field(
        60.0,
        gt=0,
        description="Only alerts received within this many minutes are notified (a console "
        "started on an old database does not notify its history).",
    )
    notify_lease_s: float = Field(
        120.0,
        gt=0,
        description="Seconds a notification being sent stays claimed: one whose console died "
        "before recording the receiver's answer is sent again after it.",
    )
    notify_report_at: str = Field(
        "08:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time (HH:MM, each site's zone) after which the daily report of "
        "yesterday, and on Mondays the weekly report of last week, go to the report routes; a "
        "console down at that time sends them once when it is back.",
    )
    console_url: str | None = Field(
        None,
        description="The console's address as its users open it (e.g. https://sitewatch.example)"
        ", for links in messages (a report's download); default: the first public_origins "
        "entry, else the link is a path only.",
    )
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (465 for ssl).")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="SMTP encryption: starttls, ssl (implicit TLS) or none."
    )
    smtp_username: str | None = Field(None, description="SMTP login, if the server wants one.")
    smtp_password: str | None = Field(None, description="SMTP password (keep it in the env).")
    smtp_from: str = Field("sitewatch@localhost", description="Sender address of the mails.")
    vapid_key_file: Path | None = Field(
        None,
        description="The console's VAPID key for Web Push (P-256, PEM, mode 0600), made on "
        "first use; default: vapid.key beside signing_key_file.",
    )
    vapid_subject: str = Field(
        "mailto:sitewatch@localhost",
        pattern=r"^(mailto:|https://)",
        description="VAPID 'sub' claim: a mailto: or https: contact that push services may use "
        "to reach the console's operator (RFC 8292).",
    )

    s3_endpoint: str = Field(
        "",
        pattern=r"^(https?://[^\s/]+/?)?$",
        description="S3 evidence backend: the server as http(s)://host[:port] (http:// only on a "
        "trusted network); needed when evidence_backend is s3.",
    )
    s3_bucket: str = Field("", description="S3 evidence backend: an existing bucket.")
    s3_access_key: str = Field("", description="S3 evidence backend: the access key id.")
    s3_secret_key: str = Field(
        "", repr=False, description="S3 evidence backend: the secret key (keep it in the env)."
    )
    s3_region: str = Field("us-east-1", min_length=1, description="S3 evidence backend: region.")
    s3_prefix: str = Field(
        "",
        pattern=r"^([A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*)?$",
        description="S3 evidence backend: key prefix inside the bucket (several consoles, one "
        "bucket), e.g. console-a; empty: the bucket's root.",
    )
    s3_part_bytes: int = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="S3 evidence backend: multipart upload part size in bytes (default 16 MiB, "
        "at least 5 MiB: S3's floor).",
    )
    s3_ca_file: Path | None = Field(
        None, description="S3 evidence backend: PEM bundle of a private CA (default: certifi's)."
    )
    s3_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="S3 evidence backend: connect and read timeout of one request, in seconds.",
    )
    evidence_backend: Literal["fs", "s3"] = Field(
        "fs",
        validate_default=True,
        description="Where evidence files and snapshots live: fs (files under evidence_dir, "
        "a shared mount across replicas) or s3 (an S3-compatible bucket: set the s3_* "
        "settings). docs/design/evidence-storage.md.",
    )

    @field_validator("amqp_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """``a,b`` (the environment's form) is the list ``[a, b]``; each URL is amqp(s)://."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for url in value:
                if not str(url).startswith(("amqp://", "amqps://")):
                    scheme = str(url).partition("://")[0] if "://" in str(url) else "no scheme"
                    raise ValueError(  # the URL itself is not shown: it may hold a password
                        f"expected amqp:// or amqps:// URLs separated by commas, got one with "
                        f"{scheme!r}: write each node as amqp://user:password@host:5672/%2F"
                    )
        return value

    @field_validator("amqp_replica")
    @classmethod
    def _replica_in_range(cls, value: int, info: ValidationInfo) -> int:
        replicas = info.data.get("amqp_replicas", 1)
        if value >= replicas:
            raise ValueError(
                f"expected 0 .. {replicas - 1} (SITEWATCH_AMQP_REPLICAS is {replicas}), got "
                f"{value}: number the replicas from 0"
            )
        return value

    @field_validator("evidence_backend")
    @classmethod
    def _s3_complete(cls, value: str, info: ValidationInfo) -> str:
        """The S3 backend needs its endpoint, bucket and key pair (declared above, so already
        validated); a missing one is named by its variable."""
        if value == "s3":
            needed = ("s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key")
            missing = [f"SITEWATCH_{name.upper()}" for name in needed if not info.data.get(name)]
            if missing:
                raise ValueError(
                    f"the s3 evidence backend needs {', '.join(missing)}, got none: set "
                    f"{'them' if len(missing) > 1 else 'it'} (docs/design/evidence-storage.md), "
                    "or set SITEWATCH_EVIDENCE_BACKEND=fs"
                )
        return value
