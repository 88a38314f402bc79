"""Evidence over HTTP (issue 16, docs/design/evidence-upload.md): the real console in uvicorn
with ingest on a real mosquitto, and the edge's real outbox, publisher and evidence lane; the
alert messages go over MQTT, the files over signed, resumable HTTP uploads."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.store.models import BrokerAccount, Evidence, IngestReject
from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer, public_key_text
from sitewatch.edge.publish.evidence_upload import CHUNK_BYTES, EvidenceClient, EvidenceSender
from sitewatch.edge.publish.outbox import Outbox, Publisher
from tests.component.test_console_playback import Served, serve
from tests.support.ingest_support import PREFIX, alert, evidence_file
from tests.support.ingest_support import wait_for as until
from tests.support.mqtt_broker import HOST, Mosquitto, broker_fixture  # noqa: F401

SITE = "north"  # ingest_support.alert's site
CLIP = bytes(range(256)) * 1200  # 307,200 bytes: five chunks of 64 KiB
CHUNK = 64 * 1024


def register(served: Served, site: str, key: Ed25519PrivateKey) -> None:
    """Register ``site``'s edge key, as 'sitewatch server add-edge' does (password unused)."""
    account = {"username": f"edge-{site}", "role": "edge", "site_id": site, "password_hash": "-"}
    with served.state.db.session() as s:
        s.add(BrokerAccount(**account, public_key=public_key_text(key)))


@dataclass
class EdgeRig:
    """An edge's outbox drained by the real publisher (alerts on MQTT) and evidence lane."""

    outbox: Outbox
    sender: EvidenceSender
    publisher: Publisher
    key: Ed25519PrivateKey
    folder: Path

    def alert(self, alert_id: uuid.UUID, files: list[m.EvidenceFile]) -> None:
        msg = alert(alert_id, 0, site=SITE, evidence=files)
        self.outbox.put(m.alerts(PREFIX, SITE), Signer(self.key).encode(msg))

    def file(self, alert_id: uuid.UUID, name: str, data: bytes) -> None:
        """Queue a file by reference, as AlertDelivery does before the message listing it."""
        path = self.folder / f"{alert_id}_{name}"
        path.write_bytes(data)
        topic = m.evidence(PREFIX, SITE, str(alert_id), name)
        self.outbox.put_file(topic, path, len(data), hashlib.sha256(data).hexdigest())


@contextmanager
def edge(
    tmp_path: Path, broker: Mosquitto, key: Ed25519PrivateKey, url: str | None,
    chunk_bytes: int = CHUNK,
) -> Iterator[EdgeRig]:  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.db")
    sender = EvidenceSender(
        outbox, site_id=SITE, prefix=PREFIX, key=key, console_url=url, timeout_s=10.0,
        chunk_bytes=chunk_bytes, retry_min_s=0.05, retry_max_s=0.5,
    )  # fmt: skip
    transport = broker.transport()
    publisher = Publisher(outbox, transport, evidence=sender, retry_min_s=0.05).start()
    folder = tmp_path / "edge-evidence"
    folder.mkdir()
    try:
        yield EdgeRig(outbox, sender, publisher, key, folder)
    finally:
        publisher.stop()
        transport.close()
        outbox.close()


def stored(served: Served, alert_id: uuid.UUID, name: str, status: str = "stored") -> Evidence:
    def rows() -> list[Evidence]:
        return served.rows(Evidence, Evidence.alert_id == str(alert_id), Evidence.name == name)

    until(f"evidence {name} {status}", lambda: [r for r in rows() if r.status == status])
    return rows()[0]


def test_files_go_over_http_verified_and_the_broker_carries_only_the_alerts(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key = Ed25519PrivateKey.generate()
    snap = b"\xff\xd8\xff\xe0" + b"jpeg" * 5000
    clip = CLIP * 10  # 3 MB: chunks of 1 MiB, the default and the console's max_request_bytes
    with serve(tmp_path, broker) as served:
        register(served, SITE, key)
        received_before = served.state.ingest.received  # type: ignore[union-attr]
        with edge(tmp_path, broker, key, served.url, chunk_bytes=CHUNK_BYTES) as rig:
            aid = uuid.uuid4()
            rig.file(aid, "clip.mp4", clip)
            rig.file(aid, "snapshot.jpg", snap)
            rig.alert(aid, [evidence_file("clip.mp4", clip, "clip"),
                            evidence_file("snapshot.jpg", snap)])  # fmt: skip
            kept = stored(served, aid, "clip.mp4")
            shot = stored(served, aid, "snapshot.jpg")
            until("the outbox empty", lambda: rig.outbox.depth() == 0)
            assert Path(kept.path or "").read_bytes() == clip and kept.signed
            assert Path(shot.path or "").read_bytes() == snap
            assert rig.sender.sent == 2 and rig.sender.bytes_sent == len(clip) + len(snap)
            assert rig.outbox.dropped == {}
            # the broker carried the alert message only, not the files
            assert served.state.ingest.received - received_before == 1  # type: ignore[union-attr]
            # a repeat of a complete file changes nothing
            client = EvidenceClient(served.url, SITE, key)
            sha = hashlib.sha256(clip).hexdigest()
            again = client.status(str(aid), "clip.mp4", len(clip), sha)
            assert again.status == 200 and again.complete and again.received == len(clip)
            repeat = client.put(str(aid), "clip.mp4", len(clip), sha, 0, clip[:CHUNK])
            assert repeat.status == 200 and repeat.held["outcome"] == "repeat"
            assert stored(served, aid, "clip.mp4").stored_at == kept.stored_at
            client.close()


def test_a_broken_upload_resumes_at_the_console_offset(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key = Ed25519PrivateKey.generate()
    sha = hashlib.sha256(CLIP).hexdigest()
    aid = uuid.uuid4()
    with serve(tmp_path, broker) as served:
        register(served, SITE, key)
        client = EvidenceClient(served.url, SITE, key)
        first = client.put(str(aid), "clip.mp4", len(CLIP), sha, 0, CLIP[:100_000])
        assert (first.status, first.received, first.complete) == (200, 100_000, False)
        # the link broke: the console says what it holds, a chunk elsewhere is refused
        assert client.status(str(aid), "clip.mp4", len(CLIP), sha).received == 100_000
        wrong = client.put(str(aid), "clip.mp4", len(CLIP), sha, 0, CLIP[:CHUNK])
        assert wrong.status == 409 and wrong.received == 100_000, wrong
        assert "resume at 100000" in wrong.reason
        client.close()
        with edge(tmp_path, broker, key, served.url) as rig:
            rig.file(aid, "clip.mp4", CLIP)  # the edge's outbox still holds the file
            rig.alert(aid, [evidence_file("clip.mp4", CLIP, "clip")])
            clip = stored(served, aid, "clip.mp4")
            assert Path(clip.path or "").read_bytes() == CLIP
            until("the outbox empty", lambda: rig.outbox.depth() == 0)
            assert rig.sender.bytes_sent == len(CLIP) - 100_000  # only the rest went


def test_wrong_key_another_sites_key_and_a_stale_time_are_refused(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key, other, south = (Ed25519PrivateKey.generate() for _ in range(3))
    sha = hashlib.sha256(CLIP).hexdigest()
    aid = str(uuid.uuid4())
    with serve(tmp_path, broker) as served:
        register(served, SITE, key)
        register(served, "south", south)
        cases = {
            "a key nobody registered": EvidenceClient(served.url, SITE, other),
            "south's key for north": EvidenceClient(served.url, SITE, south),
            "an hour old": EvidenceClient(served.url, SITE, key, clock=lambda: time.time() - 3600),
        }
        for what, client in cases.items():
            for answer in (
                client.status(aid, "clip.mp4", len(CLIP), sha),
                client.put(aid, "clip.mp4", len(CLIP), sha, 0, CLIP[:CHUNK]),
            ):
                assert answer.status == 401, (what, answer)
                expected = "from the console's clock" if what == "an hour old" else "signature"
                assert expected in answer.reason, (what, answer.reason)
            client.close()
        unregistered = EvidenceClient(served.url, "west", key)
        answer = unregistered.status(aid, "clip.mp4", len(CLIP), sha)
        assert answer.status == 401 and "sitewatch server add-edge west" in answer.reason
        unregistered.close()
        assert not (served.state.settings.evidence_dir / "_uploads").exists()
        # the edge keeps a file the console refused for its key: fixed, it goes
        with edge(tmp_path, broker, other, served.url) as rig:
            rig.file(uuid.UUID(aid), "clip.mp4", CLIP)
            until("a 401 answered", lambda: rig.sender.refused["401"] >= 2)
            assert rig.outbox.depth() == 1 and rig.outbox.dropped == {}


def test_a_file_other_than_listed_is_refused_and_not_kept(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key = Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    forged = CLIP[:-1] + b"\x00"
    with serve(tmp_path, broker) as served:
        register(served, SITE, key)
        with edge(tmp_path, broker, key, served.url) as rig:
            rig.alert(aid, [evidence_file("clip.mp4", CLIP, "clip")])
            stored(served, aid, "clip.mp4", status="expected")
            rig.file(aid, "clip.mp4", forged)
            reason = "evidence refused by the console (422)"
            until("the file refused", lambda: rig.outbox.dropped[reason] == 1)
            assert rig.outbox.depth() == 0 and rig.sender.sent == 0
        row = stored(served, aid, "clip.mp4", status="mismatch")
        assert row.path is None
        rejects = served.rows(IngestReject)
        assert any("clip.mp4" in r.reason and "SHA-256" in r.reason for r in rejects), rejects
        evidence_dir = served.state.settings.evidence_dir
        assert not [p for p in evidence_dir.rglob("*") if p.is_file()], "nothing kept"


def test_nothing_is_lost_while_the_console_is_down(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key = Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind((HOST, 0))
        down = f"http://{HOST}:{sock.getsockname()[1]}"
        with edge(tmp_path, broker, key, down) as rig:
            rig.file(aid, "clip.mp4", CLIP)
            until("retries", lambda: rig.sender.refused["no answer"] >= 3)
            assert rig.outbox.depth() == 1 and rig.outbox.dropped == {}
            with serve(tmp_path, broker) as served:
                register(served, SITE, key)
                rig.sender.learn(served.url)  # the console is back (at its address)
                rig.alert(aid, [evidence_file("clip.mp4", CLIP, "clip")])
                clip = stored(served, aid, "clip.mp4")
                assert Path(clip.path or "").read_bytes() == CLIP
                until("the outbox empty", lambda: rig.outbox.depth() == 0)


def test_until_the_console_is_known_evidence_goes_over_mqtt_then_over_http(
    tmp_path: Path,
    broker: Mosquitto,
) -> None:
    key = Ed25519PrivateKey.generate()
    first, second = uuid.uuid4(), uuid.uuid4()
    with serve(tmp_path, broker) as served, edge(tmp_path, broker, key, None) as rig:
        register(served, SITE, key)
        ingest = served.state.ingest
        assert ingest is not None and not rig.sender.ready()
        received_before = ingest.received
        rig.file(first, "clip.mp4", CLIP)
        rig.alert(first, [evidence_file("clip.mp4", CLIP, "clip")])
        stored(served, first, "clip.mp4")
        assert ingest.received - received_before == 2  # the file came on the broker
        # its row goes once the broker's ack is collected (up to 1 s later); a row still in
        # the outbox when the lane opens is asked about over HTTP, answered complete, removed
        until("the first file's row acknowledged", lambda: rig.outbox.depth() == 0)
        # a signed video command names the console's upload URL: evidence follows it
        rig.sender.heard(f"{served.url}/api/edge/video/{uuid.uuid4()}")
        assert rig.sender.ready()
        rig.file(second, "clip.mp4", CLIP)
        rig.alert(second, [evidence_file("clip.mp4", CLIP, "clip")])
        stored(served, second, "clip.mp4")
        until("the outbox empty", lambda: rig.outbox.depth() == 0)
        assert rig.sender.sent == 1 and ingest.received - received_before == 3
