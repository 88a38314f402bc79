"""A county's alert history for bench/db_scale.py: sites, cameras, incidents, alerts and the rows
each alert brings (timeline, evidence, workflow actions, an audit row), written fast.

Shape: ``sites`` x ``cameras`` (300 x 35), ``days`` (90) ending ``now``; camera rates lognormal
(a few busy cameras); rules no_helmet 70 %, restricted_zone 20 %, smoking 10 %; incidents of
1 + geometric alerts (mean 2.5) 5-240 s apart (inside the console's 300 s window), each alert in
its incident's state (an action on an incident applies to all its alerts). Open with probability
0.9 under an hour old, 0.5 under a day, 0.1 under a week, 0.003 beyond (the tail nobody worked):
new 60 %, acknowledged 25 %, assigned 15 %; else resolved 80 %, false positive 20 %. Per alert:
2 timeline messages, 3 evidence rows (status ``deleted`` 30 days after a resolved alert closed,
as retention leaves them), one workflow action per step, one audit row when closed. Incidents of
one key closer than the window are not merged (rare: about 4 incidents a camera a day).

How: numpy draws incidents and alerts into two staging tables (COPY on PostgreSQL, executemany
on SQLite); INSERT ... SELECT fills the console's tables, the alerts in time order as ingest
writes them. Only the time and JSON expressions differ between the two databases.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Connection, Engine, insert, inspect, text

from bench.db_scale_sql import FILL, STAGING
from sitewatch.console.store.models import Camera, Site

RULES = ("no_helmet", "restricted_zone", "smoking")
RULE_P = (0.7, 0.2, 0.1)
ZONES = {"no_helmet": ("work", "gate"), "restricted_zone": ("pit",), "smoking": ("no_smoking",)}
LABELS = {"no_helmet": "head", "restricted_zone": "person", "smoking": "cigarette"}
OPEN = ("new", "acknowledged", "assigned")
CHUNK_INCIDENTS = 200_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shape:
    alerts: int
    sites: int = 300
    cameras: int = 35
    days: float = 90.0
    seed: int = 16

    def site(self, i: int) -> str:
        return f"s{i:03d}"

    def camera(self, j: int) -> str:
        return f"c{j:02d}"


def alert_id(seed: int, i: int) -> str:
    """The ``i``-th alert's id: a random-looking UUID4, the same for the same seed and index."""
    return str(uuid.UUID(bytes=hashlib.md5(b"%d:a%d" % (seed, i)).digest(), version=4))


def incident_id(seed: int, i: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(b"%d:i%d" % (seed, i)).digest(), version=4))


def generate(engine: Engine, shape: Shape, now: datetime) -> None:
    """Fill the migrated, empty database behind ``engine`` with ``shape``'s history."""
    dialect = engine.dialect.name
    with engine.begin() as conn:
        _sites_and_cameras(conn, shape, now)
        for statement in STAGING:
            conn.exec_driver_sql(statement)
    t0 = time.perf_counter()
    for incidents, alerts in _chunks(shape, now.timestamp()):
        with engine.begin() as conn:
            _stage(conn, "gen_incidents", incidents, dialect)
            _stage(conn, "gen_alerts", alerts, dialect)
    log.info("staged in %.0f s", time.perf_counter() - t0)
    cutoff = now.timestamp() - 30 * 86400
    with engine.begin() as conn:
        rebuild = _drop_secondary(conn) if dialect == "postgresql" else []
        for statement in FILL[dialect]:
            t0 = time.perf_counter()
            conn.execute(text(statement), {"cutoff": cutoff})
            log.info("%s in %.0f s", statement.split("(")[0].strip(), time.perf_counter() - t0)
        t0 = time.perf_counter()
        for statement in rebuild:
            conn.exec_driver_sql(statement)
        log.info("indexes and constraints rebuilt in %.0f s", time.perf_counter() - t0)
        conn.exec_driver_sql("DROP TABLE gen_alerts")
        conn.exec_driver_sql("DROP TABLE gen_incidents")
    if inspect(engine).has_table("stats_alert_days"):  # migrated past 0015: count the rollup
        from sitewatch.console.domain.stats_rollup_build import rebuild as recount

        with engine.begin() as conn:
            recount(conn)


FILLED = ("alerts", "incidents", "alert_events", "evidence", "alert_actions", "audit_log")


def _drop_secondary(conn: Connection) -> list[str]:
    """Drop the filled tables' foreign keys, unique constraints and indexes (not primary keys)
    on PostgreSQL: built once after the load instead of row by row; the statements that put
    them back exactly as the migrations made them."""
    conn.exec_driver_sql("SET LOCAL work_mem = '512MB'")
    tables = ", ".join(f"'{t}'" for t in FILLED)
    constraints = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        f"FROM pg_constraint WHERE conrelid::regclass::text IN ({tables}) "
        "AND contype IN ('f', 'u') ORDER BY contype DESC"
    ).all()  # unique ones first: a foreign key may need one
    owned = {name for _, name, _, _ in constraints}
    indexes = conn.exec_driver_sql(
        f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({tables}) "
        "AND indexname NOT LIKE '%%_pkey'"
    ).all()
    for table, name, _, _ in constraints:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    plain = [(name, ddl) for name, ddl in indexes if name not in owned]
    for name, _ in plain:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    rebuild = [ddl for _, ddl in plain]
    rebuild += [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, _, d in constraints]
    return rebuild


def _sites_and_cameras(conn: Connection, shape: Shape, now: datetime) -> None:
    sites = [
        {"id": shape.site(i), "name": f"Site {i}", "edge_state": "online", "last_seen_at": now,
         "timezone": "Asia/Shanghai" if i % 10 else "Asia/Urumqi"}
        for i in range(shape.sites)
    ]  # fmt: skip
    conn.execute(insert(Site), sites)
    cams = [
        {"site_id": shape.site(i), "camera_id": shape.camera(j), "name": f"Camera {j}",
         "state": "online"}
        for i in range(shape.sites) for j in range(shape.cameras)
    ]  # fmt: skip
    conn.execute(insert(Camera), cams)


Columns = dict[str, list[object]]


def _chunks(shape: Shape, now_s: float) -> Iterator[tuple[Columns, Columns]]:
    """(incident columns, alert columns) per chunk of incidents, until ``shape.alerts``."""
    rng = np.random.default_rng(shape.seed)
    n_cams = shape.sites * shape.cameras
    weights = rng.lognormal(0.0, 1.0, n_cams)
    weights /= weights.sum()
    done_alerts = done_incidents = 0
    while done_alerts < shape.alerts:
        k = rng.geometric(0.4, CHUNK_INCIDENTS)
        total = np.cumsum(k)
        if done_alerts + total[-1] >= shape.alerts:
            cut = int(np.searchsorted(total, shape.alerts - done_alerts))
            k = k[: cut + 1]
            k[-1] -= done_alerts + int(k.sum()) - shape.alerts
        yield _chunk(rng, shape, weights, k, done_alerts, done_incidents, now_s)
        done_alerts += int(k.sum())
        done_incidents += len(k)


def _chunk(
    rng: np.random.Generator,
    shape: Shape,
    weights: np.ndarray,
    k: np.ndarray,
    a0: int,
    i0: int,
    now_s: float,
) -> tuple[Columns, Columns]:
    n_inc, n = len(k), int(k.sum())
    inc_of = np.repeat(np.arange(n_inc), k)
    firsts = np.concatenate(([0], np.cumsum(k)[:-1]))
    gaps = rng.uniform(5, 240, n)
    gaps[firsts] = 0.0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[firsts], k)
    dur = rng.uniform(3, 60, n)
    span = np.maximum.reduceat(offset + dur, firsts) + 60
    horizon = shape.days * 86400
    first_s = now_s - span - rng.uniform(0, 1, n_inc) * (horizon - span)
    start = np.repeat(first_s, k) + offset
    last = start + dur
    recv = start + rng.uniform(0.3, 3, n)
    score = rng.uniform(0.5, 0.98, n)
    inc_last = np.maximum.reduceat(last, firsts)
    order = np.lexsort((-score, inc_of))
    best = order[firsts]
    cam = rng.choice(len(weights), n_inc, p=weights)
    rule = rng.choice(3, n_inc, p=RULE_P)
    zone_pick = rng.integers(0, 2, n_inc)
    age = now_s - inc_last
    p_open = np.select([age < 3600, age < 86400, age < 7 * 86400], [0.9, 0.5, 0.1], 0.003)
    is_open = rng.uniform(0, 1, n_inc) < p_open
    open_kind = rng.choice(3, n_inc, p=(0.6, 0.25, 0.15))
    closed_kind = rng.uniform(0, 1, n_inc) < 0.8
    ack = np.minimum(inc_last + 1 + rng.lognormal(np.log(300), 1.0, n_inc), now_s - 1)
    close = np.minimum(ack + rng.lognormal(np.log(1800), 1.0, n_inc), now_s - 1)
    states = [
        OPEN[int(o)] if op else ("resolved" if c else "false_positive")
        for op, o, c in zip(is_open.tolist(), open_kind.tolist(), closed_kind.tolist(), strict=True)
    ]
    ack = np.where([s == "new" for s in states], -1.0, ack)
    close = np.where(is_open, -1.0, close)
    sites = [shape.site(int(c) // shape.cameras) for c in cam.tolist()]
    cams = [shape.camera(int(c) % shape.cameras) for c in cam.tolist()]
    rules = [RULES[int(r)] for r in rule.tolist()]
    zones = [
        ZONES[r][int(z) % len(ZONES[r])] for r, z in zip(rules, zone_pick.tolist(), strict=True)
    ]
    assignee = [
        f"op{int(c) % 40:02d}" if s == "assigned" or (s == "resolved" and c % 2) else ""
        for s, c in zip(states, cam.tolist(), strict=True)
    ]
    inc_ids = [incident_id(shape.seed, i0 + i) for i in range(n_inc)]
    incidents: Columns = {
        "id": list(inc_ids), "site_id": list(sites), "camera_id": list(cams), "rule": list(rules),
        "zone_id": list(zones), "state": list(states), "assignee": list(assignee),
        "first_s": first_s.round(3).tolist(), "last_s": inc_last.round(3).tolist(),
        "n": k.tolist(), "best_id": [alert_id(shape.seed, a0 + int(b)) for b in best.tolist()],
        "best_score": score[best].round(4).tolist(), "ack_s": ack.round(3).tolist(),
        "close_s": close.round(3).tolist(),
    }  # fmt: skip
    idx = inc_of.tolist()
    x = rng.uniform(0, 0.8, n).round(3).tolist()
    y = rng.uniform(0, 0.6, n).round(3).tolist()
    alerts: Columns = {
        "id": [alert_id(shape.seed, a0 + i) for i in range(n)],
        "incident_id": [inc_ids[i] for i in idx], "site_id": [sites[i] for i in idx],
        "camera_id": [cams[i] for i in idx], "rule": [rules[i] for i in idx],
        "zone_id": [zones[i] for i in idx], "label": [LABELS[rules[i]] for i in idx],
        "track_id": rng.integers(1, 5000, n).tolist(), "score": score.round(4).tolist(),
        "box": [f"[{a}, {b}, {a + 0.1:.3f}, {b + 0.3:.3f}]" for a, b in zip(x, y, strict=True)],
        "start_s": start.round(3).tolist(), "last_s": last.round(3).tolist(),
        "recv_s": recv.round(3).tolist(),
        "ack_s": _after(ack[inc_of], recv + 1), "close_s": _after(close[inc_of], recv + 2),
        "state": [states[i] for i in idx], "assignee": [assignee[i] for i in idx],
    }  # fmt: skip
    return incidents, alerts


def _after(t: np.ndarray, floor: np.ndarray) -> list[object]:
    """``t`` (-1: none) no earlier than ``floor``, to the millisecond."""
    out: list[object] = np.where(t < 0, -1.0, np.maximum(t, floor)).round(3).tolist()
    return out


def _stage(conn: Connection, table: str, cols: Columns, dialect: str) -> None:
    names = list(cols)
    rows = zip(*cols.values(), strict=True)
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            batch: list[str] = []
            for row in rows:
                batch.append("\t".join(map(str, row)))
                if len(batch) >= 50_000:
                    copy.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                copy.write("\n".join(batch) + "\n")
        return
    marks = ", ".join("?" for _ in names)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", list(rows))


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
