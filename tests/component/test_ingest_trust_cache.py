"""The edge key ingest checks signatures with is read once per session (one batch's
transaction) and no longer: a key replaced by ``add-edge --rotate`` counts from the next
session on. On a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from sitewatch.console.domain.broker_accounts import add_edge
from sitewatch.console.ingest.bounds import Bounds
from sitewatch.console.ingest.context import Context, IngestError
from sitewatch.console.ingest.service import dispatch
from sitewatch.console.ingest.topics import route
from sitewatch.console.store.db import Database
from sitewatch.console.store.evidence import EvidenceStore
from sitewatch.console.store.models import Camera
from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from tests.support.console_support import Console
from tests.support.ingest_support import PREFIX, T0
from tests.support.postgres import (  # noqa: F401
    any_database_console,
    postgres_fixture,
    postgres_url,
)

TOPIC = m.camera_status(PREFIX, "north", "gate")


def status(signer: Signer, minute: int) -> bytes:
    at = T0 + timedelta(minutes=minute)
    msg = m.CameraStatus(
        site_id="north", camera_id="gate", state="online", fps_in=10.0, fps_analysed=5.0,
        frames_dropped=0, reconnects=minute, last_frame_at=at, at=at,
    )  # fmt: skip
    return signer.encode(msg)


def parts(console: Console) -> tuple[Database, EvidenceStore]:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    return state.db, EvidenceStore(console.settings.evidence_dir)


def handle(db: Database, store: EvidenceStore, *payloads: bytes) -> list[str | None]:
    """Dispatch ``payloads`` in one session, each in its savepoint as the worker does: for
    each, None if kept, else why it was refused."""
    results: list[str | None] = []
    with db.session() as s:
        for payload in payloads:
            ctx = Context(store, PREFIX, TOPIC, route(PREFIX, TOPIC), T0 + timedelta(hours=1))
            try:
                with s.begin_nested():
                    dispatch(s, ctx, payload, Bounds())
                results.append(None)
            except IngestError as exc:
                results.append(str(exc))
    return results


@contextmanager
def key_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read an edge's key, as they are sent."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "broker_accounts" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def test_one_key_read_per_session_and_a_rotated_key_counts_from_the_next(
    console: Console,
) -> None:
    db, store = parts(console)
    with db.session() as s:
        first = add_edge(s, "north")
    old = Signer(first.private_key)
    with key_reads(db) as reads:
        assert handle(db, store, status(old, 1), status(old, 2), status(old, 3)) == [None] * 3
    assert len(reads) == 1, reads

    with db.session() as s:
        rotated = add_edge(s, "north", rotate=True)
    new = Signer(rotated.private_key)
    refused, kept = handle(db, store, status(old, 4), status(new, 5))
    assert refused is not None and "signed with another key" in refused
    assert kept is None
    with db.session() as s:
        camera = s.get(Camera, ("north", "gate"))
        assert camera is not None and camera.reconnects == 5
