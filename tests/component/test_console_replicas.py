"""Console replicas on one real PostgreSQL database (issue 16): two ``create_app`` consoles
share the live feed (LISTEN/NOTIFY), the sessions and the login limits; several processes
migrate one fresh database at the same moment; two notification workers send a notification
once, and a worker takes over when the other's connection dies; one retention sweep at a
time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import select, text

from sitewatch.console.app import RELAY, create_app
from sitewatch.console.domain import retention
from sitewatch.console.domain.retention import SweepResult
from sitewatch.console.domain.security import SESSION_COOKIE
from sitewatch.console.domain.users import create_user
from sitewatch.console.events import LiveEvent
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.schemas import SiteOut
from sitewatch.console.settings import Settings
from sitewatch.console.state import AppState
from sitewatch.console.store.db import Database, alembic_config
from sitewatch.console.store.evidence import EvidenceStore
from sitewatch.console.store.models import Notification, NotifyRoute
from sitewatch.console.store.pg_events import NOTIFY_MAX_BYTES, PgEventRelay, payload_of
from sitewatch.contract.messages import CameraStats, EdgeStats
from tests.component.test_server_events import _free_port, _login, _messages
from tests.support.console_support import PASSWORD, make_settings, seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401

REPO = Path(__file__).resolve().parents[2]

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@dataclass
class Replica:
    """A console app served by uvicorn (its lifespan run once, by uvicorn: one relay)."""

    settings: Settings
    app: FastAPI
    base: str

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sitewatch
        return state

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)


@dataclass
class Pair:
    a: Replica
    b: Replica
    url: str


@pytest.fixture
def pair(postgres_url: str, tmp_path: Path) -> Iterator[Pair]:  # noqa: F811
    """Replicas A and B (each its own app, engine and relay) on one database; li.wei may log
    in (login_attempts=2 per user name and address, 3 per user name)."""
    replicas = []
    with ExitStack() as stack:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            settings = make_settings(
                folder, database_url=postgres_url, notify_poll_s=0, login_attempts=2,
                login_attempts_per_user=3,
            )  # fmt: skip
            app = create_app(settings)
            replicas.append(Replica(settings, app, stack.enter_context(served(app))))
        with replicas[0].state.db.session() as s:
            create_user(s, "li.wei", PASSWORD, "manager", ["north"], "en")
        yield Pair(replicas[0], replicas[1], postgres_url)


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread (its lifespan too): its URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def relay_of(replica: Replica) -> PgEventRelay:
    relay = replica.state.services[RELAY]
    assert isinstance(relay, PgEventRelay)
    return relay


def test_an_event_published_on_one_replica_reaches_the_streams_of_the_other_once(
    pair: Pair,
) -> None:
    """A's events (one small, one over NOTIFY's payload limit) reach a stream on B once each;
    B's own event reaches it once (not once more through PostgreSQL)."""
    big = {"id": "north-big", "site_id": "north", "note": "x" * 20_000}
    assert len(json.dumps(big)) > NOTIFY_MAX_BYTES
    c = _login(pair.b.base, "li.wei")
    with c.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        pair.a.state.hub.publish(LiveEvent("alert", "north", {"id": "north-a", "site_id": "north"}))
        pair.a.state.hub.publish(LiveEvent("alert", "north", big))
        pair.b.state.hub.publish(LiveEvent("alert", "north", {"id": "north-b", "site_id": "north"}))
        pair.a.state.hub.publish(LiveEvent("alert", "north", {"id": "last", "site_id": "north"}))
        seen = []
        for kind, data in got:
            if kind == "alert":
                seen.append(json.loads(data)["id"])
                if seen[-1] == "last":  # a second copy of any event would come within 1 s
                    time.sleep(1.0)
                    end = LiveEvent("alert", "north", {"id": "end", "site_id": "north"})
                    pair.a.state.hub.publish(end)
                if seen[-1] == "end":
                    break
    c.close()
    assert sorted(seen) == ["end", "last", "north-a", "north-b", "north-big"], seen
    assert seen.index("north-a") < seen.index("north-big") < seen.index("last")
    assert relay_of(pair.b).received == 4 and relay_of(pair.a).dropped == 0


def test_events_sent_in_a_transaction_reach_the_other_replica_at_its_commit_only(
    pair: Pair,
) -> None:
    """Ingest's way (EventHub.publish_in): events of a rolled-back transaction never reach B;
    those of a committed one do, once each, the large one too; A's relay is not used twice."""
    big = {"id": "tx-big", "site_id": "north", "note": "y" * 20_000}
    hub = pair.a.state.hub
    c = _login(pair.b.base, "li.wei")
    with c.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        with pytest.raises(RuntimeError), pair.a.state.db.session() as s:
            assert hub.publish_in(s, [LiveEvent("alert", "north", {"id": "rolled-back"})])
            raise RuntimeError("the transaction fails after the events were handed over")
        with pair.a.state.db.session() as s:
            events = [LiveEvent("alert", "north", {"id": "tx-a"}), LiveEvent("alert", "north", big)]
            assert hub.publish_in(s, events)
            time.sleep(1.0)  # not before the commit
            assert relay_of(pair.b).received == 0
        hub.publish(LiveEvent("alert", "north", {"id": "end", "site_id": "north"}))
        seen = []
        for kind, data in got:
            if kind == "alert":
                seen.append(json.loads(data)["id"])
                if seen[-1] == "end":
                    break
    c.close()
    assert seen == ["tx-a", "tx-big", "end"], seen


def test_the_relay_reconnects_after_its_connections_are_cut(pair: Pair) -> None:
    """The server ends every relay connection (as a failover or a network cut would): both
    replicas reconnect, and A's next event reaches B's stream."""
    b = relay_of(pair.b)
    c = _login(pair.b.base, "li.wei")
    with c.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        with psycopg.connect(pair.url.replace("+psycopg", ""), autocommit=True) as admin:
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'sitewatch-live-%'"
            ).fetchall()
        assert len(cut) == 4  # a sender and a listener per replica
        deadline = time.monotonic() + 20
        while b.listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)  # B notices its listener's end (it waits 0.5 s to reconnect) ...
        assert not b.listening.is_set(), "B did not notice its listener's connection end"
        assert b.listening.wait(20), "B's listener did not come back"  # ... and comes back
        for i in range(50):  # A's sender may find its cut connection first: send till one lands
            event = LiveEvent("alert", "north", {"id": f"after-{i}", "site_id": "north"})
            pair.a.state.hub.publish(event)
            time.sleep(0.1)
            if relay_of(pair.a).sent:
                break
        deadline = time.monotonic() + 20
        for kind, data in got:
            if kind == "alert":
                assert json.loads(data)["id"].startswith("after-")
                break
            assert time.monotonic() < deadline, "no event reached B after the cut"
    c.close()


def test_a_session_made_on_one_replica_works_on_the_other(pair: Pair) -> None:
    on_a = _login(pair.a.base, "li.wei")
    on_b = pair.b.client()
    on_b.cookies.set(SESSION_COOKIE, on_a.cookies[SESSION_COOKIE])
    on_b.headers["X-CSRF-Token"] = "console"
    assert on_b.get("/api/auth/me").json()["username"] == "li.wei"
    assert on_b.post("/api/auth/logout").status_code == 204
    assert on_a.get("/api/auth/me").status_code == 401  # ended on B: ended everywhere


def test_the_login_limit_counts_failures_on_both_replicas(pair: Pair) -> None:
    """login_attempts=2 per (user, address): one failure on each replica uses them up."""

    def login(replica: Replica, password: str) -> int:
        body = {"username": "li.wei", "password": password}
        with replica.client() as c:
            code: int = c.post("/api/auth/login", json=body).status_code
        return code

    assert login(pair.a, "not-the-password") == 401
    assert login(pair.b, "not-the-password") == 401
    assert login(pair.a, PASSWORD) == 429
    assert login(pair.b, PASSWORD) == 429


MIGRATE = """
import sys, time
from sitewatch.console.store.db import Database, migrate
db = Database(sys.argv[1])
with db.engine.connect():  # connected: only the migration itself is left to race
    pass
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
migrate(db.engine)
"""


def test_several_replicas_migrate_one_fresh_database_at_the_same_moment(
    postgres_url: str,  # noqa: F811
) -> None:
    at = time.time() + 4.0  # each process imports first, then all start together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, postgres_url, str(at)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n---\n".join(outputs)
    db = Database(postgres_url)
    try:
        with db.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert list(versions) == [HEAD]
    finally:
        db.close()


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers())


def test_two_workers_on_one_database_send_a_notification_once(pair: Pair, rx: Receivers) -> None:
    with pair.a.state.db.session() as s:
        s.add(
            NotifyRoute(
                name="wecom", channel="wecom", sites=["*"], target={"url": f"{rx.base}/wecom?key=k"}
            )
        )
    seed_alert(pair.a, received_at=datetime.now(UTC))
    dbs = [Database(pair.url), Database(pair.url)]  # as two replicas: an engine each
    workers = [NotifyWorker(db, pair.a.settings) for db in dbs]
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def run(worker: NotifyWorker) -> None:
        start.wait()
        for _ in range(5):
            try:
                worker.tick()
            except Exception as exc:  # two passes routing at once: a duplicate AlertNotice
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        assert len(rx.messages("wecom")) == 1, rx.messages("wecom")
        assert sum(w.sent for w in workers) == 1 and not rx.refused
        with pair.a.state.db.session() as s:
            assert [n.state for n in s.scalars(select(Notification))] == ["sent"]
    finally:
        for w, db in zip(workers, dbs, strict=True):
            w.client.close()
            db.close()


def test_a_worker_takes_over_when_the_holders_connection_dies(pair: Pair, rx: Receivers) -> None:
    """Replica A holds the notification job (as in the middle of a pass) and dies: the server
    ends its connection, the lock goes with it, and B's next pass sends."""
    with pair.a.state.db.session() as s:
        s.add(
            NotifyRoute(
                name="wecom", channel="wecom", sites=["*"], target={"url": f"{rx.base}/wecom?key=k"}
            )
        )
    seed_alert(pair.a, received_at=datetime.now(UTC))
    holder, other = Database(pair.url), Database(pair.url)
    worker = NotifyWorker(other, pair.a.settings)
    try:
        with holder.exclusive("notify") as mine:
            assert mine
            assert worker.tick() == 0 and not rx.accepted  # A holds it: B skips its pass
            dsn = pair.url.replace("postgresql+psycopg", "postgresql")
            with psycopg.connect(dsn, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted"
                ).fetchall()
                assert killed == [(True,)]
                # pg_terminate_backend only signals: the lock goes when that backend has exited
                held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                deadline = time.monotonic() + 10.0
                while admin.execute(held).fetchone() != (0,):
                    assert time.monotonic() < deadline, "A's backend still holds the lock"
                    time.sleep(0.05)
            assert worker.tick() == 1  # the lock went with A's connection
        assert len(rx.messages("wecom")) == 1
    finally:
        worker.client.close()
        holder.close()
        other.close()


def test_one_replica_sweeps_retention_at_a_time(pair: Pair) -> None:
    """While A sweeps (holds the retention job), B's sweep does nothing; after, B's deletes."""
    old = datetime.now(UTC) - timedelta(days=90)
    files = [("snapshot.jpg", "snapshot", "image/jpeg", b"jpeg")]
    alert = seed_alert(pair.a, state="resolved", closed_at=old, started_at=old, files=files)
    path = pair.a.settings.evidence_dir / "north" / alert / "snapshot.jpg"
    store = EvidenceStore(pair.a.settings.evidence_dir)
    holder, other = Database(pair.url), Database(pair.url)
    try:
        with holder.exclusive("retention") as mine:
            assert mine
            assert retention.sweep(other, store, retention_days=30) == SweepResult(0, 0, 0)
            assert path.exists()
        assert retention.sweep(other, store, retention_days=30).files_deleted == 1
        assert not path.exists()
    finally:
        holder.close()
        other.close()


def _site_event(cameras: int) -> LiveEvent:
    """A site event as ingest publishes it, the edge's stats listing ``cameras`` cameras,
    with long ids and every optional field filled."""
    now = datetime.now(UTC)
    stats = EdgeStats(
        site_id="county-site-0042", at=now, interval_s=10.0,
        cameras=[
            CameraStats(
                camera_id=f"camera-{i:04d}", state="online", fps_in=12.5, fps_analysed=4.25,
                frames_dropped=3, reconnects=0,
            )
            for i in range(cameras)
        ],
        batches=100, batch_size_mean=3.5, inference_ms_p50=12.3, inference_ms_p95=25.1,
        frames_dropped_stale=0, outbox_depth=0, disk_hours_left=123.4,
    )  # fmt: skip
    site = SiteOut(
        id="county-site-0042", name="County site 42", edge_state="online",
        software_version="1.0.0", config_version="sha256:" + "a" * 64, last_seen_at=now,
        open_alerts=12, stats=stats.model_dump(mode="json", exclude={"schema_id"}),
        timezone="Asia/Shanghai",
    )  # fmt: skip
    return LiveEvent("site", site.id, site.model_dump(mode="json"))


@pytest.mark.parametrize(("cameras", "inline"), [(1, True), (35, True), (60, True), (100, False)])
def test_a_site_event_goes_inline_up_to_about_60_cameras(cameras: int, inline: bool) -> None:
    """The largest events are site events (their edge's stats, a line per camera): one edge
    box's (35 cameras, docs/design/replicas.md) fits a NOTIFY; a larger edge's goes by row."""
    size = len(payload_of("0123456789abcdef", 123456, _site_event(cameras)).encode())
    assert (size <= NOTIFY_MAX_BYTES) is inline, size
