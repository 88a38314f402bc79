"""The replica registry on a real PostgreSQL (sitewatch/console/store/replicas.py): two replicas
find each other, one that stopped is gone, and a pending export is stale only when every
replica that could run it is gone or it is older than any export runs
(docs/design/replicas.md, "Uploads to the replica that asked")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sitewatch.console.store import replicas
from sitewatch.console.store.db import Database, migrate
from sitewatch.console.store.models import ConsoleReplica, VideoExport
from sitewatch.console.video.exports import settle_stale
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


def _export(s: Session, export_id: str, asked: datetime) -> None:
    s.add(
        VideoExport(
            id=export_id,
            site_id="north",
            camera_id="gate",
            stream="detect",
            start=asked,
            end=asked,
            requested_by="boss",
            requested_at=asked,
            state="pending",
        )
    )


def test_replicas_find_each_other_and_a_stopped_one_is_gone(postgres_url: str) -> None:  # noqa: F811
    db = Database(postgres_url)
    migrate(db.engine)
    a = replicas.Registry(db, "http://console1:8080/")
    b = replicas.Registry(db, "http://console2:8080")
    a.start()
    b.start()
    try:
        assert a.id != b.id
        assert a.url_of(b.id) == "http://console2:8080"
        assert b.url_of(a.id) == "http://console1:8080"
        assert a.url_of("0123456789abcdef") is None
        b.stop()
        time.sleep(replicas.LOOKUP_CACHE_S + 0.1)
        assert a.url_of(b.id) is None  # its sessions are gone with it: uploads get 410
        with db.session() as s:  # a replica killed: its heartbeat stops, and it is gone
            s.execute(
                update(ConsoleReplica)
                .where(ConsoleReplica.id == a.id)
                .values(seen_at=datetime.now(UTC) - timedelta(seconds=replicas.ALIVE_S + 1))
            )
        c = replicas.Registry(db, "http://console3:8080")
        c.beat()
        assert c.url_of(a.id) is None
    finally:
        a.stop()
        db.close()


def test_a_pending_export_is_stale_only_when_no_replica_that_ran_it_lives(
    postgres_url: str,  # noqa: F811
) -> None:
    db = Database(postgres_url)
    migrate(db.engine)
    old = replicas.Registry(db, "http://console1:8080")
    old.started_at = datetime.now(UTC) - timedelta(minutes=60)
    old.beat()
    new = replicas.Registry(db, "http://console2:8080")  # started now, after the export
    new.beat()
    now = datetime.now(UTC)
    try:
        with db.session() as s:
            _export(s, "asked-on-old", now - timedelta(minutes=5))  # the old replica runs it
            _export(s, "before-both", now - timedelta(minutes=61))  # no replica ran it then
            _export(s, "forgotten", now - timedelta(minutes=30))  # longer than any export runs
        assert new.oldest_start() == old.started_at
        with db.session() as s:
            assert settle_stale(s, new.oldest_start()) == 2  # not the one the old replica runs
        with db.session() as s:
            states = {e.id: e.state for e in s.scalars(select(VideoExport))}
        assert states == {"asked-on-old": "pending", "before-both": "failed", "forgotten": "failed"}
    finally:
        old.stop()
        new.stop()
        db.close()
