"""One contract, two backends: the evidence blob store on a filesystem and in a real
S3-compatible server (SeaweedFS on loopback, tests/support/s3_server.py; skipped, naming
what to install, when it is missing). Sizes in bytes; digests are SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitewatch.console.store.blob_backends import open_blob_store
from sitewatch.console.store.blobs import (
    MIB,
    BadRange,
    BlobError,
    BlobMissing,
    BlobSettings,
    BlobStore,
    DigestMismatch,
    Expect,
    FileBlobStore,
    StorageDenied,
    StorageUnavailable,
    TooLarge,
    UnsafeKey,
)
from sitewatch.console.store.evidence import EvidenceStore, Quota
from tests.support.s3_server import (  # noqa: F401
    S3Server,
    free_ports,
    s3_server_fixture,
    s3_tls_server_fixture,
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
PART = 5 * MIB  # the S3 backend's part size here: S3's floor, so 12 MiB is three parts


def s3_settings(server: S3Server, **changes: object) -> BlobSettings:
    values: dict[str, object] = {
        "backend": "s3",
        "endpoint": server.endpoint,
        "bucket": server.bucket,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "prefix": "t" + secrets.token_hex(4),  # each test its own corner of the bucket
        "part_bytes": PART,
        "timeout_s": 10.0,
    }
    values.update(changes)
    return BlobSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "fs":
        yield open_blob_store(BlobSettings(backend="fs", root=tmp_path / "blobs"))
        return
    server: S3Server = request.getfixturevalue("s3_server")
    yield open_blob_store(s3_settings(server))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_reads_back_byte_exact(store: BlobStore) -> None:
    data = os.urandom(300_001)
    info = store.put_bytes("site-a/3f2c/clip.mp4", data)
    assert (info.key, info.size, info.sha256) == ("site-a/3f2c/clip.mp4", len(data), sha(data))
    assert store.read("site-a/3f2c/clip.mp4") == data
    assert store.digest("site-a/3f2c/clip.mp4") == (len(data), sha(data))
    assert store.size("site-a/3f2c/clip.mp4") == len(data)
    assert store.exists("site-a/3f2c/clip.mp4")


def test_empty_blob_and_overwrite(store: BlobStore) -> None:
    assert store.put_bytes("a/empty", b"").sha256 == sha(b"")
    assert store.read("a/empty") == b"" and store.size("a/empty") == 0
    store.put_bytes("a/x", b"old bytes")
    store.put_bytes("a/x", b"new")
    assert store.read("a/x") == b"new"


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 10, slice(0, 10)),
        (1000, None, slice(1000, None)),
        (4090, 100, slice(4090, 4096)),  # clipped at the end, as HTTP and S3 do
        (17, 0, slice(17, 17)),
        (4095, 1, slice(4095, 4096)),
    ],
)
def test_ranges(store: BlobStore, offset: int, length: int | None, expected: slice) -> None:
    data = os.urandom(4096)
    store.put_bytes("r/blob", data)
    assert store.read("r/blob", offset, length) == data[expected]


@pytest.mark.parametrize(("offset", "length"), [(4096, 1), (5000, None), (-1, 4), (0, -2)])
def test_ranges_outside_are_refused(store: BlobStore, offset: int, length: int | None) -> None:
    store.put_bytes("r/blob", os.urandom(4096))
    with pytest.raises(BadRange):
        store.read("r/blob", offset, length)


def test_large_file_streams_in_parts(store: BlobStore, tmp_path: Path) -> None:
    """12 MiB + 123 bytes from a file: three 5 MiB parts on S3, one temporary file on disk;
    read back in chunks and by a range across a part boundary."""
    source = tmp_path / "video.mp4"
    data = os.urandom(12 * MIB + 123)
    source.write_bytes(data)
    info = store.put_file("v/cam-1/segment.mp4", source, Expect(sha256=sha(data)))
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert b"".join(store.chunks("v/cam-1/segment.mp4", chunk_bytes=MIB)) == data
    assert store.read("v/cam-1/segment.mp4", PART - 10, 20) == data[PART - 10 : PART + 10]
    if not isinstance(store, FileBlobStore):  # the server kept it as a multipart object
        stat = store._client.stat_object(store.bucket, store.prefix + "v/cam-1/segment.mp4")  # type: ignore[attr-defined]
        assert str(stat.etag).endswith("-3"), stat.etag


@pytest.mark.parametrize("size", [1000, 2 * PART, 2 * PART + 7])  # one part; exact; three
def test_bytes_not_as_listed_replace_nothing(store: BlobStore, size: int) -> None:
    store.put_bytes("e/clip.mp4", b"the edge's verified clip")
    data = os.urandom(size)
    with pytest.raises(DigestMismatch) as caught:
        store.put("e/clip.mp4", io.BytesIO(data), Expect(sha256=sha(b"something else")))
    assert (caught.value.size, caught.value.sha256) == (size, sha(data))
    assert store.read("e/clip.mp4") == b"the edge's verified clip"
    with pytest.raises(DigestMismatch):
        store.put("e/new.mp4", io.BytesIO(data), Expect(size=size - 1))
    assert not store.exists("e/new.mp4")
    assert [e.key for e in store.list("e/")] == ["e/clip.mp4"]  # no leftovers


def test_over_max_bytes_is_refused_before_the_end(store: BlobStore) -> None:
    with pytest.raises(TooLarge, match="at most 1000 bytes"):
        store.put_bytes("q/big", os.urandom(5000), Expect(max_bytes=1000))
    assert not store.exists("q/big")
    assert store.put_bytes("q/ok", os.urandom(1000), Expect(max_bytes=1000)).size == 1000


def test_delete_and_missing(store: BlobStore) -> None:
    store.put_bytes("d/one", b"1")
    assert store.delete("d/one") is True
    assert store.delete("d/one") is False
    with pytest.raises(BlobMissing, match="d/one"):
        store.read("d/one")
    with pytest.raises(BlobMissing):
        store.size("d/one")
    assert not store.exists("d/one")


def test_list_by_prefix(store: BlobStore) -> None:
    for key, size in [("s/a/1", 1), ("s/a/2", 2), ("s/ab/3", 3), ("s/b/4", 4), ("s/_x/5", 5)]:
        store.put_bytes(key, b"x" * size)
    assert [(e.key, e.size) for e in store.list("s/a/")] == [("s/a/1", 1), ("s/a/2", 2)]
    assert [e.key for e in store.list("s/a")] == ["s/a/1", "s/a/2", "s/ab/3"]
    assert [e.key for e in store.list("s/")] == ["s/_x/5", "s/a/1", "s/a/2", "s/ab/3", "s/b/4"]
    assert [e.key for e in store.list("")] == [e.key for e in store.list("s")]
    assert list(store.list("zz/")) == []
    assert all(e.modified_s > 1e9 for e in store.list("s/"))


def test_move(store: BlobStore) -> None:
    store.put_bytes("_incoming/site/alert/clip.mp4", b"clip")
    store.move("_incoming/site/alert/clip.mp4", "site/alert/clip.mp4")
    assert store.read("site/alert/clip.mp4") == b"clip"
    assert not store.exists("_incoming/site/alert/clip.mp4")
    with pytest.raises(BlobMissing):
        store.move("_incoming/site/alert/clip.mp4", "site/alert/other.mp4")


UNSAFE = ["../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", ".hidden", "a/.tmp", "a\\b",
          "a\x00b", "a\nb", "", "a/", "a/..", "é/x", "x" * 1025]  # fmt: skip


@pytest.mark.parametrize("key", UNSAFE)
def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(UnsafeKey):
        store.put_bytes(key, b"x")
    with pytest.raises(UnsafeKey):
        store.read(key)
    with pytest.raises(UnsafeKey):
        store.delete(key)


@pytest.mark.parametrize("prefix", ["../", "/", "a//", "a/../", ".x", "a\\"])
def test_unsafe_prefixes_are_refused(store: BlobStore, prefix: str) -> None:
    with pytest.raises(UnsafeKey):
        list(store.list(prefix))


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "site").symlink_to(tmp_path / "outside")
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(UnsafeKey, match="would leave"):
        store.put_bytes("site/x", b"x")
    assert list((tmp_path / "outside").iterdir()) == []


def test_wrong_credentials_are_a_clear_error(s3_server: S3Server) -> None:
    bad = s3_settings(s3_server, secret_key="not-" + s3_server.secret_key)
    with pytest.raises(StorageDenied, match="SITEWATCH_S3_SECRET_KEY") as caught:
        open_blob_store(bad)
    assert s3_server.endpoint in str(caught.value)
    unknown = s3_settings(s3_server, access_key="nobody")
    with pytest.raises(StorageDenied, match="'nobody'"):
        open_blob_store(unknown)


def test_missing_bucket_and_no_server_are_clear_errors(s3_server: S3Server) -> None:
    with pytest.raises(BlobError, match=r"does not exist.*SITEWATCH_S3_BUCKET"):
        open_blob_store(s3_settings(s3_server, bucket="no-such-bucket"))
    (closed,) = free_ports(1)
    with pytest.raises(StorageUnavailable, match="SITEWATCH_S3_ENDPOINT"):
        open_blob_store(s3_settings(s3_server, endpoint=f"http://127.0.0.1:{closed}"))


def test_https_with_a_private_ca(s3_tls_server: S3Server) -> None:
    """Over HTTPS, the certificate checked against SITEWATCH_S3_CA_FILE (a multipart put)."""
    store = open_blob_store(s3_settings(s3_tls_server, ca_file=s3_tls_server.ca_file))
    data = os.urandom(PART + 5)
    assert store.put_bytes("tls/clip.mp4", data).sha256 == sha(data)
    assert store.read("tls/clip.mp4", PART - 3) == data[PART - 3 :]
    with pytest.raises(StorageUnavailable, match="SITEWATCH_S3_CA_FILE"):
        open_blob_store(s3_settings(s3_tls_server))  # certifi's CAs do not know the test CA


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoint": "127.0.0.1:9000"}, "http"),
        ({"bucket": ""}, "SITEWATCH_S3_BUCKET"),
        ({"part_bytes": MIB}, "SITEWATCH_S3_PART_BYTES"),
        ({"backend": "ftp"}, "'fs' or 's3'"),
    ],
)
def test_settings_refused_before_any_request(changes: dict[str, object], message: str) -> None:
    pytest.importorskip("minio")
    values: dict[str, object] = {
        "backend": "s3",
        "endpoint": "http://127.0.0.1:9",
        "bucket": "b",
        "part_bytes": PART,
    }
    values.update(changes)
    with pytest.raises(BlobError, match=message):
        open_blob_store(BlobSettings(**values))  # type: ignore[arg-type]


def test_the_evidence_store_runs_on_either_backend(store: BlobStore, tmp_path: Path) -> None:
    """Stage, keep the edge's copy aside from forged bytes, promote by the listed SHA-256,
    snapshot, sweep and delete: the same through files and through a bucket."""
    evidence = EvidenceStore(tmp_path / "evidence", blobs=store)
    alert = "0b7e1c1e-4d0a-4d6e-9a51-7d0c2f3c9a10"
    clip, forged = os.urandom(70_000), b"forged"
    evidence.stage("north", alert, "clip.mp4", clip)
    evidence.stage("north", alert, "clip.mp4", forged)  # after the edge's: kept aside
    evidence.stage("north", alert, "snap.jpg", JPEG)
    verdict = evidence.promote("north", alert, "clip.mp4", sha(clip), len(clip))
    assert verdict is not None and verdict.ok and verdict.path is not None
    key = f"north/{alert}/clip.mp4"
    local = isinstance(store, FileBlobStore)
    assert verdict.path == (tmp_path / "evidence" / key if local else Path(key))
    assert store.read(key) == clip
    assert [e.key for e in store.list("_incoming/")] == [f"_incoming/north/{alert}/snap.jpg"]
    evidence.write_snapshot("north", "gate", JPEG)
    assert store.read("_cameras/north/gate.jpg") == JPEG
    assert evidence.sweep_incoming(3600.0, now=time.time() + 7200) == 1
    assert list(store.list("_incoming/")) == []
    assert evidence.delete(verdict.path) is True
    assert not store.exists(key)


def test_a_finished_upload_is_staged_from_its_file(store: BlobStore, tmp_path: Path) -> None:
    """A large upload goes in from its file (streamed, 12 MiB: parts on S3) and is promoted."""
    evidence = EvidenceStore(tmp_path / "evidence", Quota(file_bytes=64 * MIB), blobs=store)
    alert = "5d1f0c64-1f7e-4c8e-8a57-0b1e2d3c4f50"
    upload = tmp_path / "upload.part"
    upload.write_bytes(os.urandom(12 * MIB))
    evidence.stage_file("north", alert, "clip.mp4", upload)
    size, digest = upload.stat().st_size, sha(upload.read_bytes())
    verdict = evidence.promote("north", alert, "clip.mp4", digest, size)
    assert verdict is not None and verdict.ok
    assert store.digest(f"north/{alert}/clip.mp4") == (size, digest)
    assert upload.is_file()  # the caller's to delete
