"""``sitewatch verify PACKAGE.zip`` on packages the console exported from alerts that came over a
real mosquitto: a signed alert's package verifies; one changed byte of the clip, a rewritten
message or an added file fails it, naming what; an open site's package is reported UNSIGNED."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.cli import main
from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract.signing import public_key_text, sign
from tests.support.console_support import add_users, clip_bytes, jpeg_bytes
from tests.support.ingest_support import alert, edge_of, evidence_file, live_console
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return clip_bytes(tmp_path_factory.mktemp("clip"))


def export(
    tmp_path: Path,
    broker: Mosquitto,
    clip: bytes,
    *,
    signed: bool,
    rotate: bool = False,
    clip_sent: bool = True,
) -> Path:
    """An alert (start, update, end with a clip and a snapshot) sent by an edge, signed with
    the site's registered key or (open site) unsigned, exported by a police user; ``rotate``:
    the edge's key is replaced after the alert and before the export; ``clip_sent`` False: the
    clip is listed but its bytes never arrive."""
    key = Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    snap = jpeg_bytes("evidence")
    files = [evidence_file("snap.jpg", snap), evidence_file("clip.mp4", clip, "clip")]
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        add_users(console, ("zhou.min", "police", ["north"]))
        if signed:
            with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
                s.add(
                    BrokerAccount(
                        username="edge-north", role="edge", site_id="north",
                        password_hash="$7$unused", public_key=public_key_text(key),
                    )
                )  # fmt: skip
        edge.evidence("north", aid, "snap.jpg", snap)
        if clip_sent:
            edge.evidence("north", aid, "clip.mp4", clip)
        for msg in (alert(aid, 0, evidence=files[:1]), alert(aid, 1, evidence=files)):
            edge.alert(sign(msg, key) if signed else msg)
        end = alert(aid, 2, end=True, evidence=files)
        edge.alert(sign(end, key) if signed else end)
        console.settle(edge.sent)
        if rotate:
            with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
                account = s.get(BrokerAccount, "edge-north")
                assert account is not None
                account.public_key = public_key_text(Ed25519PrivateKey.generate())
        r = console.login("zhou.min").get(f"/api/alerts/{aid}/export")
        assert r.status_code == 200, r.text
    path = tmp_path / f"sitewatch-alert-{aid}.zip"
    path.write_bytes(r.content)
    return path


def verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(path), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def rewrite(path: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the zip with each entry passed through ``change`` (None drops it)."""
    out = path.with_name("changed-" + path.name)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = change(info.filename.split("/", 1)[1], src.read(info))
            if data is not None:
                dst.writestr(info, data)
    return out


def test_a_signed_alert_s_package_verifies(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    package = export(tmp_path, broker, clip, signed=True)
    code, out = verify(package, capsys, "--require-signed")
    assert code == 0, out
    assert "FAILED" not in out and "UNSIGNED" not in out
    assert "OK        file evidence/clip.mp4" in out
    assert "OK        listing evidence/clip.mp4: as the edge's signed message seq 2" in out
    assert out.count("signed by the edge key") == 3
    assert "OK        manifest signature" in out and "OK        custody" in out
    assert out.rstrip().endswith("checks passed")


def test_a_package_still_verifies_after_the_edge_s_key_was_replaced(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """The messages verify with the key the console checked them with on arrival, which
    keys.json keeps beside the key registered now."""
    package = export(tmp_path, broker, clip, signed=True, rotate=True)
    with zipfile.ZipFile(package) as zf:
        [name] = [n for n in zf.namelist() if n.endswith("/keys.json")]
        keys = json.loads(zf.read(name))
    [old] = keys["edge_keys"]
    assert old["fingerprint"] != keys["edge"]["fingerprint"]
    code, out = verify(package, capsys, "--require-signed")
    assert code == 0, out
    assert out.count("signed by the edge key") == 3


def test_evidence_that_never_arrived_is_noted_not_failed(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    package = export(tmp_path, broker, clip, signed=True, clip_sent=False)
    code, out = verify(package, capsys)
    assert code == 0, out
    assert "NOTE      evidence clip.mp4 is not in the package: expected" in out
    assert "OK        listing evidence/snap.jpg" in out and "evidence/clip.mp4" not in out


def test_one_changed_byte_of_the_clip_fails_naming_the_file(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    package = export(tmp_path, broker, clip, signed=True)

    def flip(name: str, data: bytes) -> bytes:
        if name != "evidence/clip.mp4":
            return data
        changed = bytearray(data)
        changed[len(data) // 2] ^= 0x01
        return bytes(changed)

    code, out = verify(rewrite(package, flip), capsys)
    assert code == 1, out
    failed = [line for line in out.splitlines() if line.strip().startswith("FAILED")]
    assert failed and all("evidence/clip.mp4" in line for line in failed), out
    assert "the file was changed" in out and "not the file the edge sent" in out
    assert "Result: FAILED" in out


def test_a_rewritten_message_fails_even_with_the_hashes_recomputed(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forger who changes a message and recomputes every hash still fails: the edge's
    signature of the message and the console's signature of the manifest no longer verify."""
    package = export(tmp_path, broker, clip, signed=True)
    with zipfile.ZipFile(package) as zf:
        root = zf.namelist()[0].split("/")[0]
        doc = json.loads(zf.read(f"{root}/messages.json"))
        doc["messages"][0]["message"]["label"] = "nobody"
        messages = json.dumps(doc).encode()
        manifest = json.loads(zf.read(f"{root}/manifest.json"))
    for entry in manifest["files"]:
        if entry["name"] == "messages.json":
            entry["sha256"] = hashlib.sha256(messages).hexdigest()
            entry["size_bytes"] = len(messages)
    manifest_bytes = json.dumps(manifest).encode()

    def forge(name: str, data: bytes) -> bytes:
        if name == "messages.json":
            return messages
        if name == "manifest.json":
            return manifest_bytes
        if name == "manifest.sha256":
            lines = data.decode().splitlines()
            sums = {n: h for h, n in (line.split("  ", 1) for line in lines)}
            sums["messages.json"] = hashlib.sha256(messages).hexdigest()
            sums["manifest.json"] = hashlib.sha256(manifest_bytes).hexdigest()
            return "".join(f"{h}  {n}\n" for n, h in sums.items()).encode()
        return data

    code, out = verify(rewrite(package, forge), capsys)
    assert code == 1, out
    assert "OK        file messages.json" in out  # the hashes agree...
    assert "FAILED    manifest signature" in out  # ...but the console did not sign them
    assert "FAILED    message seq 0 (start): its signature does not verify" in out


def test_an_added_file_and_a_non_package_are_refused(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    package = export(tmp_path, broker, clip, signed=True)
    buf = io.BytesIO(package.read_bytes())
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(f"{zf.namelist()[0].split('/')[0]}/evidence/extra.jpg", b"\xff\xd8\xff")
    added = tmp_path / "added.zip"
    added.write_bytes(buf.getvalue())
    code, out = verify(added, capsys)
    assert code == 1 and "FAILED    file evidence/extra.jpg: in the zip but not in manifest" in out

    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"hello")
    code, out = verify(not_zip, capsys)
    assert code == 2 and "expected a SiteWatch package (a zip)" in out


def test_an_open_site_s_package_verifies_its_hashes_but_says_unsigned(
    tmp_path: Path, broker: Mosquitto, clip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warn, not fail, by default: the package is as exported (hashes, the console's signature,
    custody), but nothing proves the edge made it; --require-signed makes that a failure."""
    package = export(tmp_path, broker, clip, signed=False)
    code, out = verify(package, capsys)
    assert code == 0, out
    assert "FAILED" not in out and "OK        file evidence/clip.mp4" in out
    assert "UNSIGNED  edge key: none in keys.json" in out
    assert "UNSIGNED  listing evidence/clip.mp4" in out
    assert "Result: OK but UNSIGNED" in out
    code, out = verify(package, capsys, "--require-signed")
    assert code == 1 and "Result: OK but UNSIGNED" in out


def test_the_checker_needs_no_console() -> None:
    """A reviewer's machine has no database or web server: the module imports without them."""
    code = (
        "import sys; import sitewatch.console.domain.verify_package; "
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'sitewatch.console.store.db', 'paho') "
        "if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
