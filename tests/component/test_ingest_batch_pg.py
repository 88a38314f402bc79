"""Ingest in batches (issue 16) against other writers on a real PostgreSQL database, through
a real mosquitto: an alert whose lock another transaction holds ends the batch before its
message (a batch never waits for an alert lock while holding one); a row another writer
inserted under a message's feet rolls back that message's savepoint only, and it is handled
again in the same batch; a batch killed before its commit acknowledged nothing, so the broker
sends it all again and each message is stored once."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from sitewatch.console.ingest.context import ensure_camera
from sitewatch.console.store.db import Database, lock_key
from sitewatch.console.store.models import Alert, AlertEventRow, Evidence
from tests.component.test_ingest_batch import worker_held
from tests.component.test_server_ingest_outage import admin
from tests.support.ingest_support import (
    CLIP,
    LiveConsole,
    alert,
    edge_of,
    evidence_file,
    live_console,
    wait_for,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.postgres import Postgres, postgres_fixture, postgres_url  # noqa: F401


def waiting_pid(db: Database, query_start: str) -> int | None:
    """The backend waiting for a lock in a statement starting ``query_start``, if any."""
    with db.engine.connect() as conn:
        pid: int | None = conn.scalar(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE :q"
            ),
            {"q": query_start + "%"},
        )
        return pid


def stored(console: LiveConsole) -> list[tuple[str, int]]:
    return sorted((row.alert_id, row.seq) for row in console.rows(AlertEventRow))


def test_a_held_alert_lock_ends_the_batch_before_its_message(
    tmp_path: Path,
    broker: Mosquitto,
    postgres_url: str,  # noqa: F811
) -> None:
    first, locked, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    other = Database(postgres_url)
    with (
        live_console(tmp_path, broker, database_url=postgres_url) as console,
        edge_of(broker) as edge,
        other.factory() as upload,  # an upload of the locked alert's file, in flight
    ):
        upload.execute(select(func.pg_advisory_xact_lock(lock_key(f"alert:{locked}"))))
        with worker_held(console, queued=3, settle=False) as commits:
            edge.alert(alert(first, 0))
            edge.alert(alert(locked, 0))
            edge.alert(alert(last, 0))
        wait_for("the first message stored", lambda: stored(console) == [(str(first), 0)])
        wait_for("the next batch waiting", lambda: waiting_pid(other, "SELECT pg_advisory"))
        assert commits[0] == 1
        upload.commit()
        console.settle(3)
        assert stored(console) == sorted([(str(first), 0), (str(locked), 0), (str(last), 0)])
        assert commits[0] == 2 and console.ingest.rejected == 0
    other.close()


def test_a_row_another_writer_inserted_is_handled_again_within_the_batch(
    tmp_path: Path,
    broker: Mosquitto,
    postgres_url: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    known, first, racing = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    other = Database(postgres_url)
    caplog.set_level(logging.INFO, logger="sitewatch.console.ingest.service")
    with (
        live_console(tmp_path, broker, database_url=postgres_url) as console,
        edge_of(broker) as edge,
        other.factory() as replica,
    ):
        edge.alert(alert(known, 0))
        console.settle(1)
        ensure_camera(replica, "north", "yard")  # another replica's first sight, uncommitted
        with worker_held(console, queued=2, settle=False) as commits:
            edge.alert(alert(first, 0))
            edge.alert(alert(racing, 0, camera="yard"))
        wait_for("the worker waiting", lambda: waiting_pid(other, "INSERT INTO cameras"))
        replica.commit()  # the worker's insert fails: IntegrityError
        console.settle(3)
        assert stored(console) == sorted([(str(known), 0), (str(first), 0), (str(racing), 0)])
        assert commits[0] == 1 and console.ingest.rejected == 0
        assert "met another writer" in caplog.text
    other.close()


def test_a_batch_killed_before_its_commit_comes_again_whole(
    tmp_path: Path,
    broker: Mosquitto,
    postgres: Postgres,
    postgres_url: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first messages' savepoints were released (a clip staged, then moved into place by
    its listing), the last one waits; the batch's connection dies and the console stops:
    nothing was acknowledged, all come again, and the clip is stored once, in place."""
    known, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    name = postgres_url.rsplit("/", 1)[1]
    other = Database(postgres_url)
    caplog.set_level(logging.WARNING, logger="sitewatch.console.ingest.service")
    with edge_of(broker) as edge:
        with (
            live_console(tmp_path, broker, "console-batch", database_url=postgres_url) as console,
            other.factory() as replica,
        ):
            edge.alert(alert(known, 0))
            console.settle(1)
            ensure_camera(replica, "north", "yard")  # holds the worker at the second message
            with worker_held(console, queued=3, settle=False):
                edge.evidence("north", first, "clip.mp4", CLIP)
                edge.alert(alert(first, 0, evidence=[evidence_file("clip.mp4", CLIP, "clip")]))
                edge.alert(alert(second, 0, camera="yard"))
            wait_for("the worker waiting", lambda: waiting_pid(other, "INSERT INTO cameras"))
            pid = waiting_pid(other, "INSERT INTO cameras")
            admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin(postgres, f"SELECT pg_terminate_backend({pid})")
            wait_for("a retry", lambda: "database unavailable" in caplog.text)
            seen = replica.scalars(select(AlertEventRow.alert_id)).all()  # still connected
            assert seen == [str(known)], seen
            replica.rollback()
        assert "left to the broker" in caplog.text
        admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        with live_console(tmp_path, broker, "console-batch", database_url=postgres_url) as again:
            again.settle(3)
            [clip] = again.rows(Evidence)
            assert clip.status == "stored" and clip.path and Path(clip.path).read_bytes() == CLIP
            assert not list((tmp_path / "evidence" / "_incoming").rglob("clip.mp4*"))
            assert stored(again) == sorted([(str(known), 0), (str(first), 0), (str(second), 0)])
            assert {row.id for row in again.rows(Alert)} == {str(known), str(first), str(second)}
            assert again.ingest.rejected == 0
    other.close()
