"""The feed, an alert's detail and the incident list read alerts through indexes, never by
scanning the table, on a real PostgreSQL holding a county-shaped history (bench/db_scale.py's
generator, 50,000 alerts over 300 sites): what EXPLAIN ANALYZE says of every statement the
requests run. Not timed (bench/RESULTS.md has the timings at 10 million alerts)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bench.db_scale import vacuum
from bench.db_scale_gen import Shape, generate, utc_now
from bench.db_scale_queries import QUERIES, Persona, alert_sample, captured, explain, personas
from bench.db_scale_queries import request as send
from sitewatch.console.app import create_app
from sitewatch.console.domain.users import create_user
from tests.support.console_support import make_settings
from tests.support.postgres import Postgres, postgres_fixture  # noqa: F401

SHAPE = Shape(alerts=50_000)
PASSWORD = "county-size-test"
READ_BY_INDEX = ("feed_open", "feed_filtered", "alert_detail", "incidents_open")


@pytest.fixture(scope="module")
def county(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[TestClient, datetime]
]:  # fmt: skip
    """The console on a fresh database filled with ``SHAPE``'s history, its users made."""
    name = postgres.create_database()
    settings = make_settings(tmp_path_factory.mktemp("county"), postgres.url(name))
    try:
        with TestClient(create_app(settings)) as app:
            state = app.app.state.sitewatch  # type: ignore[attr-defined]
            now = utc_now()
            generate(state.db.engine, SHAPE, now)
            vacuum(state.db.engine)
            with state.db.session() as s:
                for user, (role, sites, cameras) in personas(SHAPE).items():
                    create_user(s, user, PASSWORD, role, sites, "en", cameras=cameras)
            yield app, now
    finally:
        postgres.drop_database(name)


def _persona(engine: Engine, user: str) -> Persona:
    _role, sites, cameras = personas(SHAPE)[user]
    scope = None if sites == ["*"] else sites
    every = [SHAPE.site(i) for i in range(SHAPE.sites)]
    return Persona(user, scope or every, cameras, alert_sample(engine, scope, cameras))


@pytest.mark.parametrize("query", READ_BY_INDEX)
@pytest.mark.parametrize("user", ["admin", "site", "cams"])
def test_reads_alerts_through_an_index(
    county: tuple[TestClient, datetime], query: str, user: str
) -> None:
    app, now = county
    engine = app.app.state.sitewatch.db.engine  # type: ignore[attr-defined]
    client = TestClient(app.app)
    r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    [q] = [q for q in QUERIES if q.name == query]
    with captured(engine) as seen:
        send(client, q, _persona(engine, user), random.Random(1), now)
    on_alerts = [(sql, p) for sql, p in seen if "FROM alerts" in sql]
    assert on_alerts, f"{query} as {user} ran no statement on alerts: {[s for s, _ in seen]}"
    read = 0
    for sql, params in on_alerts:
        plan = explain(engine, sql, params)
        assert "Seq Scan on alerts" not in plan, f"{query} as {user} scans alerts:\n{sql}\n{plan}"
        read += " on alerts" in plan  # an empty IN () reads nothing
    assert read, f"{query} as {user}: no plan read alerts through an index"


def test_the_open_feed_and_incidents_use_the_open_rows_indexes(
    county: tuple[TestClient, datetime],
) -> None:
    """As the pages open for an admin (every site): migration 0013's partial indexes, for the
    page and for its total."""
    app, now = county
    engine = app.app.state.sitewatch.db.engine  # type: ignore[attr-defined]
    client = TestClient(app.app)
    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200, r.text
    for query, index, table in (
        ("feed_open", "ix_alerts_open_started", "alerts"),
        ("incidents_open", "ix_incidents_open_first", "incidents"),
    ):
        [q] = [q for q in QUERIES if q.name == query]
        with captured(engine) as seen:
            send(client, q, _persona(engine, "admin"), random.Random(1), now)
        main = [(s, p) for s, p in seen if f"FROM {table} \nWHERE {table}.state IN" in s]
        assert len(main) == 2, f"expected the count and the page on {table}, got {main}"
        for sql, params in main:
            plan = explain(engine, sql, params)
            assert index in plan, f"{query}: {index} not used:\n{sql}\n{plan}"


def test_the_generated_schema_is_the_migrations(county: tuple[TestClient, datetime]) -> None:
    """The generator drops and rebuilds indexes and constraints for speed: they come back."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sitewatch.console.store.db import Base

    app, _ = county
    engine = app.app.state.sitewatch.db.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"the generated database differs from the models: {diff}"


def test_bench_command_parses() -> None:
    """``python -m bench.db_scale --help`` parses (the command bench/RESULTS.md gives)."""
    from bench.db_scale import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
