"""Alembic environment: runs on the connection :func:`sitewatch.console.store.db.migrate` passes
in, or on ``sqlalchemy.url`` (``alembic -x url=...``) when run from the command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import sitewatch.console.store.models  # noqa: F401  (registers the tables)
from sitewatch.console.store.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=sqlite:///data/console.db")
    engine = make_engine(url)
    with engine.begin() as conn:
        run(conn)
