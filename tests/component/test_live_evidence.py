"""An alert's live view says which of its evidence files have arrived (real mosquitto, real
SQLite): a file arriving after its listing sends the alert again with that file ``stored``, so
no two live events of an alert carry the same body (issue 16: 1118 identical re-sends counted
by bench/console_load.py when the cluster's files arrived over HTTP after their listing), and
the list answers the same view."""

from __future__ import annotations

import uuid
from pathlib import Path

from sitewatch.console.events import LiveEvent
from tests.support.ingest_support import CLIP, JPEG, alert, edge_of, evidence_file, live_console
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401


def states(event: LiveEvent) -> list[tuple[str, str, str]]:
    """(name, kind, status) of each file the event's alert lists."""
    return [(f["name"], f["kind"], f["status"]) for f in event.data["evidence_files"]]


def test_a_file_arriving_after_its_listing_changes_the_live_view(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    files = [evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")]
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        feed = console.listen()
        edge.alert(alert(aid, 1, evidence=files))
        listed = console.next_event(feed)
        assert states(listed) == [
            ("snap.jpg", "snapshot", "expected"),
            ("clip.mp4", "clip", "expected"),
        ]
        edge.evidence("north", aid, "clip.mp4", CLIP)
        clip = console.next_event(feed)
        # the same message's view, its snapshot still missing: only the clip's status changed
        assert (clip.data["id"], clip.data["seq"]) == (str(aid), 1)
        assert clip.data["snapshot_url"] is None
        assert states(clip)[1] == ("clip.mp4", "clip", "stored")
        assert clip.data != listed.data
        edge.evidence("north", aid, "snap.jpg", JPEG)
        snap = console.next_event(feed)
        assert snap.data["snapshot_url"] == f"/api/alerts/{aid}/evidence/snap.jpg"
        assert [s for *_, s in states(snap)] == ["stored", "stored"]
        edge.evidence("north", aid, "clip.mp4", CLIP)  # a repeat of a stored file: no event
        edge.alert(alert(aid, 2, end=True, evidence=files))
        ended = console.next_event(feed)
        assert ended.data["seq"] == 2, "the repeated file sent the alert again"
        console.add_user("mia", "manager", ["north"])
        page = console.login("mia").get("/api/alerts").json()
        assert page["items"] == [ended.data]  # the list and the live stream: one view
