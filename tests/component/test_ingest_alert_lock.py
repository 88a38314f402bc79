"""Two replicas on one alert at once (issue 16, found by bench/console_load.py on the cluster):
the consumer stores the alert that lists a clip while another replica stores the clip's upload.
On a real PostgreSQL database, the upload's transaction is left open after staging the file;
the listing's transaction must wait for it (ingest.context.lock_alert) and then find the file
and verify it. Without the lock each side misses the other's uncommitted half: the listing
commits the file as ``expected`` and the staged copy is never looked at again."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from sitewatch.console.ingest.context import Context
from sitewatch.console.ingest.service import dispatch
from sitewatch.console.ingest.topics import route
from sitewatch.console.store.db import Database, migrate
from sitewatch.console.store.evidence import EvidenceStore, Quota
from sitewatch.console.store.models import Evidence
from sitewatch.contract import messages as m
from tests.support.ingest_support import CLIP, PREFIX, alert, evidence_file
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


def test_a_listing_waits_for_an_upload_of_its_file_in_flight(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = Database(postgres_url)
    migrate(db.engine)
    store = EvidenceStore(tmp_path / "evidence", Quota())  # one shared folder, as one mount
    aid = uuid.uuid4()
    clip_topic = m.evidence(PREFIX, "north", str(aid), "clip.mp4")
    listing = m.encode(alert(aid, 0, evidence=[evidence_file("clip.mp4", CLIP, "clip")]))
    alert_topic = m.alerts(PREFIX, "north")
    try:
        upload = db.session()
        s = upload.__enter__()
        dispatch(s, Context(store, PREFIX, clip_topic, route(PREFIX, clip_topic), _now()), CLIP)

        def consumer() -> None:
            ctx = Context(store, PREFIX, alert_topic, route(PREFIX, alert_topic), _now())
            with db.session() as s2:
                dispatch(s2, ctx, listing)

        other = threading.Thread(target=consumer)
        other.start()
        other.join(1.5)
        assert other.is_alive(), "the listing did not wait for the upload's open transaction"
        upload.__exit__(None, None, None)  # the upload commits: the listing goes on
        other.join(30.0)
        assert not other.is_alive()
        with db.session() as s3:
            row = s3.scalar(select(Evidence).where(Evidence.alert_id == str(aid)))
            assert row is not None and row.status == "stored", row and row.status
    finally:
        db.close()


def _now() -> datetime:
    return datetime.now(UTC)
