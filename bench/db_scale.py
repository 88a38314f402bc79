"""The console's read queries on a county's history: p50/p95/max of the feed, an alert's detail,
the incident list and a month's statistics with N alerts in the database.

    .venv/bin/python -m bench.db_scale --alerts 10000000 [--database postgresql|sqlite]
        [--data /tmp/dbscale --keep] [--phase before|after|both] [--explain plans.txt]

A real PostgreSQL (Debian's binaries, tests/support/postgres.py's cluster with the server
settings below) or a SQLite file, migrated by the console's migrations, filled by
bench/db_scale_gen.py; then every query of bench/db_scale_queries.py for every user, through the
console's app in this process (TestClient, logged-in sessions): one JSON line per query and
user, then a table. ``before``: without migration 0013's indexes (dropped, the schema stamped at
head so start-up does not add them back); ``after``: 0013 applied, then 0015 (the statistics
rollup's tables and backfill), each timed when it runs. ``--data`` with ``--keep`` keeps the
database, and a later run on it skips the generation; ``--generate-only`` stops after it;
``--only stats_month,stats_month_site`` and ``--users admin`` run a subset. Each JSON line's
``answer`` says how a statistics answer was made (``alerts``: exact; ``rollup``) and whether a
list's total was capped (``capped``); ``full_gc`` how many full garbage collections ran during
the timed runs (each stalls its request). Not a test: a measurement, reported in
bench/RESULTS.md ("Database at county size").
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect

from bench.db_scale_gen import Shape, generate, utc_now
from bench.db_scale_queries import (
    QUERIES,
    Persona,
    alert_sample,
    captured,
    explain,
    personas,
    request,
)
from bench.db_scale_queries import timed as time_query
from sitewatch.console.app import create_app
from sitewatch.console.domain.users import create_user
from sitewatch.console.settings import Settings
from sitewatch.console.store.db import MIGRATIONS, alembic_config, migrate

PASSWORD = "county-size-bench"
BASE_REVISION = "0012"
ROLLUP_REVISION = "0015"  # the statistics rollup: its backfill is timed
ACK_ALL_REVISION = "0018"  # its acknowledgement histogram summed over sites: timed
PG_SETTINGS = {  # a modest dedicated server's; fsync off as in the tests (timings are reads)
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}


def new_indexes() -> tuple[tuple[str, str], ...]:
    """(index, table) of migration 0013, or () before it exists."""
    found = sorted((MIGRATIONS / "versions").glob("0013_*.py"))
    if not found:
        return ()
    spec = importlib.util.spec_from_file_location("migration_0013", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple((name, table) for name, table, *_ in module.INDEXES)


@contextmanager
def database(kind: str, data: Path) -> Iterator[str]:
    """The URL of the benchmark's database in ``data`` (a PostgreSQL cluster started there)."""
    if kind == "sqlite":
        yield f"sqlite:///{data / 'console.db'}"
        return
    from tests.support.postgres import Postgres, _free_port, find_bin

    bin_dir = find_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(data, user, user)
    pg = Postgres(bin_dir, data, _free_port(), user)
    fresh = not (data / "data").exists()
    if fresh:
        pg.start()  # initdb and a first start with the test settings
        pg.stop()
    conf = data / "data" / "postgresql.auto.conf"
    conf.write_text("".join(f"{k} = '{v}'\n" for k, v in PG_SETTINGS.items()))
    if user:
        shutil.chown(conf, user, user)
    pg.start = lambda: _start(pg)  # type: ignore[method-assign]
    pg.start()
    if fresh:
        pg._admin("CREATE DATABASE county")
    try:
        yield pg.url("county")
    finally:
        pg.stop()


def _start(pg: Any) -> None:
    data = pg.root / "data"
    options = f"-p {pg.port} -k {pg.root} -c listen_addresses=127.0.0.1 -c fsync=off"
    r = pg._run(str(pg.bin / "pg_ctl"), "-D", str(data), "-o", options,
                "-l", str(pg.root / "server.log"), "-w", "-t", "120", "start")  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()}")


def fill(engine: Engine, shape: Shape, data: Path) -> datetime:
    """Migrate to 0012 and generate, unless ``data`` already holds this size; the history's
    end time."""
    marker = data / "generated.json"
    if marker.exists():
        done = json.loads(marker.read_text())
        if done["alerts"] == shape.alerts:
            return datetime.fromisoformat(done["now"])
        raise SystemExit(
            f"{data} holds {done['alerts']} alerts, not {shape.alerts}: another --data"
        )
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BASE_REVISION)
    now = utc_now()
    t0 = time.perf_counter()
    generate(engine, shape, now)
    vacuum(engine)
    log(f"generated {shape.alerts} alerts in {time.perf_counter() - t0:.0f} s")
    marker.write_text(json.dumps({"alerts": shape.alerts, "now": now.isoformat()}))
    return now


def vacuum(engine: Engine, *tables: str) -> None:
    """VACUUM (ANALYZE) ``tables`` (none named: the whole database); SQLite: ANALYZE."""
    pg = engine.dialect.name == "postgresql"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if pg:
            conn.exec_driver_sql("VACUUM (ANALYZE) " + ", ".join(tables))
            return
        for table in tables or ("",):
            conn.exec_driver_sql(f"ANALYZE {table}")


def set_phase(engine: Engine, phase: str) -> None:
    """``before``: 0013's indexes dropped, stamped at head; ``after``: 0013 applied."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    have = {ix["name"] for t in ("alerts", "incidents") for ix in inspect(engine).get_indexes(t)}
    indexes = new_indexes()
    if phase == "before":
        with engine.begin() as conn:
            for name, _table in indexes:
                if name in have:
                    conn.exec_driver_sql(f"DROP INDEX {name}")
            cfg.attributes["connection"] = conn
            command.stamp(cfg, "head")
        return
    if indexes and not all(name in have for name, _ in indexes):
        with engine.begin() as conn:  # some (an earlier 0013's): build them all, timed
            for name, _table in indexes:
                if name in have:
                    conn.exec_driver_sql(f"DROP INDEX {name}")
            cfg.attributes["connection"] = conn
            command.stamp(cfg, BASE_REVISION)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0013")
        log(f"migration 0013 (indexes) took {time.perf_counter() - t0:.1f} s")
        vacuum(engine)
    timed_upgrade(engine, cfg, "0014", ROLLUP_REVISION, "statistics rollup",
                  ("stats_alert_days", "stats_ack_days", "stats_incident_days"))  # fmt: skip
    timed_upgrade(engine, cfg, "0017", ACK_ALL_REVISION, "ack histogram over sites",
                  ("stats_ack_all_days",))  # fmt: skip
    migrate(engine)


def timed_upgrade(
    engine: Engine, cfg: Any, before: str, revision: str, what: str, tables: tuple[str, ...]
) -> None:
    """Upgrade to ``before`` (untimed), then to ``revision`` (timed, logged), then vacuum its
    ``tables``; nothing when the database is at ``revision`` or later."""
    with engine.connect() as conn:
        at = MigrationContext.configure(conn).get_current_revision() or ""
    if at >= revision:
        return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, before)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log(f"migration {revision} ({what}) took {time.perf_counter() - t0:.1f} s")
    vacuum(engine, *tables)


def run_phase(
    url: str, shape: Shape, now: datetime, args: argparse.Namespace
) -> list[dict[str, Any]]:
    settings = Settings(
        database_url=url, evidence_dir=args.data / "evidence", video_dir=args.data / "video",
        signing_key_file=args.data / "console.key", mqtt_host=None, notify_poll_s=0,
    )  # fmt: skip
    lines: list[dict[str, Any]] = []
    plans: list[str] = []
    with TestClient(create_app(settings)) as app:
        state = app.app.state.sitewatch  # type: ignore[attr-defined]
        engine = state.db.engine
        clients = _login(app, state, shape)
        if args.gc_freeze:  # what a server would do once started: full collections skip these
            gc.collect()
            gc.freeze()
        for name, (_role, sites, cameras) in personas(shape).items():
            scope_sites = None if sites == ["*"] else sites
            p = Persona(name, sites if scope_sites else [shape.site(i) for i in range(shape.sites)],
                        cameras, alert_sample(engine, scope_sites, cameras))  # fmt: skip
            if args.users and name not in args.users.split(","):
                continue
            for i, q in enumerate(QUERIES):
                if args.only and q.name not in args.only.split(","):
                    continue
                if args.explain:
                    plans.append(plans_of(engine, clients[name], q, p, now, args.phase_now))
                full_gc = gc.get_stats()[2]["collections"]
                ms = time_query(clients[name], q, p, runs=args.runs, budget_s=args.budget,
                                seed=i, now=now)  # fmt: skip
                full_gc = gc.get_stats()[2]["collections"] - full_gc
                body = request(clients[name], q, p, random.Random(i), now)
                line = {"database": engine.dialect.name, "alerts": shape.alerts,
                        "phase": args.phase_now, "query": q.name, "user": name,
                        "answer": _answer(body),
                        "runs": len(ms), "p50_ms": round(statistics.median(ms), 1),
                        "p95_ms": round(_p95(ms), 1), "max_ms": round(max(ms), 1),
                        "full_gc": full_gc}  # fmt: skip
                print(json.dumps(line), flush=True)
                lines.append(line)
    if args.explain:
        with open(args.explain, "a") as f:
            f.write("\n".join(plans))
    return lines


def plans_of(engine: Engine, client: TestClient, q: Any, p: Persona, now: datetime,
             phase: str) -> str:  # fmt: skip
    """The plans of the statements one request of ``q`` runs on alerts, incidents, evidence,
    timeline and actions (not the session's), long lines cut at 240 characters."""
    with captured(engine) as seen:
        request(client, q, p, random.Random(0), now)
    out = [f"## {phase} {q.name} as {p.name}"]
    for statement, params in seen:
        if "FROM users" in statement or "FROM web_sessions" in statement:
            continue
        out.append(" ".join(statement.split())[:240])
        out += [line[:240] for line in explain(engine, statement, params).splitlines()]
    return "\n".join(out) + "\n"


def _answer(body: Any) -> str:
    """How the answer was made: a statistics ``source``, a list's ``capped`` total, else ''."""
    if not isinstance(body, dict):
        return ""
    if "source" in body:
        return str(body["source"])
    return "capped" if body.get("total_capped") else ""


def _p95(ms: list[float]) -> float:
    return statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]


def _login(app: TestClient, state: Any, shape: Shape) -> dict[str, TestClient]:
    clients = {}
    for name, (role, sites, cameras) in personas(shape).items():
        with state.db.session() as s:
            from sitewatch.console.store.models import User

            if s.query(User).filter_by(username=name).first() is None:
                create_user(s, name, PASSWORD, role, sites, "en", cameras=cameras)
        c = TestClient(app.app)
        r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"login as {name}: expected 200, got {r.status_code}: {r.text}")
        clients[name] = c
    return clients


def table(lines: list[dict[str, Any]]) -> str:
    out = [
        "| phase | query | user | answer | runs | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in lines:
        out.append(f"| {x['phase']} | {x['query']} | {x['user']} | {x.get('answer', '')} "
                   f"| {x['runs']} | {x['p50_ms']} "
                   f"| {x['p95_ms']} | {x['max_ms']} |")  # fmt: skip
    return "\n".join(out)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=200_000)
    ap.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--data", type=Path, help="folder for the database (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep --data's database for a later run")
    ap.add_argument("--phase", choices=("before", "after", "both"), default="both")
    ap.add_argument("--runs", type=int, default=30, help="timed requests per query and user")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per query and user")
    ap.add_argument("--explain", type=Path, help="append each query's plans to this file")
    ap.add_argument("--only", help="comma-separated query names to run (default: all)")
    ap.add_argument("--users", help="comma-separated user names to run as (default: all)")
    ap.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the app has started, as `sitewatch server run` does",
    )
    ap.add_argument(
        "--generate-only",
        action="store_true",
        help="fill --data's database (with --keep) and stop: no migration, no query",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="# %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    temporary = args.data is None
    args.data = Path(args.data or tempfile.mkdtemp(prefix="sitewatch-dbscale-"))
    args.data.mkdir(parents=True, exist_ok=True)
    shape = Shape(alerts=args.alerts)
    try:
        with database(args.database, args.data) as url:
            engine = create_engine(url)
            now = fill(engine, shape, args.data)
            lines = []
            phases = ("before", "after") if args.phase == "both" else (args.phase,)
            for phase in () if args.generate_only else phases:
                set_phase(engine, phase)
                args.phase_now = phase
                lines += run_phase(url, shape, now, args)
            engine.dispose()
        print(table(lines))
    finally:
        if temporary or not args.keep:
            shutil.rmtree(args.data, ignore_errors=True)


if __name__ == "__main__":
    main()
