"""Continuous recording on real ffmpeg segments: the disk budget, holds, retention per stream.

Segments are cut from a real clip by ffmpeg's segment muxer, as the recorder writes them, at
full speed; their mtimes are then set as if recording had begun at ``BASE`` (the ring reads
wall times from mtimes). One test records for real, in real time, from looping files.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer, load_or_create_key, verify
from sitewatch.edge.detect.batcher import BatchStats
from sitewatch.edge.evidence.files import DiskManager
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.housekeeping import Housekeeper
from sitewatch.edge.publish.outbox import Outbox
from sitewatch.edge.video.holds import HOLDS_FILE
from sitewatch.edge.video.recording import CameraRecording, prune_rings
from sitewatch.edge.video.ring import SegmentRing
from tests.support.mqtt_broker import (  # noqa: F401  (the fixture)
    Collector,
    Mosquitto,
    broker_fixture,
    until_received,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
BASE = 1_700_000_000.0


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def camera_mp4(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of the factory clip, small, H.264 with a keyframe every second (as a camera)."""
    out = tmp_path_factory.mktemp("camera") / "camera.mp4"
    ffmpeg("-t", "12", "-i", str(shared / "clips" / "factory_floor_cctv.mp4"), "-an",
           "-vf", "scale=320:-2", "-r", "25", "-frames:v", "300", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
           "-threads", "1", str(out))  # fmt: skip
    return out


def segment(src: Path, folder: Path, began: float, loops: int = 0, run: str = "r1") -> None:
    """Segment ``src`` (looped ``loops`` more times) into ``folder`` as the recorder does, with
    mtimes as if recording had begun at ``began``."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg("-stream_loop", str(loops), "-i", str(src), "-map", "0:v:0", "-c", "copy",
           "-f", "segment", "-segment_format", "mpegts", "-segment_time", "2",
           "-reset_timestamps", "1", "-segment_list", str(folder / f"{run}.csv"),
           "-segment_list_type", "csv", str(folder / f"{run}-%06d.ts"))  # fmt: skip
    for line in (folder / f"{run}.csv").read_text().splitlines():
        name, _, end = line.split(",")
        os.utime(folder / name, (began + float(end), began + float(end)))
    os.utime(folder / f"{run}.csv", (began, began))


def starts(ring: SegmentRing, base: float = BASE) -> list[int]:
    return [round(s.start - base) for s in ring.refresh()]


def test_over_its_budget_the_ring_deletes_oldest_first_but_never_held(
    camera_mp4: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ring" / "gate" / "detect"
    segment(camera_mp4, folder, BASE, loops=2)  # 18 segments of 2 s: BASE .. BASE + 36
    ring = SegmentRing(folder, keep_s=7 * 86400.0, max_bytes=10**12)  # no age, no own budget
    segs = ring.refresh()
    assert starts(ring) == list(range(0, 36, 2))
    ring.holds.hold("case-17", BASE + 4.5, BASE + 7.5, "police request 17")  # segs at 4 and 6
    ring.pin("alert-1", BASE + 20.5, BASE + 21.0)  # the segment at 20
    kept = [2, 3, 10, 15, 16, 17]  # held, pinned, and the newest three
    budget = sum(segs[i].size for i in kept)  # a tiny budget: 6 segments' worth
    deleted = prune_rings([ring], budget, now=BASE + 40.0)
    assert deleted == 12
    assert starts(ring) == [4, 6, 20, 30, 32, 34]
    assert sum(s.size for s in ring.refresh()) <= budget
    assert sorted(p.name for p in folder.glob("*.ts")) == [segs[i].path.name for i in kept]

    # a new ring object on the same folder (a restart) keeps the hold and the pin
    again = SegmentRing(folder, keep_s=7 * 86400.0)
    assert starts(again) == [4, 6, 20, 30, 32, 34]
    assert prune_rings([again], 0, now=BASE + 40.0) == 3
    assert starts(again) == [4, 6, 20]
    again.unpin("alert-1")
    again.holds.release("case-17")
    assert prune_rings([again], 0, now=BASE + 40.0) == 3
    assert starts(again) == [] and not list(folder.glob("*.ts"))


def test_one_budget_for_all_rings_takes_the_oldest_of_any(camera_mp4: Path, tmp_path: Path) -> None:
    detect, record = tmp_path / "gate" / "detect", tmp_path / "gate" / "record"
    segment(camera_mp4, detect, BASE - 600.0)  # older: 10 min ago
    segment(camera_mp4, record, BASE)
    rings = [SegmentRing(detect, keep_s=86400.0), SegmentRing(record, keep_s=86400.0)]
    newer = rings[1].refresh()
    prune_rings(rings, sum(s.size for s in newer[2:]), now=BASE + 20.0)
    assert starts(rings[0]) == [] and starts(rings[1]) == [4, 6, 8, 10]


def test_retention_by_age_per_stream(camera_mp4: Path, tmp_path: Path) -> None:
    root = tmp_path / "ring" / "gate"
    rec = CameraRecording(
        "gate", "file:///sub.mp4", "file:///main.mp4", root,
        segment_s=2.0, keep_s={"detect": 20.0, "record": 6.0},
    )  # fmt: skip
    assert rec.clip_ring is rec.rings["record"] and rec.ring("detect") is rec.rings["detect"]
    segment(camera_mp4, root / "detect", BASE, loops=2)  # BASE .. BASE + 36
    segment(camera_mp4, root / "record", BASE, loops=2)
    prune_rings(list(rec.rings.values()), 10**12, now=BASE + 36.0)
    assert starts(rec.rings["detect"]) == list(range(14, 36, 2))  # ended at most 20 s ago
    assert starts(rec.rings["record"]) == [28, 30, 32, 34]  # ended at most 6 s ago


def test_a_restarted_ring_finds_segments_its_lists_no_longer_name(
    camera_mp4: Path, tmp_path: Path
) -> None:
    """The recorder's list keeps 10 minutes; a week of segments is indexed by mtimes."""
    folder = tmp_path / "detect"
    segment(camera_mp4, folder, BASE, loops=2)
    listing = folder / "r1.csv"
    listing.write_text("".join(listing.read_text().splitlines(keepends=True)[-2:]))
    os.utime(listing, (BASE + 36, BASE + 36))
    ring = SegmentRing(folder, keep_s=86400.0)
    found = ring.refresh()
    assert [round(s.start - BASE) for s in found] == list(range(2, 36, 2))  # not the first
    assert all(abs(a.end - b.start) < 0.01 for a, b in itertools.pairwise(found))
    ring.prune(now=BASE + 40.0)  # the first, unlisted and without a predecessor, stays...
    assert (folder / "r1-000000.ts").exists() and len(ring.refresh()) == 17
    ring = SegmentRing(folder, keep_s=30.0)  # ... until its retention ends, as an orphan
    ring.prune(now=BASE + 40.0)
    assert not (folder / "r1-000000.ts").exists() and starts(ring) == list(range(8, 36, 2))


def test_an_unreadable_holds_file_keeps_everything(
    camera_mp4: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "detect"
    segment(camera_mp4, folder, BASE)
    (folder / HOLDS_FILE).write_text("{not json")
    ring = SegmentRing(folder, keep_s=1.0)
    with caplog.at_level(logging.ERROR):
        assert prune_rings([ring], 0, now=BASE + 3600.0) == 0
    assert len(ring.refresh()) == 6 and "deletes no segment" in caplog.text
    (folder / HOLDS_FILE).unlink()
    assert prune_rings([ring], 0, now=BASE + 3600.0) == 6


def test_segments_of_an_older_edge_move_to_the_clip_stream(tmp_path: Path) -> None:
    root = tmp_path / "gate"
    root.mkdir()
    (root / "r1-000000.ts").write_bytes(b"x")
    os.utime(root / "r1-000000.ts", (BASE, BASE))
    rec = CameraRecording(
        "gate", "file:///sub.mp4", None, root, segment_s=2.0, keep_s={"detect": 60.0}
    )
    assert rec.clip_stream == "detect" and rec.ring("record") is rec.rings["detect"]
    moved = root / "detect" / "r1-000000.ts"
    assert moved.stat().st_mtime == BASE and not (root / "r1-000000.ts").exists()


def test_a_camera_records_both_streams_and_publishes_their_index(
    camera_mp4: Path, tmp_path: Path, broker: Mosquitto
) -> None:
    """Real time: two ffmpeg recorders read looping files at 1x, like a camera; ~10 s."""
    main = tmp_path / "main.mp4"  # the main stream: the same clip under another URL
    shutil.copy(camera_mp4, main)
    rec = CameraRecording(
        "gate", camera_mp4.as_uri(), main.as_uri(), tmp_path / "ring" / "gate",
        segment_s=1.0, keep_s={"detect": 3600.0, "record": 60.0},
    )  # fmt: skip
    key = load_or_create_key(tmp_path / "edge.key")
    edge, console, got = broker.transport(), broker.transport(), Collector()
    topic = m.recording_index("sitewatch", "north", "gate", m.ANY)
    console.subscribe(topic, got)
    until_received(got, edge, m.recording_index("sitewatch", "north", "gate", "detect"))
    keeper = Housekeeper(
        site_id="north", topic_prefix="sitewatch", readers={}, rings=list(rec.rings.values()),
        disk=DiskManager(tmp_path, list(rec.rings.values()), EvidenceIndex(tmp_path / "e.db")),
        batch_stats=BatchStats(), transport=edge, signer=Signer(key),
        outbox=Outbox(tmp_path / "outbox.db"), evidence_dropped={}, recordings={"gate": rec},
        max_ring_bytes=10**9,
    )  # fmt: skip
    rec.start()
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and min(len(r.refresh()) for r in rec.rings.values()) < 4:
            time.sleep(0.5)
    finally:
        rec.stop()
    for delivery in keeper.publish_index(time.time()):
        assert delivery.wait(5.0)
    received = got.wait_for(2)
    messages = [m.decode(payload, m.RecordingIndex) for _, payload in received]
    assert [(i.stream, i.camera_id) for i in messages] == [("record", "gate"), ("detect", "gate")]
    assert [topic.rsplit("/", 1)[1] for topic, _ in received] == ["record", "detect"]
    for index in messages:
        assert verify(index, key.public_key())
        segs = rec.rings[index.stream].refresh()
        assert len(index.spans) == 1  # one stretch: no hole of two segments
        assert abs(index.spans[0].start.timestamp() - segs[0].start) < 0.01
        assert index.size_bytes == sum(s.size for s in segs) > 0
        assert index.keep_s == {"detect": 3600.0, "record": 60.0}[index.stream]
        assert abs(index.spans[0].end.timestamp() - time.time()) < 10.0
    edge.close()
    console.close()
