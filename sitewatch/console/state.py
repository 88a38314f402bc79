"""What the app holds while it runs: settings, database, live events, ingest, login limiter,
the console's signing key (made on first start; it signs every command to an edge), and the
video relay and range requests (docs/design/live-video.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.domain.security import LoginLimiter
from sitewatch.console.events import EventHub
from sitewatch.console.settings import Settings
from sitewatch.console.store.db import Database
from sitewatch.contract.messages import Command, VideoCommand


class IngestHandle(Protocol):
    """The running MQTT ingest as the routes see it (see
    :mod:`sitewatch.console.ingest.service`)."""

    @property
    def connected(self) -> bool: ...
    @property
    def received(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def evidence_evicted(self) -> int: ...
    @property
    def handled(self) -> int: ...
    @property
    def oldest_waiting_at(self) -> datetime | None: ...
    def send_config(self, command: Command) -> None:
        """Publish a config or camera command to its site's edge (QoS 1); raises if offline."""

    def send_video(self, command: VideoCommand) -> None:
        """Publish a video command to its site's edge (QoS 1); raises if offline."""


@dataclass
class AppState:
    settings: Settings
    db: Database
    hub: EventHub = field(default_factory=EventHub)
    limiter: LoginLimiter = field(default_factory=lambda: LoginLimiter(5, 300.0))
    ingest: IngestHandle | None = None
    signing_key: Ed25519PrivateKey | None = None  # loaded at start (sitewatch.console.app)
    services: dict[str, object] = field(default_factory=dict)
    """What a package below keeps while the app runs, read back typed by its owner (the video
    relay and range requests: :mod:`sitewatch.console.video.services`)."""
