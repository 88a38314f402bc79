"""Simulated edges for bench/console_load.py: what a site's edge publishes, at the edge's own
rates, signed with the key its site was registered with, over one MQTT connection per edge
(QoS 1, its own broker account), without cameras or a detector.

Per camera (the edge's constants, imported from its code so they cannot drift):

* a retained CameraStatus every ``STATUS_EVERY_S`` (300 s; 60 s earlier on 2026-12-06, 5 s
  before);
* a retained snapshot JPEG every ``SNAPSHOT_EVERY_S`` (300 s; 60 s before 2026-12-06),
  ``snapshot_bytes`` of filler;
* a retained RecordingIndex per stream (detect and record) every ``INDEX_REFRESH_S`` (900 s),
  each camera's first at a random moment of the first 900 s: the steady state of edges that
  have been running for a while (an edge sends its indexes at connect too; a county whose
  edges all reconnect at once, e.g. after a broker restart, sends those 2 x cameras at once,
  which this bench does not model), saying ``recording``: a healthy camera's index changes
  only at its growing end, which the console extends itself (60 s before 2026-12-06);
* alerts, a Poisson process of ``alerts_per_camera_day`` (20: the issue's county figure), and
  ``burst_factor`` times that (100x) during one burst of ``burst_s`` in the middle of the run.

Per edge: a retained EdgeStatus at connect and an EdgeStats every ``STATS_EVERY_S`` (60 s).

An alert is what the edge's delivery sends (sitewatch/edge/publish/delivery.py), its files
always before the message that lists them: ``start`` (seq 0); 1 s later the annotated and clean
snapshots (``snapshot_bytes`` each) and ``update`` (seq 1) listing them; 5 s after that the clip
(``clip_bytes``) and ``end`` (seq 2) listing all three. Payloads are filler bytes (the console
checks sizes and SHA-256, not pictures), one buffer per kind, hashed once. What is not
simulated: detection, video, the outbox on disk (paho's in-memory queue re-sends unacknowledged
QoS 1 messages after a reconnect instead), live video and config commands.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.console_load_upload import Uploader
from sitewatch.console.domain.broker_accounts import EdgeCredentials
from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from sitewatch.edge.housekeeping import STATS_EVERY_S, STATUS_EVERY_S
from sitewatch.edge.publish.console_feed import SNAPSHOT_EVERY_S
from sitewatch.edge.video.recording import INDEX_REFRESH_S
from tests.support.ingest_support import evidence_file

PREFIX = "sitewatch"
SNAPSHOT_AFTER_S = 1.0  # start -> snapshots and seq 1
CLIP_AFTER_S = 5.0  # seq 1 -> clip and end (seq 2)
SECONDS_PER_DAY = 86400.0
CAMERA_NUMBERS: dict[str, Any] = {
    "state": "online",
    "fps_in": 12.5,
    "fps_analysed": 2.0,
    "frames_dropped": 0,
    "reconnects": 0,
}
"""A healthy camera's numbers, in its status and in the edge's stats."""


@dataclass(frozen=True)
class Profile:
    """What each simulated camera and edge sends; rates per second, sizes in bytes."""

    alerts_per_camera_day: float = 20.0
    burst_factor: float = 100.0
    burst_s: float = 20.0
    snapshot_bytes: int = 100_000
    clip_bytes: int = 1_800_000

    def messages_per_camera_s(self) -> float:
        """Steady messages per second of one camera, alerts' files and messages included."""
        steady = 1 / STATUS_EVERY_S + 1 / SNAPSHOT_EVERY_S + 2 / INDEX_REFRESH_S
        return steady + self.alerts_per_camera_day / SECONDS_PER_DAY * 6  # 3 messages, 3 files


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class Ledger:
    """What the edges sent: every alert message's publish and broker-ack time (Unix s) by
    ``(alert_id, seq)``, and counts of every message by kind. Thread-safe."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)
    acked: dict[tuple[str, int], float] = field(default_factory=dict)
    alerts: set[str] = field(default_factory=set)
    published: dict[str, int] = field(default_factory=dict)
    acks: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, size: int) -> None:
        with self.lock:
            self.published[kind] = self.published.get(kind, 0) + 1
            self.bytes += size

    @property
    def messages(self) -> int:
        return sum(self.published.values())


class Filler:
    """One payload per evidence kind, with its SHA-256 computed once."""

    def __init__(self, profile: Profile) -> None:
        jpeg = (
            b"\xff\xd8\xff\xe0" + random.randbytes(max(0, profile.snapshot_bytes - 6)) + b"\xff\xd9"
        )
        clip = b"\x00\x00\x00\x18ftypmp42" + random.randbytes(max(0, profile.clip_bytes - 12))
        self.snapshot = jpeg
        self.files = {
            "snapshot.jpg": ("snapshot", jpeg),
            "snapshot_clean.jpg": ("snapshot_clean", jpeg),
            "clip.mp4": ("clip", clip),
        }
        self.listing = {
            name: evidence_file(name, data, kind) for name, (kind, data) in self.files.items()
        }


class SimEdge:
    """One site's edge: its broker account, key and cameras, and one paho connection."""

    def __init__(
        self,
        creds: EdgeCredentials,
        cameras: int,
        endpoint: tuple[str, int],
        ledger: Ledger,
        login: bool = True,
        uploader: Uploader | None = None,
    ) -> None:
        assert creds.private_key is not None, "the bench registers edges with keys it holds"
        self.site = creds.site_id
        self.cameras = [f"cam{i:02d}" for i in range(cameras)]
        self.key = creds.private_key
        self.signer = Signer(creds.private_key)
        self.uploader = uploader  # evidence over HTTP; None: over MQTT
        self.ledger = ledger
        self.started = time.time()
        self._pending: dict[int, tuple[str, int] | None] = {}  # mid -> alert message or None
        self._early: dict[int, float] = {}  # mid -> ack time, acked before send() noted it
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-{self.site}", clean_session=False
        )
        if login:  # else anonymous (the cluster rig's RabbitMQ)
            self.client.username_pw_set(creds.username, creds.password)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.client.on_publish = self._acked
        self.client.connect_async(*endpoint, keepalive=30)
        self.client.loop_start()

    def _acked(self, client: mqtt.Client, userdata: object, mid: int, *_: object) -> None:
        # paho calls this holding its own lock, which publish() takes too: so self._lock is
        # never held while calling paho, and an ack that beats send()'s bookkeeping waits in
        # _early
        now = time.time()
        with self._lock:
            if mid in self._pending:
                self._record(self._pending.pop(mid), now)
            else:
                self._early[mid] = now

    def _record(self, key: tuple[str, int] | None, at: float) -> None:
        with self.ledger.lock:
            self.ledger.acks += 1
            if key is not None:
                self.ledger.acked.setdefault(key, at)

    def send(
        self,
        kind: str,
        topic: str,
        payload: bytes,
        retain: bool = False,
        alert: tuple[str, int] | None = None,
    ) -> None:
        if alert is not None:
            with self.ledger.lock:
                self.ledger.sent[alert] = time.time()
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        with self._lock:
            if mid in self._early:
                self._record(alert, self._early.pop(mid))
            else:
                self._pending[mid] = alert
        self.ledger.count(kind, len(payload))

    def signed(
        self,
        kind: str,
        topic: str,
        msg: m.Message,
        retain: bool = False,
        alert: tuple[str, int] | None = None,
    ) -> None:
        self.send(kind, topic, self.signer.encode(msg), retain, alert)

    # -- what the edge sends -----------------------------------------------------------------
    def edge_status(self, now: float) -> None:
        msg = m.EdgeStatus(
            site_id=self.site,
            state="online",
            software_version="bench",
            config_version="1",
            started_at=utc(self.started),
            cameras=len(self.cameras),
            at=utc(now),
        )
        self.signed("edge_status", m.edge_status(PREFIX, self.site), msg, retain=True)

    def camera_status(self, camera: str, now: float) -> None:
        msg = m.CameraStatus(
            site_id=self.site,
            camera_id=camera,
            **CAMERA_NUMBERS,
            last_frame_at=utc(now - 0.1),
            error=None,
            at=utc(now),
        )
        self.signed("camera_status", m.camera_status(PREFIX, self.site, camera), msg, True)

    def snapshot(self, camera: str, payload: bytes) -> None:
        self.send("snapshot", m.camera_snapshot(PREFIX, self.site, camera), payload, True)

    def recording_index(self, camera: str, now: float) -> None:
        for stream in ("detect", "record"):
            msg = m.RecordingIndex(
                site_id=self.site,
                camera_id=camera,
                stream=stream,
                spans=[m.RecordedSpan(start=utc(self.started - 3600), end=utc(now))],
                size_bytes=3_600_000_000,
                keep_s=3600.0 if stream == "record" else 604800.0,
                at=utc(now),
                recording=True,
            )
            topic = m.recording_index(PREFIX, self.site, camera, stream)
            self.signed("recording_index", topic, msg, retain=True)

    def stats(self, now: float) -> None:
        cams = [m.CameraStats(camera_id=c, **CAMERA_NUMBERS) for c in self.cameras]
        msg = m.EdgeStats(
            site_id=self.site,
            at=utc(now),
            interval_s=float(STATS_EVERY_S),
            cameras=cams,
            batches=600,
            batch_size_mean=4.0,
            inference_ms_p50=30.0,
            inference_ms_p95=45.0,
            frames_dropped_stale=0,
            outbox_depth=0,
            disk_hours_left=400.0,
        )
        self.signed("stats", m.stats(PREFIX, self.site), msg)

    def alert(
        self, alert_id: uuid.UUID, camera: str, seq: int, started: float, now: float, filler: Filler
    ) -> None:
        """Message ``seq`` of an alert (0 start, 1 update with snapshots, 2 end with the clip),
        its new files published first."""
        names = {0: [], 1: ["snapshot.jpg", "snapshot_clean.jpg"], 2: ["clip.mp4"]}[seq]
        for name in names:
            data = filler.files[name][1]
            if self.uploader is None:
                self.send("evidence", m.evidence(PREFIX, self.site, str(alert_id), name), data)
            else:
                self.uploader.submit(self.site, self.key, str(alert_id), filler.listing[name], data)
                self.ledger.count("evidence_http", len(data))
        listed = (
            []
            if seq == 0
            else [filler.listing[n] for n in filler.listing if seq == 2 or n != "clip.mp4"]
        )
        msg = m.AlertEvent(
            id=alert_id,
            seq=seq,
            event=("start", "update", "end")[seq],
            site_id=self.site,
            camera_id=camera,
            rule="no_helmet",
            track_id=seq + 1,
            zone_id="floor",
            label="head",
            score=0.8,
            box=(0.1, 0.1, 0.3, 0.5),
            started_at=utc(started),
            last_seen_at=utc(now),
            ended_at=utc(now) if seq == 2 else None,
            sent_at=utc(now),
            evidence=listed,
            config_version="1",
        )
        key = (str(alert_id), seq)
        self.signed("alert", m.alerts(PREFIX, self.site), msg, alert=key)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


Job = Callable[[float], None]


class Schedule:
    """Every edge's messages on one timeline (a heap of due times), run by one thread from
    ``start`` for ``seconds``; alerts already started finish after that (their files and end
    go out), nothing new starts. ``lag_s`` is how late the thread ran behind the timeline at
    worst (the generator itself overloaded)."""

    def __init__(self, edges: list[SimEdge], profile: Profile, seconds: float, seed: int = 16):
        self.edges, self.profile, self.seconds = edges, profile, seconds
        self.filler = Filler(profile)
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self.lag_s = 0.0
        self.alerts_started = 0
        self.last: tuple[str, int] | None = None  # the last message of all (see _plan_alerts)
        self.stop = threading.Event()

    def at(self, due: float, job: Job) -> None:
        heapq.heappush(self._heap, (due, next(self._order), job))

    def every(self, first: float, period: float, end: float, job: Job) -> None:
        """``job`` at ``first`` and every ``period`` after, while before ``end``."""

        def tick(now: float) -> None:
            job(now)
            if now + period < end:
                self.at(now + period, tick)

        if first < end:
            self.at(first, tick)

    def plan(self, start: float) -> None:
        end = start + self.seconds
        rng = self.rng
        for edge in self.edges:
            self.at(start, edge.edge_status)
            self.every(start + rng.uniform(0, STATS_EVERY_S), STATS_EVERY_S, end, edge.stats)
            for cam in edge.cameras:
                status = partial_job(edge.camera_status, cam)
                snap = partial_snapshot(edge, cam, self.filler.snapshot)
                index = partial_job(edge.recording_index, cam)
                self.every(start + rng.uniform(0, STATUS_EVERY_S), STATUS_EVERY_S, end, status)
                self.every(start + rng.uniform(0, SNAPSHOT_EVERY_S), SNAPSHOT_EVERY_S, end, snap)
                phase = start + rng.uniform(0, INDEX_REFRESH_S)  # running edges: see the module
                self.every(phase, INDEX_REFRESH_S, end, index)
        self._plan_alerts(start, end)

    def burst_window(self, start: float) -> tuple[float, float]:
        middle = start + self.seconds / 2
        return middle - self.profile.burst_s / 2, middle + self.profile.burst_s / 2

    def _plan_alerts(self, start: float, end: float) -> None:
        """Poisson starts (``burst_factor`` times faster in the burst window), and one last
        alert at ``end`` whose end message is the last thing any edge sends: once it is stored,
        a console that handles messages in order has handled everything."""
        cameras = [(e, c) for e in self.edges for c in e.cameras]
        base = len(cameras) * self.profile.alerts_per_camera_day / SECONDS_PER_DAY
        b0, b1 = self.burst_window(start)
        t = start
        while True:
            rate = base * (self.profile.burst_factor if b0 <= t < b1 else 1.0)
            t += self.rng.expovariate(rate)
            if t >= end:
                break
            self._alert(t, *self.rng.choice(cameras))
        self.last = self._alert(end, *cameras[-1])

    def _alert(self, t: float, edge: SimEdge, camera: str) -> tuple[str, int]:
        """Plan an alert's three messages from ``t``; the key of its last."""
        alert_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        for seq, after in ((0, 0.0), (1, SNAPSHOT_AFTER_S), (2, SNAPSHOT_AFTER_S + CLIP_AFTER_S)):
            self.at(t + after, partial_alert(edge, alert_id, camera, seq, t, self.filler))
        self.alerts_started += 1
        return str(alert_id), 2

    def run(self) -> None:
        while self._heap and not self.stop.is_set():
            due, _, job = self._heap[0]
            now = time.time()
            if due > now:
                self.stop.wait(min(due - now, 0.05))
                continue
            heapq.heappop(self._heap)
            self.lag_s = max(self.lag_s, now - due)
            job(due)  # messages carry their due time (the clock the edge would have read)


def partial_job(fn: Callable[[str, float], None], camera: str) -> Job:
    return lambda now: fn(camera, now)


def partial_snapshot(edge: SimEdge, camera: str, payload: bytes) -> Job:
    return lambda now: edge.snapshot(camera, payload)


def partial_alert(
    edge: SimEdge, alert_id: uuid.UUID, camera: str, seq: int, started: float, filler: Filler
) -> Job:
    return lambda now: edge.alert(alert_id, camera, seq, started, now, filler)
