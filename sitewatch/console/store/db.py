"""Database engine, sessions and migrations (SQLAlchemy 2, Alembic).

Several console replicas may share one PostgreSQL database (docs/design/replicas.md): their
migrations run one at a time under an advisory lock, and :meth:`Database.exclusive` lets one
replica at a time run a periodic job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of ``name``: the same in
    every process (unlike Python's ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


MIGRATE_LOCK = lock_key("sitewatch.migrate")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent).

    On PostgreSQL the upgrade runs in one transaction holding the advisory lock
    :data:`MIGRATE_LOCK`: replicas starting at once migrate one after the other, and each
    one after the first finds the schema at the newest revision and does nothing. (SQLite
    serves one process; its upgrade takes the database's write lock anyway.)
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATE_LOCK)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    """The engine and a session factory; ``with db.session() as s:`` commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.factory() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @property
    def shared(self) -> bool:
        """True on PostgreSQL, which several console replicas may share; False on SQLite
        (one process)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """``with db.exclusive("notify") as mine:``: ``mine`` is True in at most one replica
        at a time, so a periodic job runs once however many replicas tick.

        On PostgreSQL: ``pg_try_advisory_lock`` on a connection held for the block and
        unlocked at its end; it does not wait (False: another replica has it, skip this
        pass). A replica that dies holding it loses its connection, the server frees the
        lock, and another replica gets it at its next try. On SQLite (one process) always
        True.
        """
        if not self.shared:
            yield True
            return
        key = lock_key(f"sitewatch.job.{name}")
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            mine = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
            try:
                yield mine
            finally:
                if mine and not conn.invalidated:
                    try:
                        conn.scalar(select(func.pg_advisory_unlock(key)))
                    except DBAPIError:  # the connection is gone, and the lock with it
                        conn.invalidate()

    def close(self) -> None:
        self.engine.dispose()
