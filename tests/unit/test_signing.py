"""Message signatures (sitewatch/contract/signing.py): a signed message survives the wire and
nothing else does; keys load, are made once, and bad key texts and files are refused with advice."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.contract import signing
from tests.unit.test_contract import SAMPLES, alert

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda msg: msg.SCHEMA)
def test_a_signed_message_verifies_after_the_wire(msg: m.Message) -> None:
    payload = signing.Signer(KEY).encode(msg)
    received = m.decode(payload)
    assert signing.verify(received, KEY.public_key())
    assert not signing.verify(received, OTHER.public_key())


def test_reordered_and_respaced_json_still_verifies() -> None:
    data = json.loads(signing.Signer(KEY).encode(alert()))
    shuffled = json.dumps(dict(reversed(list(data.items()))), indent=2).encode()
    assert signing.verify(m.decode(shuffled), KEY.public_key())


@pytest.mark.parametrize(
    ("field", "value"),
    [("label", "helmet"), ("score", 0.5), ("rule", "smoking"), ("site_id", "south-yard")],
)
def test_a_changed_field_breaks_the_signature(field: str, value: object) -> None:
    data = json.loads(signing.Signer(KEY).encode(alert()))
    data[field] = value
    assert not signing.verify(m.decode(json.dumps(data).encode()), KEY.public_key())


def test_a_changed_evidence_hash_breaks_the_signature() -> None:
    data = json.loads(signing.Signer(KEY).encode(alert()))
    data["evidence"][0]["sha256"] = "cd" * 32
    assert not signing.verify(m.decode(json.dumps(data).encode()), KEY.public_key())


def test_unsigned_and_garbage_signatures_do_not_verify() -> None:
    assert not signing.verify(alert(), KEY.public_key())
    assert signing.Signer(None).encode(alert()) == m.encode(alert())
    junk = alert().model_copy(update={"signature": "AAAA"})
    assert not signing.verify(junk, KEY.public_key())


def test_public_key_text_round_trips_and_bad_text_is_explained() -> None:
    text = signing.public_key_text(KEY)
    assert len(text) == 44
    assert signing.public_key_text(signing.parse_public_key(text)) == text
    assert signing.fingerprint(text) == signing.fingerprint(KEY)
    with pytest.raises(signing.SigningKeyError, match=r"base64 of 32 bytes.*sitewatch server"):
        signing.parse_public_key("not-a-key")


def test_a_key_file_is_made_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "edge.key"
    first = signing.load_or_create_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = signing.load_or_create_key(path)
    assert signing.public_key_text(first) == signing.public_key_text(again)


def test_a_key_file_that_is_not_a_key_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "edge.key"
    path.write_text("hello")
    with pytest.raises(signing.SigningKeyError, match="expected an Ed25519 private key"):
        signing.load_or_create_key(path)
    with pytest.raises(signing.SigningKeyError, match="cannot read"):
        signing.load_key(tmp_path / "missing.key")


def test_an_oversized_payload_is_refused_unread() -> None:
    payload = b'{"schema": "sitewatch.alert/1", "label": "' + b"x" * m.MAX_MESSAGE_BYTES + b'"}'
    with pytest.raises(m.ContractError, match="at most 262144 bytes"):
        m.decode(payload)


def test_only_jpeg_and_mp4_evidence_is_accepted() -> None:
    data = json.loads(m.encode(alert()))
    data["evidence"][0]["content_type"] = "image/svg+xml"
    with pytest.raises(m.ContractError, match="content_type"):
        m.decode(json.dumps(data).encode())


def test_a_value_json_cannot_carry_is_signed_as_it_arrives() -> None:
    """disk_hours_left = inf (nothing recorded) goes out as null: the signature must cover
    null, or every such stats message is refused as forged."""
    stats = m.EdgeStats(
        site_id="north-yard",
        at=datetime(2026, 12, 5, tzinfo=UTC),
        interval_s=60.0,
        cameras=[],
        batches=0,
        batch_size_mean=0.0,
        inference_ms_p50=0.0,
        inference_ms_p95=0.0,
        frames_dropped_stale=0,
        outbox_depth=0,
        disk_hours_left=float("inf"),
    )
    received = m.decode(signing.Signer(KEY).encode(stats), m.EdgeStats)
    assert received.disk_hours_left is None
    assert signing.verify(received, KEY.public_key())
