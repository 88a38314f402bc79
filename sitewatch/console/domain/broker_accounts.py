"""Identities on the MQTT broker: the console's account and one account per site's edge, kept
in ``broker_accounts`` and written out as mosquitto's password file and ACL file (or as a
RabbitMQ definitions file: sitewatch/console/domain/broker_accounts_rabbitmq.py).

Invariants: the two files are always written together from ALL rows (never edited in place),
atomically (a reader sees the old file or the new one); a password is never stored, only its
hashes: mosquitto_passwd's ``$7$`` format (PBKDF2-SHA512) and RabbitMQ's salted SHA-256, both
made when the password is set (neither can be made from the other); anonymous clients get no
rule (the broker runs with ``allow_anonymous false``). The topics each account may use come from the
contract (sitewatch/contract/topics.py), so the ACL follows any change of the topic table:

- an edge writes only its own site's edge → console topics and reads only its own
  ``config/set``;
- the console reads everything under the prefix and is the only one that writes ``config/set``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.store.models import BrokerAccount, utcnow
from sitewatch.contract import topics as t
from sitewatch.contract.signing import parse_public_key, public_key_text
from sitewatch.contract.vocabulary import ID_RE

ITERATIONS = 101
"""PBKDF2 rounds, as mosquitto_passwd 2.0 writes them. Edge passwords are 32 random bytes, for
which more rounds add nothing; the console's password is the operator's: make it long."""
SALT_BYTES = 12  # as mosquitto_passwd
RABBITMQ_SALT_BYTES = 4  # as RabbitMQ's rabbit_password_hashing_sha256
EDGE_PREFIX = "edge-"
CONSOLE_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
FILE_MODE = 0o640  # the broker (group mosquitto) reads them; nobody else


class BrokerAccountError(ValueError):
    """An account that cannot be made as asked; the text says what to do."""


def password_hash(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``$7$ITERATIONS$SALT$HASH`` (base64 salt and PBKDF2-HMAC-SHA512 of the UTF-8 password),
    the line format mosquitto 2.0's password_file reads. Written with hashlib rather than by
    running mosquitto_passwd: it is one standard function, needs no binary where the console
    runs, and tests/component/test_broker_identity.py checks it against the real
    mosquitto_passwd."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, hashed: str) -> bool:
    """Whether ``password`` is the one behind a ``$7$`` hash (False for any other format)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[:2] != ["", "7"] or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(password_hash(password, salt=salt, iterations=int(parts[2])), hashed)


def rabbitmq_password_hash(password: str, *, salt: bytes | None = None) -> str:
    """base64(salt + SHA-256(salt + UTF-8 password)) with a 4-byte random salt: the
    ``password_hash`` of a user in RabbitMQ's definitions (``rabbit_password_hashing_sha256``,
    RabbitMQ's "Credentials and Passwords" guide). One round of SHA-256: fine for the edges'
    32 random bytes; the console's password is the operator's, so make it long."""
    salt = secrets.token_bytes(RABBITMQ_SALT_BYTES) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def rabbitmq_password_matches(password: str, hashed: str | None) -> bool:
    """Whether ``password`` is the one behind a RabbitMQ SHA-256 hash (False for None)."""
    try:
        raw = base64.b64decode(hashed or "", validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != RABBITMQ_SALT_BYTES + hashlib.sha256().digest_size:
        return False
    mine = rabbitmq_password_hash(password, salt=raw[:RABBITMQ_SALT_BYTES])
    return hmac.compare_digest(mine, hashed or "")


def edge_username(site_id: str) -> str:
    """The broker user name of ``site_id``'s edge; the site id is checked like the contract's."""
    if not ID_RE.fullmatch(site_id):  # match would take a final newline
        raise BrokerAccountError(
            f"expected a site id of a-z, 0-9, _ and - (up to 40 characters, as the edge's "
            f"site.id), got {site_id!r}: use the site id of the edge's config"
        )
    return EDGE_PREFIX + site_id


@dataclass(frozen=True)
class EdgeCredentials:
    """What a new or rotated edge account hands to its edge, once: nothing here is stored
    except the password's hash and the public key."""

    site_id: str
    username: str
    password: str
    public_key: str  # base64 of the raw Ed25519 public key
    private_key: Ed25519PrivateKey | None  # None when the edge made its own key
    created: bool  # False: an existing account was rotated


def add_edge(
    s: Session, site_id: str, *, rotate: bool = False, public_key: str | None = None
) -> EdgeCredentials:
    """Create ``site_id``'s edge account (or, with ``rotate``, replace its password and key):
    a new random password and either ``public_key`` (base64, a key the edge made itself) or a
    new Ed25519 key whose private half the caller hands to the edge."""
    username = edge_username(site_id)
    key = None if public_key is not None else Ed25519PrivateKey.generate()
    if public_key is not None:
        public = public_key_text(parse_public_key(public_key))  # SigningKeyError says what came
    else:
        assert key is not None
        public = public_key_text(key)
    row = s.scalar(select(BrokerAccount).where(BrokerAccount.site_id == site_id))
    clash = s.get(BrokerAccount, username)
    if clash is not None and clash.role != "edge":
        raise BrokerAccountError(
            f"the broker user name {username!r} is taken by the {clash.role}'s account: give "
            "the console another SITEWATCH_MQTT_USERNAME (one without the 'edge-' prefix)"
        )
    if row is not None and not rotate:
        raise BrokerAccountError(
            f"site {site_id!r} already has an edge account ({row.username}, made "
            f"{row.created_at:%Y-%m-%d %H:%M} UTC): to give its edge a new password and key, "
            f"run 'sitewatch server add-edge {site_id} --rotate'"
        )
    password = secrets.token_urlsafe(32)
    created = row is None
    if row is None:
        row = BrokerAccount(username=username, role="edge", site_id=site_id)
        s.add(row)
    row.password_hash = password_hash(password)
    row.rabbitmq_hash = rabbitmq_password_hash(password)
    row.public_key = public
    row.updated_at = utcnow()
    s.flush()
    return EdgeCredentials(site_id, username, password, public, key, created)


def set_console_account(s: Session, username: str, password: str) -> str:
    """Make the console's account say ``username``/``password`` (there is one console account:
    a row of another name is replaced). Returns what happened: created, updated or unchanged."""
    if not CONSOLE_NAME.match(username) or username.startswith(EDGE_PREFIX):
        raise BrokerAccountError(
            f"expected the console's MQTT user name (SITEWATCH_MQTT_USERNAME) of letters, digits "
            f"and _ . @ - (up to 64, not starting with {EDGE_PREFIX!r}), got {username!r}"
        )
    if not password:
        raise BrokerAccountError(
            "SITEWATCH_MQTT_PASSWORD is empty: set the password the console connects with"
        )
    rows = s.scalars(select(BrokerAccount).where(BrokerAccount.role == "console")).all()
    current = next((r for r in rows if r.username == username), None)
    for row in rows:
        if row is not current:
            s.delete(row)
    if current is not None and password_matches(password, current.password_hash):
        if not rabbitmq_password_matches(password, current.rabbitmq_hash):
            current.rabbitmq_hash = rabbitmq_password_hash(password)  # a row older than the column
            return "updated"
        return "unchanged" if len(rows) == 1 else "updated"
    if current is None:
        s.flush()
        current = BrokerAccount(username=username, role="console", site_id=None)
        s.add(current)
        what = "created"
    else:
        what = "updated"
    current.password_hash = password_hash(password)
    current.rabbitmq_hash = rabbitmq_password_hash(password)
    current.public_key = None
    current.updated_at = utcnow()
    s.flush()
    return what


def edge_topics(prefix: str, site_id: str) -> tuple[list[str], list[str]]:
    """(write, read) topic patterns of ``site_id``'s edge, from the contract's topic table."""
    table = t.topic_table(prefix, site_id, t.ANY)
    writes = [x.topic for x in table if x.direction == t.EDGE_TO_CONSOLE]
    writes += [t.camera_snapshot(prefix, site_id, t.ANY), t.evidence_filter(prefix, site_id)]
    reads = [x.topic for x in table if x.direction == t.CONSOLE_TO_EDGE]
    return writes, reads


def console_topics(prefix: str) -> tuple[list[str], list[str]]:
    """(write, read) topic patterns of the console: commands to every site; read everything."""
    table = t.topic_table(prefix, t.ANY, t.ANY)
    return [x.topic for x in table if x.direction == t.CONSOLE_TO_EDGE], [f"{prefix}/#"]


def acl_text(accounts: Sequence[BrokerAccount], prefix: str) -> str:
    """Mosquitto's acl_file for ``accounts``: one ``user`` block each, nothing for anonymous."""
    lines = [
        "# Written by 'sitewatch server add-edge' / 'broker-files' from the console's",
        "# broker_accounts table: do not edit, run 'sitewatch server broker-files' instead.",
        "# No rule before the first 'user' line: anonymous clients may do nothing.",
    ]
    for row in sorted(accounts, key=lambda r: (r.role != "console", r.username)):
        if row.role == "console":
            writes, reads = console_topics(prefix)
        elif row.site_id is not None:
            writes, reads = edge_topics(prefix, row.site_id)
        else:
            continue  # an edge without a site may do nothing
        lines += ["", f"user {row.username}"]
        lines += [f"topic write {w}" for w in writes] + [f"topic read {r}" for r in reads]
    return "\n".join(lines) + "\n"


def password_file_text(accounts: Sequence[BrokerAccount]) -> str:
    """Mosquitto's password_file: ``username:$7$...`` per account."""
    return "".join(f"{r.username}:{r.password_hash}\n" for r in sorted(accounts, key=_name))


def _name(row: BrokerAccount) -> str:
    return row.username


def write_broker_files(s: Session, password_file: Path, acl_file: Path, prefix: str) -> int:
    """Rewrite both broker files from every row; returns how many accounts they hold."""
    accounts = s.scalars(select(BrokerAccount)).all()
    write_atomic(password_file, password_file_text(accounts))
    write_atomic(acl_file, acl_text(accounts, prefix))
    return len(accounts)


def write_atomic(path: Path, text: str) -> None:
    """Atomic replace, mode 0640, keeping the group of the file it replaces (``mosquitto``,
    ``rabbitmq``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    group = path.stat().st_gid if path.exists() else None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if group is not None and group != os.getegid():
            with contextlib.suppress(PermissionError):  # not in that group: set it again
                os.chown(tmp, -1, group)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
