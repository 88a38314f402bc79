"""The console with MQTT ingest on a real mosquitto and a real SQLite file, and an edge to
publish to it.

    from tests.support.ingest_support import LiveConsole, live_console  # the context manager
    from tests.support.mqtt_broker import broker_fixture  # noqa: F401   (the fixture "broker")
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.events import LiveEvent
from sitewatch.console.ingest.service import Ingest
from sitewatch.console.state import AppState
from sitewatch.console.store.db import Base
from sitewatch.contract import messages as m
from tests.support.console_support import Console, make_settings
from tests.support.mqtt_broker import HOST, Mosquitto

T = TypeVar("T", bound=Base)
PREFIX = "sitewatch"
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"snapshot bytes " * 64 + b"\xff\xd9"
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


@dataclass
class LiveConsole(Console):
    """The app with its ingest started and subscribed."""

    @property
    def state(self) -> AppState:
        state: AppState = self.client.app.state.sitewatch  # type: ignore[attr-defined]
        return state

    @property
    def ingest(self) -> Ingest:
        assert isinstance(self.state.ingest, Ingest)
        return self.state.ingest

    def rows(self, model: type[T], *where: Any) -> list[T]:
        with self.state.db.session() as s:
            return list(s.scalars(select(model).where(*where)))

    def settle(self, count: int) -> None:
        """Wait until ingest has handled ``count`` messages since it started."""
        assert self.ingest.wait_handled(count, 20.0), (
            f"ingest handled {self.ingest.handled} of {count} messages in 20 s"
        )

    def listen(self) -> asyncio.Queue[LiveEvent]:
        """A live-event queue like an SSE stream's, on the app's loop."""
        return self.client.portal.call(self._subscribe)  # type: ignore[union-attr]

    async def _subscribe(self) -> asyncio.Queue[LiveEvent]:
        return self.state.hub.subscribe()

    def next_event(
        self, q: asyncio.Queue[LiveEvent], skip: tuple[str, ...] = ("incident",)
    ) -> LiveEvent:
        """The next event not of a kind in ``skip`` (by default the incident events that follow
        each alert's: tests of incidents pass ``skip=()``)."""

        async def get() -> LiveEvent:
            while True:
                event = await asyncio.wait_for(q.get(), 20.0)
                if event.kind not in skip:
                    return event

        return self.client.portal.call(get)  # type: ignore[union-attr]


@contextmanager
def live_console(
    tmp_path: Path, broker: Mosquitto, client_id: str | None = None, **extra: Any
) -> Iterator[LiveConsole]:
    """The console app (lifespan running) connected to ``broker``, subscribed and ready."""
    # make_settings turns ingest off (mqtt_host=None); turn it on towards the broker
    settings = make_settings(tmp_path, **extra).model_copy(
        update={
            "mqtt_host": HOST,
            "mqtt_port": broker.port,
            "mqtt_client_id": client_id or f"console-{uuid.uuid4().hex[:8]}",
        }
    )
    with TestClient(create_app(settings)) as client:
        console = LiveConsole(settings, client)
        assert console.ingest.wait_ready(20.0), "ingest did not subscribe within 20 s"
        yield console


class Edge:
    """A publisher standing in for an edge: QoS 1, each publish acknowledged by the broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.transport = broker.transport()
        assert self.transport.wait_connected(10.0)
        self.sent = 0

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self.transport.publish(topic, payload, qos=1, retain=retain).wait(10.0)
        self.sent += 1

    def alert(self, msg: m.AlertEvent) -> None:
        self.send(m.alerts(PREFIX, msg.site_id), m.encode(msg))

    def evidence(self, site: str, alert_id: uuid.UUID, name: str, data: bytes) -> None:
        self.send(m.evidence(PREFIX, site, str(alert_id), name), data)

    def close(self) -> None:
        self.transport.close()


@contextmanager
def edge_of(broker: Mosquitto) -> Iterator[Edge]:
    edge = Edge(broker)
    try:
        yield edge
    finally:
        edge.close()


def evidence_file(name: str, data: bytes, kind: str = "snapshot") -> m.EvidenceFile:
    return m.EvidenceFile(
        kind=kind,
        name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type="video/mp4" if kind == "clip" else "image/jpeg",
        duration_s=12.0 if kind == "clip" else None,
    )


def alert(
    alert_id: uuid.UUID,
    seq: int,
    *,
    site: str = "north",
    camera: str = "gate",
    evidence: list[m.EvidenceFile] | None = None,
    **fields: Any,
) -> m.AlertEvent:
    """The message of ``seq`` in an alert's life: start at 0, update after, ``end=True`` ends."""
    end = fields.pop("end", False)
    values: dict[str, Any] = {
        "id": alert_id,
        "seq": seq,
        "event": "start" if seq == 0 else ("end" if end else "update"),
        "site_id": site,
        "camera_id": camera,
        "rule": "no_helmet",
        "track_id": 7,
        "zone_id": "floor",
        "label": "head",
        "score": round(0.5 + 0.1 * seq, 2),
        "box": (0.1, 0.1, 0.2 + 0.01 * seq, 0.3),
        "started_at": T0,
        "last_seen_at": T0 + timedelta(seconds=5 * seq),
        "ended_at": T0 + timedelta(seconds=5 * seq) if end else None,
        "sent_at": T0 + timedelta(seconds=5 * seq),
        "evidence": evidence or [],
        "config_version": "3",
    }
    values.update(fields)
    return m.AlertEvent.model_validate(values)


@contextmanager
def database_locked(console: LiveConsole) -> Iterator[None]:
    """Hold SQLite's write lock from another connection (WAL: readers go on, the ingest worker
    waits at its next write, as for a busy database)."""
    path = console.settings.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def wait_for(what: str, check: object, timeout_s: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.02)
