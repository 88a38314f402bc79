"""CPU cost per message of the console's ingest, per kind of message, without a broker.

    .venv/bin/python -m bench.ingest_cost [--database sqlite|postgresql] [--cameras 200]
        [--sites 4] [--rounds 4] [--alerts 0.25] [--profile] [--top 25]

Not a test: a measurement, reported in bench/RESULTS.md ("Ingest cost per message (issue
16)"). It builds a migrated console database (a SQLite file, or a fresh PostgreSQL cluster
started as the tests start one, tests/support/postgres.py), registers each site's edge (so
every message is signed and verified), and prepares what bench/console_load_edges.py's
simulated edges publish (the same builders: a :class:`SimEdge` whose ``send`` keeps the
message instead of publishing it). The messages go through the ingest worker's own path
(``Ingest._work_on``: a transaction per ``ingest_batch`` messages, a savepoint per message,
topic route, signature check, bounds check, handler, live events; on PostgreSQL the events
are NOTIFYed in the transaction, as a cluster replica does), one kind at a time so that each
kind's CPU time (``time.process_time``, this process only: the PostgreSQL server's CPU is not
counted) divided by its messages is that kind's cost in ms; the SQL statements each kind sent
(savepoints, commits and NOTIFYs included) per message are counted too, a figure no
neighbour's load can blur.

Per round (60 s of simulated time apart), per camera: a CameraStatus, a snapshot (its bytes
differ each round, as a camera's picture does), two RecordingIndex; and for ``--alerts`` of
the cameras an alert's life as the edge sends it: start; its two snapshot files (staged) then
the update listing them (verified); its clip (1.8 MB, staged) then the end listing it. Round 0
creates the cameras (first sight) and is reported apart as ``warmup``; the table is rounds
1.. ``rounds``-1. Any refused message makes the run fail (a cost of refusals is not the
cost of ingest). With ``--profile`` each kind also runs under cProfile (its times are then
inflated; the table's figures come from the run without it).

Before/after: run it with ``PYTHONPATH`` at another checkout (e.g. a ``git worktree`` of the
parent commit) from that checkout's folder; the JSON line says which ``sitewatch`` it imported.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import pwd
import random
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

import sitewatch
from bench.console_load_edges import Filler, Ledger, Profile, SimEdge
from sitewatch.console.domain.broker_accounts import EdgeCredentials, add_edge
from sitewatch.console.events import EventHub
from sitewatch.console.ingest.service import Ingest, Received
from sitewatch.console.settings import Settings
from sitewatch.console.store.db import Database, migrate
from sitewatch.mqtt import Receipt

ROUND_S = 60.0
START = 1_780_000_000.0  # simulated Unix time of round 0 (2026-05-28)
KINDS = (
    "camera_status",
    "snapshot",
    "recording_index",
    "alert_start",
    "evidence_snapshot",
    "alert_update",
    "evidence_clip",
    "alert_end",
)


class CapturingEdge(SimEdge):
    """A :class:`SimEdge` without a connection: what it would publish is kept in ``sent``."""

    def __init__(self, creds: EdgeCredentials, cameras: int) -> None:  # no super(): no paho
        assert creds.private_key is not None
        from sitewatch.contract.signing import Signer

        self.site = creds.site_id
        self.cameras = [f"cam{i:02d}" for i in range(cameras)]
        self.key = creds.private_key
        self.signer = Signer(creds.private_key)
        self.uploader = None
        self.ledger = Ledger()
        self.started = START - 3600
        self.sent: list[tuple[str, bytes, bool]] = []

    def send(
        self,
        kind: str,
        topic: str,
        payload: bytes,
        retain: bool = False,
        alert: tuple[str, int] | None = None,
    ) -> None:
        self.sent.append((topic, payload, retain))

    def take(self) -> list[tuple[str, bytes, bool]]:
        out, self.sent = self.sent, []
        return out


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL cluster (tests/support/postgres.py's), one database; stopped after."""
    from tests.support.postgres import Postgres, _free_port, find_bin

    bin_dir = find_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found: install Debian's 'postgresql'")
    root = Path(tempfile.mkdtemp(prefix="sitewatch-pg-"))  # not under a root-only folder
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses root
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = "postgres"
    pg = Postgres(bin_dir, root, _free_port(), user)
    pg.start()
    try:
        yield pg.url(pg.create_database())
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Rig:
    ingest: Ingest
    edges: list[CapturingEdge]
    filler: Filler
    rng: random.Random
    statements: int = 0  # SQL statements sent so far (savepoints and commits included)

    def count_statement(self, *_: object) -> None:
        self.statements += 1


def build(url: str, folder: Path, sites: int, cameras: int) -> Rig:
    settings = Settings(
        database_url=url,
        evidence_dir=folder / "evidence",
        video_dir=folder / "video",
        mqtt_host="127.0.0.1",  # never connected: the bench calls the worker's path itself
        mqtt_port=9,
    )
    db = Database(url)
    migrate(db.engine)
    with db.session() as s:
        creds = [add_edge(s, f"site{i:02d}") for i in range(sites)]
    hub = EventHub()
    if db.shared:  # a cluster replica NOTIFYs its events in the transaction
        from sitewatch.console.store.pg_events import PgEventRelay

        relay = PgEventRelay(db, hub)
        hub.relay_to(lambda event: None, relay.notify_in)
    ingest = Ingest(settings, db, hub)
    per_site = max(1, cameras // sites)
    edges = [CapturingEdge(c, per_site) for c in creds]
    rig = Rig(ingest, edges, Filler(Profile()), random.Random(16))
    event.listen(db.engine, "before_cursor_execute", rig.count_statement)
    return rig


def received(messages: list[tuple[str, bytes, bool]], at: float) -> list[Received]:
    when = datetime.fromtimestamp(at, UTC)
    receipt = Receipt(mid=1, qos=1, connection=0)
    return [Received(t, p, r, receipt, when) for t, p, r in messages]


def plan_round(rig: Rig, r: int, alert_share: float) -> dict[str, list[tuple[str, bytes, bool]]]:
    """Every message of round ``r``, by kind, in the order an edge sends them."""
    now = START + r * ROUND_S
    out: dict[str, list[tuple[str, bytes, bool]]] = defaultdict(list)
    # a camera's picture changes every minute: the same length, other bytes
    snapshot = rig.filler.snapshot[:-6] + r.to_bytes(4, "big") + rig.filler.snapshot[-2:]
    for edge in rig.edges:
        for cam in edge.cameras:
            edge.camera_status(cam, now)
            out["camera_status"] += edge.take()
            edge.snapshot(cam, snapshot)
            out["snapshot"] += edge.take()
            edge.recording_index(cam, now)
            out["recording_index"] += edge.take()
    for edge in rig.edges:
        for cam in edge.cameras:
            if rig.rng.random() >= alert_share:
                continue
            alert_id = uuid.UUID(int=rig.rng.getrandbits(128), version=4)
            started = now + rig.rng.uniform(0, 30)
            for seq, after, files in ((0, 0.0, ""), (1, 1.0, "_snapshot"), (2, 6.0, "_clip")):
                edge.alert(alert_id, cam, seq, started, started + after, rig.filler)
                *evidence, message = edge.take()
                if evidence:
                    out[f"evidence{files}"] += evidence
                out[("alert_start", "alert_update", "alert_end")[seq]].append(message)
    return out


def run_kind(
    rig: Rig, items: list[Received], profiler: cProfile.Profile | None
) -> tuple[float, int]:
    """CPU seconds and SQL statements to handle ``items`` as the worker does (batches of
    ``ingest_batch``)."""
    batch = rig.ingest.settings.ingest_batch
    rejected = rig.ingest.rejected
    statements = rig.statements
    t0 = time.process_time()
    if profiler is not None:
        profiler.enable()
    for i in range(0, len(items), batch):
        rig.ingest._work_on(items[i : i + batch])
    if profiler is not None:
        profiler.disable()
    spent = time.process_time() - t0
    if rig.ingest.rejected != rejected:
        raise SystemExit(
            f"expected every message stored, {rig.ingest.rejected - rejected} were refused "
            f"(first of the kind: {items[0].topic}); see the log above"
        )
    return spent, rig.statements - statements


def measure(args: argparse.Namespace, url: str, folder: Path) -> dict[str, Any]:
    rig = build(url, folder, args.sites, args.cameras)
    # each edge's status first: its site is online (as after the edge connected)
    for edge in rig.edges:
        edge.edge_status(START - 60)
    rig.ingest._work_on(received([m for e in rig.edges for m in e.take()], START - 60))
    cpu: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    sql: dict[str, int] = defaultdict(int)
    profiles: dict[str, cProfile.Profile] = {}
    warmup = 0.0
    for r in range(args.rounds):
        planned = plan_round(rig, r, args.alerts)
        for kind in KINDS:
            items = received(planned.get(kind, []), START + r * ROUND_S + 10)
            if not items:
                continue
            prof = None
            if args.profile and r > 0:
                prof = profiles.setdefault(kind, cProfile.Profile())
            spent, statements = run_kind(rig, items, prof)
            if r == 0:
                warmup += spent
                continue
            cpu[kind] += spent
            count[kind] += len(items)
            sql[kind] += statements
    total_n = sum(count.values())
    result: dict[str, Any] = {
        "database": args.database,
        "sitewatch": str(Path(sitewatch.__file__).parent.parent),
        "cameras": sum(len(e.cameras) for e in rig.edges),
        "rounds_measured": args.rounds - 1,
        "profiled": bool(args.profile),
        "ms_per_message": {k: round(1000 * cpu[k] / count[k], 3) for k in KINDS if count[k]},
        "statements_per_message": {k: round(sql[k] / count[k], 2) for k in KINDS if count[k]},
        "messages": dict(count),
        "all_ms_per_message": round(1000 * sum(cpu.values()) / max(1, total_n), 3),
        "warmup_cpu_s": round(warmup, 2),
    }
    for kind, prof in profiles.items():
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(args.top)
        print(f"--- {kind}: cProfile, cumulative, {count[kind]} messages ---")
        print(text.getvalue())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cameras", type=int, default=200, help="cameras in all")
    parser.add_argument("--sites", type=int, default=4, help="sites (edges), cameras split evenly")
    parser.add_argument("--rounds", type=int, default=4, help="rounds; the first is warm-up")
    parser.add_argument("--alerts", type=float, default=0.25, help="share of cameras alerting")
    parser.add_argument("--profile", action="store_true", help="cProfile each kind too")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first is warm-up)")
    folder = Path(tempfile.mkdtemp(prefix="sitewatch-ingest-cost-"))
    try:
        if args.database == "sqlite":
            result = measure(args, f"sqlite:///{folder / 'console.db'}", folder)
        else:
            with postgres_url() as url:
                result = measure(args, url, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
