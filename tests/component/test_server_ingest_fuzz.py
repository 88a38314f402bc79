"""Fuzzing the console's ingest: thousands of messages mutated from valid ones of every kind
(bytes flipped, inserted, deleted; fields dropped, repeated, of the wrong type; huge strings,
deep nesting, numbers out of range, odd Unicode; payloads over the size limit; evidence bytes
on any topic and any bytes on evidence topics), seeded so that a failure repeats.

Each is handed to ingest's dispatcher on a real SQLite file the way the worker does, and a
share of them goes through a real mosquitto into a running Ingest. Refusals are expected; a
crash is not: an exception outside the refusals (the worker would record it as a "console
error"), a worker thread that died, or valid messages after the flood that were not all stored.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitewatch.console.ingest.bounds import Bounds
from sitewatch.console.ingest.context import Context
from sitewatch.console.ingest.service import REFUSED, add_reject, dispatch
from sitewatch.console.ingest.topics import TopicError, route
from sitewatch.console.store.db import Database
from sitewatch.console.store.evidence import EvidenceStore, Quota
from sitewatch.console.store.models import Alert, Camera, IngestReject, Site
from sitewatch.contract import messages as m
from tests.support.console_support import Console, console_fixture  # noqa: F401
from tests.support.ingest_support import (
    CLIP,
    JPEG,
    PREFIX,
    alert,
    edge_of,
    evidence_file,
    live_console,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401

SEED = 20261205
MESSAGES = 3000
LIVE = 400  # of them also through mosquitto and the running ingest
NOW = datetime.now(UTC).replace(microsecond=0)


def valid_messages(site: str = "north", age_s: int = 30) -> list[tuple[str, bytes]]:
    """(topic, payload) of one valid message of every kind the console reads, ``age_s`` old."""
    aid = uuid.uuid4()
    files = [evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")]
    t = NOW - timedelta(seconds=age_s)
    status = {"fps_in": 12.5, "fps_analysed": 4.0, "frames_dropped": 3, "reconnects": 1}
    camera_stats = {"camera_id": "gate", "state": "online", **status}
    messages: list[m.Message] = [
        alert(aid, 0, site=site, evidence=files, started_at=t, last_seen_at=t, sent_at=t),
        m.CameraStatus.model_validate(
            {"site_id": site, "camera_id": "gate", "state": "online", **status,
             "last_frame_at": t, "at": t}
        ),
        m.EdgeStatus.model_validate(
            {"site_id": site, "state": "online", "software_version": "1.4.0",
             "config_version": "3", "started_at": t, "cameras": 1, "at": t,
             "timezone": "Asia/Shanghai"}
        ),
        m.EdgeStats.model_validate(
            {"site_id": site, "at": t, "interval_s": 60.0, "cameras": [camera_stats],
             "batches": 120, "batch_size_mean": 1.5, "inference_ms_p50": 40.0,
             "inference_ms_p95": 80.0, "frames_dropped_stale": 2, "outbox_depth": 0,
             "disk_hours_left": 12.5}
        ),
        m.CameraConfig.model_validate(
            {"site_id": site, "camera_id": "gate", "name": "Gate", "version": "3",
             "zones": [{"id": "floor", "kind": "helmet_required",
                        "points": [[0, 0], [1, 0], [1, 1]]}],
             "rules": {"no_helmet": {"min_score": 0.5, "dwell_s": 2.0}}, "at": t}
        ),
        m.ConfigResult.model_validate(
            {"request_id": uuid.uuid4(), "site_id": site, "status": "applied",
             "version": "4", "at": t}
        ),
    ]  # fmt: skip
    topics = [
        m.alerts(PREFIX, site),
        m.camera_status(PREFIX, site, "gate"),
        m.edge_status(PREFIX, site),
        m.stats(PREFIX, site),
        m.camera_config(PREFIX, site, "gate"),
        m.config_result(PREFIX, site),
    ]
    out = [(topic, m.encode(msg)) for topic, msg in zip(topics, messages, strict=True)]
    out += [
        (m.evidence(PREFIX, site, str(aid), "snap.jpg"), JPEG),
        (m.evidence(PREFIX, site, str(aid), "clip.mp4"), CLIP),
        (m.camera_snapshot(PREFIX, site, "gate"), JPEG),
    ]
    return out


def odd_value(rng: random.Random) -> Any:
    """A value of a type or size no field expects."""
    depth = rng.choice([2, 50, 5000])
    nested: Any = 0
    for _ in range(depth if depth < 100 else 0):
        nested = [nested]
    return rng.choice(
        [
            None, True, -1, 0, 2**63, -(2**63) - 1, 10**400, 1e308, -1e308, 0.5,
            "", "x" * rng.choice([41, 1001, 70_000]), "\u0000", "\ud800", "é" * 50,
            "😀" * 30, "../../etc/passwd", "<script>alert(1)</script>", [], {}, [1, 2],
            {"schema": "sitewatch.alert/1"}, nested, "2026-13-45T25:61:00Z",
            "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "NaN",
        ]
    )  # fmt: skip


OUT_OF_RANGE = [2**63, -(2**63) - 1, 10**30, -1, 1e308, float("nan"), float("inf")]
ODD_TEXT = ["", "x" * 70_000, "a\u0000b", "é" * 50, "😀" * 30, "../../x", "<svg onload=x>"]


def mutate_json(rng: random.Random, payload: bytes) -> bytes:
    """A field dropped, repeated or replaced (by any odd value, or by a number out of range
    where a number was, odd text where text was) somewhere in the message's tree."""
    data = json.loads(payload)
    slots: list[tuple[dict[str, Any] | list[Any], Any]] = []  # (holder, key) of every value

    def collect(node: Any) -> None:
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            slots.append((node, key))
            if isinstance(node[key], dict | list):
                collect(node[key])

    collect(data)
    holder, key = rng.choice(slots)
    value = holder[key]
    action = rng.choice(["drop", "replace", "typed", "typed", "repeat"])
    if action == "drop":
        del holder[key]
    elif action == "typed" and isinstance(value, int | float) and not isinstance(value, bool):
        holder[key] = rng.choice(OUT_OF_RANGE)
    elif action == "typed" and isinstance(value, str):
        holder[key] = rng.choice(ODD_TEXT)
    elif action == "repeat":  # the same key twice in one object: JSON allows it
        text = json.dumps(data)
        return text.replace("{", '{"schema": "sitewatch.alert/1", ', 1).encode()
    else:
        holder[key] = odd_value(rng)
    return json.dumps(data).encode()


def mutate_bytes(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data) + 1)
        action = rng.choice(["flip", "insert", "delete", "truncate"])
        if action == "flip" and at < len(data):
            data[at] ^= 1 << rng.randrange(8)
        elif action == "insert":
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif action == "delete":
            del data[at : at + rng.randint(1, 16)]
        else:
            del data[at:]
    return bytes(data)


def random_topic(rng: random.Random, valid: list[tuple[str, bytes]]) -> str:
    aid = rng.choice([str(uuid.uuid4()), "not-a-uuid", str(uuid.uuid4()).upper()])
    name = rng.choice(["snap.jpg", "clip.mp4", ".hidden", "manifest.sha256", "a" * 200])
    site = rng.choice(["north", "south", "North", "x" * 41, "..", "é"])
    return rng.choice(
        [
            rng.choice(valid)[0],
            m.evidence(PREFIX, site, aid, name),
            f"{PREFIX}/{site}/alerts",
            f"{PREFIX}/{site}/cameras/{rng.choice(['gate', '..', 'Gate'])}/snapshot",
            f"{PREFIX}/{site}/config/set",
            f"{PREFIX}/{site}/nothing/here",
        ]
    )


def fuzzed(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """``count`` mutated (topic, payload) pairs."""
    out = []
    for i in range(count):  # each newer than the last, so that statuses are not old news
        valid = valid_messages(rng.choice(["north", "south"]), 100_000 - 30 * i)
        topic, payload = rng.choice(valid)
        how = rng.random()
        if how < 0.5 and payload.startswith(b"{"):
            payload = mutate_json(rng, payload)
        elif how < 0.65:
            payload = mutate_bytes(rng, payload)
        elif how < 0.7:
            payload = payload + b" " * (m.MAX_MESSAGE_BYTES + rng.randint(-8, 8))  # around it
        elif how < 0.8:  # evidence bytes, or a message, on another topic
            payload = rng.choice([JPEG, CLIP, rng.choice(valid)[1]])
            topic = random_topic(rng, valid)
        elif how < 0.9:
            topic = random_topic(rng, valid)
        else:
            payload = b"[" * rng.choice([100, 5000, 200_000]) + b"]"
        out.append((topic, payload))
    return out


Crash = tuple[str, bytes, str]


def handle(db: Database, store: EvidenceStore, topic: str, payload: bytes) -> Crash | None:
    """What the worker does with one message; a crash if it raised anything but a refusal."""
    try:
        where = route(PREFIX, topic)
    except TopicError:
        return None
    ctx = Context(store, PREFIX, topic, where, NOW)
    try:
        with db.session() as s:
            dispatch(s, ctx, payload, Bounds(600.0, store.quota))
            for reject_topic, reason in ctx.rejects:
                add_reject(s, reject_topic, reason)
    except REFUSED:
        return None
    except Exception as exc:
        return topic, payload[:200], f"{type(exc).__name__}: {exc}"
    return None


def stored_after(db: Database, store: EvidenceStore, run: Callable[..., Crash | None]) -> None:
    """Valid messages of a fresh site, handled after the flood, are all kept."""
    for topic, payload in valid_messages("after"):
        assert run(db, store, topic, payload) is None
    with db.session() as s:
        assert s.query(Alert).filter(Alert.site_id == "after").count() == 1
        camera = s.get(Camera, ("after", "gate"))
        assert camera is not None and camera.state == "online" and camera.snapshot_path
        site = s.get(Site, "after")
        assert site is not None and site.edge_state == "online" and site.stats is not None


def test_thousands_of_mutated_messages_are_refused_or_kept_never_a_crash(
    console: Console,
) -> None:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    store = EvidenceStore(console.settings.evidence_dir, Quota(site_staged_bytes=1 << 20))
    rng = random.Random(SEED)
    crashes = [c for t, p in fuzzed(rng, MESSAGES) if (c := handle(state.db, store, t, p))]
    assert not crashes, f"{len(crashes)} crashes, the first: {crashes[:3]}"
    stored_after(state.db, store, handle)


def test_mutated_messages_through_the_running_ingest_leave_it_working(
    tmp_path: Path, broker: Mosquitto
) -> None:
    rng = random.Random(SEED + 1)
    flood = fuzzed(rng, LIVE)
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        for topic, payload in flood:
            if rng.random() < 0.8:
                edge.send(topic, payload)
            else:  # QoS 0 and retained too
                edge.transport.publish(topic, payload, qos=0, retain=rng.random() < 0.5)
        after = valid_messages("after")
        for topic, payload in after:
            edge.send(topic, payload)
        ingest = console.ingest
        deadline = time.monotonic() + 60
        while not console.rows(
            Camera, Camera.site_id == "after", Camera.snapshot_path.is_not(None)
        ):
            # the snapshot is the last message sent: handled, all before it were (in order)
            assert time.monotonic() < deadline, f"{ingest.handled} handled in 60 s"
            time.sleep(0.05)
        errors = [r.reason for r in console.rows(IngestReject) if "console error" in r.reason]
        assert not errors, errors[:3]
        assert ingest.worker_alive and ingest.connected
        [row] = console.rows(Alert, Alert.site_id == "after")
        assert row.id == json.loads(after[0][1])["id"]
        [camera] = console.rows(Camera, Camera.site_id == "after")
        assert camera.state == "online" and camera.snapshot_path
        [site] = console.rows(Site, Site.id == "after")
        assert site.edge_state == "online" and site.stats is not None
