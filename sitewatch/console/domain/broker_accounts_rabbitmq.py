"""The ``broker_accounts`` rows as a RabbitMQ definitions file (``rabbitmqctl
import_definitions FILE``): the same identities and topic rights as mosquitto's password file
and ACL (sitewatch/console/domain/broker_accounts.py), for a cluster whose edges speak MQTT to
RabbitMQ 3.10's MQTT plugin. What each account gets (password hash, vhost and topic
permissions) and why: docs/design/broker-accounts.md.

Invariants: built from ALL rows each time, written atomically (mode 0640); a row without a
RabbitMQ hash stops the file, naming the command that gives it one; every account has topic
permissions (RabbitMQ lets a user without them use any routing key). Importing adds and
updates users and rights; it never deletes a user the file no longer names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.broker_accounts import (
    BrokerAccountError,
    console_topics,
    edge_topics,
    write_atomic,
)
from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract import topics as t
from sitewatch.contract.topics import edge_client_id

VHOST = "/"
EXCHANGE = "amq.topic"  # the MQTT plugin's mqtt.exchange
HASHING = "rabbit_password_hashing_sha256"
SESSION_QUEUES = "mqtt-subscription-"  # + client id + qos0 / qos1 (RabbitMQ 3.10's names)
ONE_LEVEL = r"[^.]+"
LAST_LEVEL = r".+"  # an evidence file name keeps its own '.' in the routing key


def routing_key_regex(patterns: Sequence[str]) -> str:
    """An anchored regex matching the routing keys of MQTT topic ``patterns``: each ``/`` is
    ``.``, a ``+`` one level (the last level may hold ``.``: an evidence file's name), a final
    ``#`` anything below. ``sitewatch/+/alerts`` → ``^(?:sitewatch\\.[^.]+\\.alerts)$``."""
    alternatives = []
    for pattern in dict.fromkeys(patterns):  # one topic may carry two schemas
        levels = pattern.split("/")
        parts = []
        for i, level in enumerate(levels):
            last = i == len(levels) - 1
            if level == t.ANY:
                parts.append(LAST_LEVEL if last else ONE_LEVEL)
            elif level == "#" and last:
                parts = [r"(?:" + r"\.".join(parts) + r"(?:\..*)?)"] if parts else [".*"]
            else:
                parts.append(re.escape(level))
        alternatives.append(r"\.".join(parts))
    return "^(?:" + "|".join(alternatives) + ")$"


def _session_queues(client_ids: str) -> str:
    return f"{re.escape(SESSION_QUEUES)}{client_ids}qos[01]"


def _rights(row: BrokerAccount, prefix: str, ingest_queue: str) -> tuple[dict[str, str], ...]:
    """(vhost permission, topic permission) of one account; () for one that may do nothing."""
    if row.role == "console":
        writes, reads = console_topics(prefix)
        queues = _session_queues(".+")
        consume = rf"{queues}|{re.escape(ingest_queue)}(?:\.[0-9]+)?"  # or its shards
    elif row.site_id is not None:
        writes, reads = edge_topics(prefix, row.site_id)
        queues = _session_queues(re.escape(edge_client_id(row.site_id)))
        consume = queues
    else:
        return ()
    exchange = re.escape(EXCHANGE)
    vhost = {
        "user": row.username,
        "vhost": VHOST,
        "configure": f"^(?:{queues})$",
        "write": f"^(?:{exchange}|{queues})$",
        "read": f"^(?:{exchange}|{consume})$",
    }
    topic = {
        "user": row.username,
        "vhost": VHOST,
        "exchange": EXCHANGE,
        "write": routing_key_regex(writes),
        "read": routing_key_regex(reads),
    }
    return vhost, topic


def definitions(
    accounts: Sequence[BrokerAccount], prefix: str, ingest_queue: str = "sitewatch.ingest"
) -> dict[str, object]:
    """The definitions document of ``accounts`` (users, permissions, topic_permissions)."""
    missing = sorted(r.site_id or r.username for r in accounts if not r.rabbitmq_hash)
    if missing:
        raise BrokerAccountError(
            f"expected a RabbitMQ password hash on every broker account, got none for "
            f"{', '.join(missing)} (made before the console kept one; a hash cannot be made "
            "from mosquitto's): give each a new password, 'sitewatch server add-edge SITE "
            "--rotate' for an edge (then hand it its new edge.env), 'sitewatch server "
            "broker-files' with SITEWATCH_MQTT_USERNAME/PASSWORD set for the console"
        )
    rows = sorted(accounts, key=lambda r: (r.role != "console", r.username))
    rights = [_rights(r, prefix, ingest_queue) for r in rows]
    return {
        "users": [
            {
                "name": r.username,
                "password_hash": r.rabbitmq_hash,
                "hashing_algorithm": HASHING,
                "tags": "",
            }
            for r in rows
        ],
        "vhosts": [{"name": VHOST}],
        "permissions": [pair[0] for pair in rights if pair],
        "topic_permissions": [pair[1] for pair in rights if pair],
    }


def write_rabbitmq_definitions(
    s: Session, path: Path, prefix: str, ingest_queue: str = "sitewatch.ingest"
) -> int:
    """Rewrite the definitions file at ``path`` from every row; returns how many accounts."""
    accounts = s.scalars(select(BrokerAccount)).all()
    document = definitions(accounts, prefix, ingest_queue)
    write_atomic(path, json.dumps(document, indent=2) + "\n")
    return len(accounts)
