"""Ed25519 signatures of contract messages: who sent a message, and that nobody changed it.

A signed message carries ``signature``: base64 of an Ed25519 signature over :func:`canonical`,
the message's JSON without ``signature`` (keys sorted, no spaces, UTF-8). Both sides compute
it from the parsed model, so how the JSON was spaced or ordered on the way does not matter.
Public keys travel as base64 of the raw 32 bytes; private keys live in PEM (PKCS#8) files of
mode 0600, made on first use by :func:`load_or_create_key`. The edge signs what it publishes
with its key; the console signs commands with its own; each checks the other's with the
public key it was given (never one that came in a message).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Literal, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sitewatch.contract.codec import Message, encode

M = TypeVar("M", bound=Message)
SIGNATURE_FIELD = "signature"


class SigningKeyError(ValueError):
    """A key text or key file that is not what it should be; the text says what to do."""


def canonical(msg: Message) -> bytes:
    """The bytes a signature covers: the message without its signature, as sorted compact JSON."""
    data = msg.model_dump(mode="json", by_alias=True, exclude={SIGNATURE_FIELD})
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(msg: M, key: Ed25519PrivateKey) -> M:
    """A copy of ``msg`` as the receiver will parse it, carrying the signature of ``key`` over
    :func:`canonical`. Signed after a trip through the JSON, so that what JSON cannot carry
    (an infinite float goes out as null) is signed as it arrives."""
    wire = type(msg).model_validate(json.loads(encode(msg)))
    signature = base64.b64encode(key.sign(canonical(wire))).decode()
    return wire.model_copy(update={SIGNATURE_FIELD: signature})


def verify(msg: Message, public_key: Ed25519PublicKey) -> bool:
    """Whether ``msg`` carries a valid signature of ``public_key`` (False when unsigned)."""
    text = getattr(msg, SIGNATURE_FIELD, None)
    if not text:
        return False
    try:
        public_key.verify(base64.b64decode(text, validate=True), canonical(msg))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


VIDEO_UPLOAD = "sitewatch.video_upload/1"
"""First line of the text a video upload's signature covers (docs/design/live-video.md)."""
VideoPart = Literal["init", "media", "range", "error", "held"]
"""``held``: the edge put the legal hold a ``hold`` command asked for (its body JSON)."""


def video_upload_text(
    site_id: str,
    request_id: str,
    part: VideoPart,
    seq: int,
    time: float,
    end: float | None,
    sent: float,
    body: bytes | None,
    sha256: str | None = None,
) -> bytes:
    """The bytes the ``X-SiteWatch-Signature`` of a video upload covers: the upload's headers
    and the SHA-256 of its body, one per line. Times are Unix seconds as the headers carry
    them (``repr`` of the float), ``end`` empty but for a ``range`` part. A body streamed from
    disk passes ``body=None`` and its hex ``sha256`` instead."""
    if (body is None) == (sha256 is None):
        raise ValueError("give the body or its sha256, not both")
    lines = [
        VIDEO_UPLOAD,
        site_id,
        request_id,
        part,
        str(seq),
        repr(float(time)),
        "" if end is None else repr(float(end)),
        repr(float(sent)),
        hashlib.sha256(body).hexdigest() if body is not None else str(sha256).lower(),
    ]
    return "\n".join(lines).encode()


EVIDENCE_UPLOAD = "sitewatch.evidence_upload/1"
"""First line of the text an evidence upload's signature covers (docs/design/evidence-upload.md)."""
EvidencePart = Literal["status", "chunk"]


def evidence_upload_text(
    site_id: str,
    alert_id: str,
    name: str,
    part: EvidencePart,
    offset: int,
    size: int,
    sha256: str,
    sent: float,
    chunk_sha256: str = "",
) -> bytes:
    """The bytes the ``X-SiteWatch-Signature`` of an evidence upload covers, one per line:
    the site, alert id and file name, ``status`` (how much the console holds) or ``chunk``
    (bytes at ``offset``), the whole file's ``size`` (bytes) and lowercase hex ``sha256`` as
    the alert lists them, ``sent`` (edge wall clock, Unix seconds, ``repr`` of the float) and
    the chunk's own SHA-256 (empty for ``status``)."""
    if (part == "status") != (chunk_sha256 == ""):
        raise ValueError(f"a {part} text needs {'no' if part == 'status' else 'a'} chunk SHA-256")
    lines = [
        EVIDENCE_UPLOAD,
        site_id,
        alert_id,
        name,
        part,
        str(int(offset)),
        str(int(size)),
        sha256.lower(),
        repr(float(sent)),
        chunk_sha256.lower(),
    ]
    return "\n".join(lines).encode()


def sign_bytes(text: bytes, key: Ed25519PrivateKey) -> str:
    """Base64 Ed25519 signature of ``key`` over ``text``."""
    return base64.b64encode(key.sign(text)).decode()


def verify_bytes(text: bytes, signature: str, public_key: Ed25519PublicKey) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s over ``text``; False when malformed."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), text)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte public key: what goes into the other side's config."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The key of a base64 text of 32 raw bytes, or :class:`SigningKeyError` saying what came."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise SigningKeyError(
            f"expected an Ed25519 public key as base64 of 32 bytes (44 characters), got "
            f"{shown!r}: copy it from 'sitewatch server public-key' or from the edge's key file"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey | str) -> str:
    """Short id of a public key for logs and audit rows: 16 hex digits of its SHA-256."""
    text = key if isinstance(key, str) else public_key_text(key)
    return hashlib.sha256(base64.b64decode(text)).hexdigest()[:16]


def load_key(path: Path) -> Ed25519PrivateKey:
    """The private key in ``path`` (PEM, PKCS#8), or :class:`SigningKeyError` saying what to do."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"expected an Ed25519 private key in PEM (PKCS#8) in {path}, got something else: "
            "move it away and let SiteWatch make a new one (then hand out the new public key)"
        )
    return key


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``; a new one written there (mode 0600) when the file does not exist."""
    if path.exists():
        return load_key(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


class Signer:
    """Encodes messages, signed when it has a key (an edge or console without one sends them
    unsigned, and a receiver that knows its key refuses them)."""

    def __init__(self, key: Ed25519PrivateKey | None) -> None:
        self.key = key

    def sign(self, msg: M) -> M:
        return msg if self.key is None else sign(msg, self.key)

    def encode(self, msg: Message) -> bytes:
        return encode(self.sign(msg))
