"""Ingest while its database is away: a real PostgreSQL that refuses connections for a while.
Messages wait (unacknowledged, at the broker) and are stored once the database is back, even
when the console stops and starts again meanwhile."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from sitewatch.console.store.models import Alert, AlertEventRow
from tests.support.ingest_support import alert, edge_of, live_console
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.postgres import Postgres, postgres_fixture, postgres_url  # noqa: F401  (fixtures)


def admin(postgres: Postgres, sql: str) -> None:
    dsn = f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def retries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("database unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.slow  # about 10 s: it waits for three retries
def test_messages_wait_for_a_database_that_is_down(
    tmp_path: Path,
    broker: Mosquitto,
    postgres: Postgres,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url: str = request.getfixturevalue("postgres_url")
    name = url.rsplit("/", 1)[1]
    aid = uuid.uuid4()
    with (
        live_console(tmp_path, broker, database_url=url) as console,
        edge_of(broker) as edge,
    ):
        edge.alert(alert(aid, 0))
        console.settle(1)
        caplog.set_level(logging.WARNING, logger="sitewatch.console.ingest.service")
        admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
        try:
            edge.alert(alert(aid, 1))
            edge.alert(alert(aid, 2, end=True))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and retries(caplog) < 3:
                time.sleep(0.05)
            assert retries(caplog) >= 3  # it waits, however often it must try again
            assert (console.ingest.handled, console.ingest.rejected) == (1, 0)
        finally:
            admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        console.settle(3)
        [row] = console.rows(Alert)
        assert (row.seq, row.event) == (2, "end")
        assert sorted(t.seq for t in console.rows(AlertEventRow)) == [0, 1, 2]
        assert console.ingest.rejected == 0


def test_a_message_not_stored_at_stop_comes_again_on_restart(
    tmp_path: Path,
    broker: Mosquitto,
    postgres: Postgres,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Acknowledged only once stored: stopping with the database down leaves it to the broker."""
    url: str = request.getfixturevalue("postgres_url")
    name = url.rsplit("/", 1)[1]
    aid = uuid.uuid4()
    caplog.set_level(logging.WARNING, logger="sitewatch.console.ingest.service")
    with edge_of(broker) as edge:
        with live_console(tmp_path, broker, "console-pg", database_url=url) as console:
            edge.alert(alert(aid, 0))
            console.settle(1)
            admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin(
                postgres,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            )
            edge.alert(alert(aid, 1))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and retries(caplog) < 1:
                time.sleep(0.05)
            assert retries(caplog) >= 1
        assert "left to the broker" in caplog.text
        admin(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        with live_console(tmp_path, broker, "console-pg", database_url=url) as console:
            console.settle(1)
            [row] = console.rows(Alert)
            assert row.seq == 1
            assert sorted(t.seq for t in console.rows(AlertEventRow)) == [0, 1]
