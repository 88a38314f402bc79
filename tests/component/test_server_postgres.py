"""What only a real PostgreSQL shows: the migrations give exactly the models' schema, and a
server whose time zone is not UTC still answers in UTC (times and per-day statistics)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from sitewatch.console.app import create_app
from sitewatch.console.store.db import Base, alembic_config, migrate
from tests.support.console_support import Console, add_users, make_settings, seed_alert
from tests.support.postgres import Postgres, postgres_fixture  # noqa: F401


@pytest.fixture
def database(postgres: Postgres) -> Iterator[str]:
    """A fresh database's URL."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


def test_migrations_give_exactly_the_models_schema(database: str) -> None:
    engine = create_engine(database)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        head = ScriptDirectory.from_config(alembic_config(database)).get_current_head()
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == head
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], f"the models and the migrations differ on PostgreSQL: {diff}"
    finally:
        engine.dispose()


@pytest.fixture
def shanghai_console(postgres: Postgres, database: str, tmp_path: Path) -> Iterator[Console]:
    """The console on a PostgreSQL database whose sessions default to UTC+8."""
    name = database.rsplit("/", 1)[1]
    engine = create_engine(postgres.url())
    with engine.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Shanghai'"))
        conn.commit()
    engine.dispose()
    settings = make_settings(tmp_path, database_url=database)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


def test_a_server_in_another_time_zone_still_counts_utc_days(shanghai_console: Console) -> None:
    console = shanghai_console
    db = console.client.app.state.sitewatch.db  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar() == "Asia/Shanghai"
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 07:30 on 3 March in Shanghai
    early = datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    ids = [seed_alert(console, started_at=t) for t in (late, early)]
    add_users(console, ("li.wei", "manager", ["north"]))
    c = console.login("li.wei")
    st = c.get("/api/stats").json()
    assert [(d["day"], d["count"]) for d in st["per_day"]] == [
        ("2026-03-02", 1),
        ("2026-03-03", 1),
    ]
    got = c.get(f"/api/alerts/{ids[0]}").json()["started_at"]
    assert datetime.fromisoformat(got) == late and got.endswith("Z")
    window = {"since": late.isoformat(), "until": (late + timedelta(minutes=1)).isoformat()}
    assert [a["id"] for a in c.get("/api/alerts", params=window).json()["items"]] == [ids[0]]
