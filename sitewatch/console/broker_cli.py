"""``sitewatch server add-edge SITE``, ``broker-files`` and ``public-key``: the broker's
identities from the command line (the logic is sitewatch/console/domain/broker_accounts.py,
broker_accounts_rabbitmq.py for ``--rabbitmq FILE``, and edge_bundle.py beside them). Exit
codes: 0 done, 2 something to fix (said on stderr)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.broker_accounts import (
    BrokerAccountError,
    add_edge,
    set_console_account,
    write_broker_files,
)
from sitewatch.console.domain.broker_accounts_rabbitmq import write_rabbitmq_definitions
from sitewatch.console.domain.edge_bundle import ENV_FILE, KEY_FILE, SNIPPET_FILE, write_bundle
from sitewatch.console.settings import Settings
from sitewatch.console.store.db import Database, migrate
from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract.signing import (
    SigningKeyError,
    fingerprint,
    load_or_create_key,
    public_key_text,
)


def broker_action(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.action == "public-key":
            print(public_key_text(load_or_create_key(settings.signing_key_file)))
            return 0
        if args.action == "add-edge" and not args.site:
            raise BrokerAccountError("expected a site id: sitewatch server add-edge SITE")
        return _with_database(args, settings)
    except (BrokerAccountError, SigningKeyError) as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 2


def _with_database(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        migrate(db.engine)
        with db.session() as s:
            if args.action == "add-edge":
                _add_edge(s, args, settings)
            console = _console_account(s, settings)
        with db.session() as s:
            done = _write_files(s, args, settings)
    finally:
        db.close()
    print(console, file=sys.stdout if console.startswith("console") else sys.stderr)
    print(done)
    return 0


def _write_files(s: Session, args: argparse.Namespace, settings: Settings) -> str:
    """Mosquitto's password and ACL files, or with ``--rabbitmq FILE`` RabbitMQ's
    definitions; what was written and how to make the broker use it."""
    rabbitmq: Path | None = args.rabbitmq
    if rabbitmq is not None:
        count = write_rabbitmq_definitions(s, rabbitmq, settings.topic_prefix, settings.amqp_queue)
        return (
            f"wrote the RabbitMQ definitions {rabbitmq} ({_accounts(count)}); import them on "
            f"one node of the cluster: rabbitmqctl import_definitions {rabbitmq}"
        )
    count = write_broker_files(
        s, settings.broker_password_file, settings.broker_acl_file, settings.topic_prefix
    )
    return (
        f"wrote the broker's password file {settings.broker_password_file} and ACL file "
        f"{settings.broker_acl_file} ({_accounts(count)}); "
        "reload mosquitto so they apply: kill -HUP <mosquitto's pid> (systemctl reload mosquitto)"
    )


def _accounts(count: int) -> str:
    return f"{count} account{'s' * (count != 1)}"


def _console_account(s: Session, settings: Settings) -> str:
    """The console's account from SITEWATCH_MQTT_USERNAME/PASSWORD; what became of it."""
    if settings.mqtt_username is not None:
        what = set_console_account(s, settings.mqtt_username, settings.mqtt_password or "")
        return f"console broker account {settings.mqtt_username!r}: {what}"
    kept = s.scalar(select(BrokerAccount.username).where(BrokerAccount.role == "console"))
    if kept is not None:
        return f"console broker account {kept!r}: kept (SITEWATCH_MQTT_USERNAME is unset here)"
    return (
        "warning: the console has no broker account: set SITEWATCH_MQTT_USERNAME and "
        "SITEWATCH_MQTT_PASSWORD (what the console connects with) and run 'sitewatch server "
        "broker-files'; without it the console cannot log in to a broker with "
        "allow_anonymous false"
    )


def _add_edge(s: Session, args: argparse.Namespace, settings: Settings) -> None:
    console_key = public_key_text(load_or_create_key(settings.signing_key_file))
    creds = add_edge(s, args.site, rotate=args.rotate, public_key=args.public_key)
    out: Path = args.out or Path("data") / "edges" / args.site
    write_bundle(out, creds, console_key)
    done = "created" if creds.created else "rotated (the old password and key no longer work)"
    print(
        f"edge broker account {creds.username!r} for site {args.site!r} {done}; "
        f"edge key {fingerprint(creds.public_key)}"
    )
    files = [
        f"{ENV_FILE} (its MQTT user name and password)",
        f"{SNIPPET_FILE} (merge into its config)",
    ]
    if creds.private_key is not None:
        files.insert(0, f"{KEY_FILE} (its private key)")
    print(f"wrote for the edge, into {out}/: {', '.join(files)}")
