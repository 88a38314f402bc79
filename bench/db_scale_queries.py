"""The console's read queries as users send them, for bench/db_scale.py: each a request to the
real app (TestClient, a logged-in session), its parameters drawn afresh for every run.

Users: ``admin`` (every site), ``site`` (a manager of one site), ``cams`` (a manager of three
cameras of another site). Queries: the feed as it opens (open alerts, oldest first), filtered
(site, camera, rule, state; newest first), deep (closed alerts, newest first, offset 1,000 to
10,000), an alert's detail, the incident list (as it opens; closed ones newest first), and a
month's statistics (30 days ending somewhere in the last 60; all the user's sites, and one site).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from bench.db_scale_gen import RULES, Shape
from sitewatch.console.store.models import Alert

Params = dict[str, Any]


@dataclass(frozen=True)
class Persona:
    name: str
    sites: list[str]  # the sites the user's queries pick from
    cameras: list[str] | None  # "site/camera" entries, None = every camera of ``sites``
    alert_ids: list[str]  # alerts the user may open


@dataclass(frozen=True)
class Query:
    name: str
    path: str  # may hold {id}
    params: Callable[[random.Random, Persona, datetime], Params]


def personas(shape: Shape) -> dict[str, tuple[str, list[str], list[str] | None]]:
    """user name → (role, sites, cameras) as stored."""
    site, other = shape.site(7 % shape.sites), shape.site(11 % shape.sites)
    cams = [f"{other}/{shape.camera(j % shape.cameras)}" for j in (1, 2, 3)]
    return {
        "admin": ("admin", ["*"], None),
        "site": ("manager", [site], None),
        "cams": ("manager", [other], cams),
    }


def alert_sample(engine: Engine, sites: list[str] | None, cameras: list[str] | None) -> list[str]:
    """Up to 500 alert ids the user may open, from busy and quiet cameras alike."""
    stmt = select(Alert.id).limit(500)
    if cameras is not None:
        site = cameras[0].split("/")[0]
        stmt = stmt.where(
            Alert.site_id == site, Alert.camera_id.in_([c.split("/")[1] for c in cameras])
        )
    elif sites is not None:
        stmt = stmt.where(Alert.site_id.in_(sites))
    else:
        stmt = select(Alert.id).where(Alert.site_id.in_(["s001", "s150", "s299"])).limit(500)
    with engine.connect() as conn:
        return [r for (r,) in conn.execute(stmt)]


def _site(rng: random.Random, p: Persona) -> str:
    return rng.choice(p.sites)


def _camera(rng: random.Random, p: Persona, site: str) -> str:
    if p.cameras is not None:
        return rng.choice(p.cameras).split("/")[1]
    return f"c{rng.randrange(35):02d}"


def _filtered(rng: random.Random, p: Persona, now: datetime) -> Params:
    site = _site(rng, p)
    states = rng.choice([["resolved"], ["false_positive"], ["new", "acknowledged", "assigned"]])
    return {"site": site, "camera": _camera(rng, p, site), "rule": rng.choice(RULES),
            "state": states, "order": "newest"}  # fmt: skip


def _deep(rng: random.Random, p: Persona, now: datetime) -> Params:
    out: Params = {"state": ["resolved", "false_positive"], "order": "newest"}
    out["offset"] = rng.randrange(1_000, 10_001) if p.cameras is None else rng.randrange(0, 1_001)
    return out


def _month(rng: random.Random, p: Persona, now: datetime) -> Params:
    until = now - timedelta(days=rng.uniform(0, 60))
    return {"since": (until - timedelta(days=30)).isoformat(), "until": until.isoformat()}


def _month_site(rng: random.Random, p: Persona, now: datetime) -> Params:
    return {**_month(rng, p, now), "site": _site(rng, p)}


QUERIES = (
    Query("feed_open", "/api/alerts", lambda r, p, n: {}),
    Query("feed_filtered", "/api/alerts", _filtered),
    Query("feed_deep", "/api/alerts", _deep),
    Query("alert_detail", "/api/alerts/{id}", lambda r, p, n: {}),
    Query("incidents_open", "/api/incidents", lambda r, p, n: {}),
    Query("incidents_closed", "/api/incidents", _deep),
    Query("stats_month", "/api/stats", _month),
    Query("stats_month_site", "/api/stats", _month_site),
)


def request(client: TestClient, q: Query, p: Persona, rng: random.Random, now: datetime) -> Any:
    path = q.path.format(id=rng.choice(p.alert_ids)) if "{id}" in q.path else q.path
    r = client.get(path, params=q.params(rng, p, now))
    if r.status_code != 200:
        raise RuntimeError(f"{q.name} as {p.name}: expected 200, got {r.status_code}: {r.text}")
    return r.json()


def timed(
    client: TestClient, q: Query, p: Persona, *, runs: int, budget_s: float, seed: int,
    now: datetime,
) -> list[float]:  # fmt: skip
    """Milliseconds of ``runs`` requests after an unreported warm-up; stops early (at 3 runs
    or more) once ``budget_s`` is spent, so a query of seconds does not hold the bench."""
    rng = random.Random(seed)
    request(client, q, p, rng, now)
    out: list[float] = []
    begun = time.perf_counter()
    while len(out) < runs:
        t0 = time.perf_counter()
        request(client, q, p, rng, now)
        out.append((time.perf_counter() - t0) * 1000)
        if len(out) >= 3 and time.perf_counter() - begun > budget_s:
            break
    return out


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) ``engine`` runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    """The plan: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    pg = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return "\n".join(str(r[0]) if pg else f"{r[1]} {r[2]} {r[3]}" for r in rows)
