"""Ingest in batches (issue 16) on a real mosquitto and SQLite or PostgreSQL: messages that
arrive while the worker is busy are stored in one transaction, each in its own savepoint; a
refused message in the middle is rolled back alone and kept as a reject; live events come out
in message order after the commit. Batches are made deterministic by holding the worker on a
job (what arrives meanwhile waits in its queue) and counting the worker thread's commits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection

from sitewatch.console.store.models import Alert, AlertEventRow, IngestReject
from sitewatch.contract import messages as m
from tests.component.test_server_login_limits import database_url  # noqa: F401  (fixture)
from tests.support.ingest_support import PREFIX, LiveConsole, alert, edge_of, live_console, wait_for
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401  (fixtures)


@contextmanager
def worker_held(console: LiveConsole, queued: int, settle: bool = True) -> Iterator[list[int]]:
    """Hold the ingest worker on a job; on leaving, wait until ``queued`` messages wait in its
    queue, then let it go: they form one batch (mosquitto sends up to 20 unacknowledged), and
    with ``settle`` wait until they are handled.
    Yields a one-item list: the worker thread's commits from the hold on (the retention sweep
    queued at start has run before)."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30.0)

    console.ingest.queue.put(hold)
    assert started.wait(10.0), "the worker did not take the holding job"
    commits = [0]
    engine = console.state.db.engine

    def on_commit(_conn: Connection) -> None:
        if threading.current_thread().name == "ingest-worker":
            commits[0] += 1

    event.listen(engine, "commit", on_commit)
    try:
        yield commits
        wait_for(f"{queued} queued messages", lambda: len(console.ingest.queue) >= queued)
        target = console.ingest.handled + queued  # before the worker goes on
        release.set()
        if settle:
            console.settle(target)
    finally:
        release.set()
        if settle:  # else it counts on, for as long as the console's engine lives
            event.remove(engine, "commit", on_commit)


def test_a_refused_message_in_a_batch_is_rolled_back_alone(
    tmp_path: Path,
    broker: Mosquitto,
    database_url: str | None,  # noqa: F811
) -> None:
    known, first, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with (
        live_console(tmp_path, broker, database_url=database_url) as console,
        edge_of(broker) as edge,
    ):
        edge.alert(alert(known, 0))
        console.settle(1)
        with worker_held(console, queued=4) as commits:
            edge.alert(alert(first, 0))
            # refused in its handler, after its savepoint began: an alert id never moves
            edge.alert(alert(known, 1, camera="door"))
            edge.send(m.alerts(PREFIX, "north"), b"{not json")  # refused before it
            edge.alert(alert(last, 0))
        assert commits[0] == 1, f"expected the 4 messages in 1 transaction, got {commits[0]}"
        alerts = {row.id: row for row in console.rows(Alert)}
        assert set(alerts) == {str(known), str(first), str(last)}
        assert (alerts[str(known)].seq, alerts[str(known)].camera_id) == (0, "gate")
        assert sorted((t.alert_id, t.seq) for t in console.rows(AlertEventRow)) == sorted(
            [(str(known), 0), (str(first), 0), (str(last), 0)]
        )
        reasons = [row.reason for row in console.rows(IngestReject)]
        assert len(reasons) == 2 and console.ingest.rejected == 2, reasons
        assert any("an alert id never moves" in r for r in reasons), reasons
        assert console.ingest.handled == 5


def test_live_events_come_in_message_order_after_the_batch(
    tmp_path: Path,
    broker: Mosquitto,
    database_url: str | None,  # noqa: F811
) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    order = [(ids[0], 0), (ids[1], 0), (ids[0], 1), (ids[2], 0), (ids[1], 1)]
    with (
        live_console(tmp_path, broker, database_url=database_url) as console,
        edge_of(broker) as edge,
    ):
        feed = console.listen()
        with worker_held(console, queued=len(order)) as commits:
            for aid, seq in order:
                edge.alert(alert(aid, seq))
        assert commits[0] == 1
        shown = []
        for _ in order:
            got = console.next_event(feed)
            assert got.kind == "alert", got
            shown.append((uuid.UUID(str(got.data["id"])), got.data["seq"]))
        assert shown == order


def test_a_batch_of_one_is_todays_transaction_per_message(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    """``SITEWATCH_INGEST_BATCH=1``: every message in its own transaction."""
    ids = [uuid.uuid4() for _ in range(3)]
    with (
        live_console(tmp_path, broker, ingest_batch=1) as console,
        edge_of(broker) as edge,
    ):
        with worker_held(console, queued=3) as commits:
            for aid in ids:
                edge.alert(alert(aid, 0))
        assert commits[0] == 3
        assert {row.id for row in console.rows(Alert)} == {str(a) for a in ids}
