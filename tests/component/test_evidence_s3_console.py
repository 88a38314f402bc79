"""The console with its evidence in S3 (``SITEWATCH_EVIDENCE_BACKEND=s3``) on a real
SeaweedFS server (tests/support/s3_server.py) and a real mosquitto: an alert's snapshot and
clip ingested over MQTT land in the bucket, the API serves them back byte-exact (and a byte
range of the clip), a file uploaded over HTTP lands there too, a changed object is refused as
tampered, and nothing is left under ``evidence_dir``. Features that read evidence as local
files refuse with ``evidence.backend_unsupported``. Plus the settings' refusal of an
incomplete S3 setup."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.settings import Settings
from sitewatch.console.settings_env import SettingsProblem, settings_from_env
from sitewatch.console.store.blob_backends import blob_settings, evidence_blobs
from sitewatch.console.store.blobs import BlobStore
from sitewatch.console.store.models import Camera, Evidence
from sitewatch.contract import messages as m
from sitewatch.edge.publish.evidence_upload import CHUNK_BYTES
from tests.component.test_console_playback import serve
from tests.component.test_evidence_http_upload import edge, register, stored
from tests.support.console_support import add_users
from tests.support.ingest_support import (
    CLIP,
    JPEG,
    PREFIX,
    LiveConsole,
    alert,
    edge_of,
    evidence_file,
    live_console,
    wait_for,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401
from tests.support.s3_server import S3Server, s3_server_fixture  # noqa: F401


def s3_extra(server: S3Server) -> dict[str, Any]:
    return {
        "evidence_backend": "s3",
        "s3_endpoint": server.endpoint,
        "s3_bucket": server.bucket,
        "s3_access_key": server.access_key,
        "s3_secret_key": server.secret_key,
        "s3_prefix": "console-" + secrets.token_hex(4),  # each test its own corner
        "s3_part_bytes": 5 * 1024 * 1024,
        "s3_timeout_s": 10.0,
    }


@pytest.fixture(name="s3_console")
def s3_console_fixture(
    tmp_path: Path, broker: Mosquitto, s3_server: S3Server
) -> Iterator[LiveConsole]:
    with live_console(tmp_path, broker, **s3_extra(s3_server)) as console:
        add_users(console, ("li.wei", "manager", ["north"]))
        yield console


def blobs_of(console: LiveConsole) -> BlobStore:
    blobs = evidence_blobs(console.settings)
    assert blobs is not None and console.ingest.store.blobs is blobs  # one store for all
    return blobs


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_evidence_ingested_over_mqtt_is_kept_in_s3_and_served_back(
    s3_console: LiveConsole, broker: Mosquitto
) -> None:
    console, aid = s3_console, uuid.uuid4()
    files = [evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")]
    with edge_of(broker) as edge:
        edge.evidence("north", aid, "snap.jpg", JPEG)  # before its listing: staged
        edge.alert(alert(aid, 0, evidence=files))
        edge.evidence("north", aid, "clip.mp4", CLIP)  # after it: stored on arrival
        edge.send(m.camera_snapshot(PREFIX, "north", "gate"), JPEG)
        console.settle(edge.sent)
    rows = {e.name: e for e in console.rows(Evidence)}
    assert {name: e.status for name, e in rows.items()} == {
        "snap.jpg": "stored",
        "clip.mp4": "stored",
    }
    assert rows["clip.mp4"].path == f"north/{aid}/clip.mp4"  # the bare key, not a local file

    blobs = blobs_of(console)
    assert [(e.key, e.size) for e in blobs.list()] == [
        ("_cameras/north/gate.jpg", len(JPEG)),
        (f"north/{aid}/clip.mp4", len(CLIP)),
        (f"north/{aid}/snap.jpg", len(JPEG)),
    ]  # nothing left in _incoming/
    assert blobs.digest(f"north/{aid}/clip.mp4") == (len(CLIP), hashlib.sha256(CLIP).hexdigest())

    user = console.login("li.wei")
    r = user.get(f"/api/alerts/{aid}/evidence/clip.mp4")
    assert r.status_code == 200, r.text
    assert r.content == CLIP and r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"] == 'inline; filename="clip.mp4"'
    assert r.headers["x-content-type-options"] == "nosniff"
    r = user.get(f"/api/alerts/{aid}/evidence/clip.mp4", headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206 and r.content == CLIP[100:1100]
    assert r.headers["content-range"] == f"bytes 100-1099/{len(CLIP)}"
    r = user.get(f"/api/alerts/{aid}/evidence/clip.mp4", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == CLIP[-10:]
    r = user.get(f"/api/alerts/{aid}/evidence/clip.mp4", headers={"Range": f"bytes={len(CLIP)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(CLIP)}"
    r = user.get(f"/api/alerts/{aid}/evidence/snap.jpg", params={"download": "true"})
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-disposition"] == 'attachment; filename="snap.jpg"'

    wait_for("the camera's snapshot", lambda: console.rows(Camera)[0].snapshot_path)
    r = user.get("/api/cameras/north/gate/snapshot")
    assert r.status_code == 200 and r.content == JPEG

    # reads evidence as local files: refused, clearly, on S3
    r = user.get(f"/api/alerts/{aid}/export")
    assert r.status_code == 501 and r.json()["code"] == "evidence.backend_unsupported"

    # only the evidence folder itself (made at start); no file of evidence on local disk
    assert files_under(console.settings.evidence_dir) == []


def test_evidence_uploaded_over_http_goes_to_the_bucket(
    tmp_path: Path, broker: Mosquitto, s3_server: S3Server
) -> None:
    key = Ed25519PrivateKey.generate()
    clip = bytes(range(256)) * 12_000  # 3 MB: three chunks of 1 MiB, the last short
    with serve(tmp_path, broker, **s3_extra(s3_server)) as served:
        register(served, "north", key)
        with edge(tmp_path, broker, key, served.url, chunk_bytes=CHUNK_BYTES) as rig:
            aid = uuid.uuid4()
            rig.file(aid, "clip.mp4", clip)
            rig.alert(aid, [evidence_file("clip.mp4", clip, "clip")])
            row = stored(served, aid, "clip.mp4")
        assert row.path == f"north/{aid}/clip.mp4" and row.signed
        blobs = evidence_blobs(served.state.settings)
        assert blobs is not None
        assert blobs.digest(row.path) == (len(clip), hashlib.sha256(clip).hexdigest())
        assert [e.key for e in blobs.list("_incoming/")] == []
        # the partial upload was local (docs/design/evidence-storage.md) and is gone once whole
        assert files_under(served.state.settings.evidence_dir) == []


def test_an_object_changed_in_the_bucket_is_refused_as_tampered(
    s3_console: LiveConsole, broker: Mosquitto
) -> None:
    console, aid = s3_console, uuid.uuid4()
    with edge_of(broker) as edge:
        edge.alert(alert(aid, 0, evidence=[evidence_file("snap.jpg", JPEG)]))
        edge.evidence("north", aid, "snap.jpg", JPEG)
        console.settle(edge.sent)
    user = console.login("li.wei")
    assert user.get(f"/api/alerts/{aid}/evidence/snap.jpg").content == JPEG  # verified, cached
    blobs_of(console).put_bytes(f"north/{aid}/snap.jpg", JPEG[:-1] + b"\x00")  # same size
    r = user.get(f"/api/alerts/{aid}/evidence/snap.jpg")  # a whole read is hashed again
    assert r.status_code == 409 and r.json()["code"] == "evidence.tampered"
    r = user.get(f"/api/alerts/{aid}/evidence/snap.jpg", headers={"Range": "bytes=10-"})
    assert r.status_code == 409  # the refusal was not remembered as a verification
    blobs_of(console).delete(f"north/{aid}/snap.jpg")
    r = user.get(f"/api/alerts/{aid}/evidence/snap.jpg")
    assert r.status_code == 410 and r.json()["code"] == "evidence.file_missing"


def test_the_s3_backend_names_each_missing_setting(tmp_path: Path) -> None:
    env = {
        "SITEWATCH_EVIDENCE_BACKEND": "s3",
        "SITEWATCH_S3_ENDPOINT": "https://s3.example.com",
        "SITEWATCH_S3_ACCESS_KEY": "AKIAEXAMPLE",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        with pytest.raises(SettingsProblem) as info:
            settings_from_env(env)
    [line] = info.value.lines
    assert line.startswith("SITEWATCH_EVIDENCE_BACKEND='s3': ")
    assert "SITEWATCH_S3_BUCKET, SITEWATCH_S3_SECRET_KEY" in line
    assert "SITEWATCH_S3_ENDPOINT" not in line.split("needs", 1)[1].split("got", 1)[0]


def test_the_filesystem_backend_needs_no_s3_setting_and_maps_to_blob_settings(
    tmp_path: Path,
) -> None:
    fs = Settings(evidence_dir=tmp_path / "ev")
    assert fs.evidence_backend == "fs" and evidence_blobs(fs) is None
    s3 = Settings(
        evidence_backend="s3", s3_endpoint="http://127.0.0.1:8333", s3_bucket="b",
        s3_access_key="k", s3_secret_key="secret", s3_prefix="one/two",
    )  # fmt: skip
    bs = blob_settings(s3)
    assert (bs.backend, bs.endpoint, bs.bucket, bs.prefix, bs.region) == (
        "s3", "http://127.0.0.1:8333", "b", "one/two", "us-east-1",
    )  # fmt: skip
    assert "secret" not in repr(s3) and "secret" not in repr(bs)
    with pytest.raises(ValueError, match="s3_part_bytes"):
        Settings(s3_part_bytes=1024)
