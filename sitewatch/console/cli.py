"""``sitewatch server``: run the console, or ``sitewatch server create-user``, ``migrate``,
``add-edge SITE`` (an edge's broker account and key), ``broker-files`` and ``public-key``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the edge's command line loads this module: keep the console's deps lazy
    from sitewatch.console.settings import Settings


def server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("run", "create-user", "migrate", "add-edge", "broker-files", "public-key"),
        default="run",
        help="run (default): serve the console; create-user: add a user; migrate: upgrade "
        "the database schema and exit; add-edge SITE: the broker account and key of a site's "
        "edge, and the broker's password and ACL files; broker-files: write those files again; "
        "public-key: print the console's public key (for the edges' trust.console_public_key). "
        "Settings come from SITEWATCH_* environment variables.",
    )
    parser.add_argument("site", nargs="?", help="add-edge: the site id of the edge")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--username", help="create-user: the new user's name")
    parser.add_argument(
        "--role", choices=("admin", "manager", "police", "operator"), help="create-user: role"
    )
    parser.add_argument(
        "--sites",
        default="",
        help="create-user: comma-separated site ids the user sees, or '*' for every site",
    )
    parser.add_argument(
        "--cameras",
        default="",
        help="create-user: limit the user to these cameras, comma-separated site_id/camera_id "
        "entries at the user's sites (e.g. north/gate,north/crane); default: every camera",
    )
    parser.add_argument(
        "--password-env",
        metavar="VAR",
        help="create-user: read the password from this environment variable "
        "(default: ask on the terminal)",
    )
    parser.add_argument("--language", choices=("zh-CN", "en"), help="create-user: language")
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="add-edge: replace the edge's password and key (the old ones stop working)",
    )
    parser.add_argument(
        "--public-key",
        metavar="BASE64",
        help="add-edge: register this key, which the edge made itself and logs at start, "
        "instead of making one",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="add-edge: folder for the edge's files (default data/edges/SITE/)",
    )
    parser.add_argument(
        "--rabbitmq",
        type=Path,
        metavar="FILE",
        help="add-edge, broker-files: for a RabbitMQ cluster, write the accounts as this "
        "definitions file (rabbitmqctl import_definitions FILE) instead of mosquitto's files",
    )


def run_server(args: argparse.Namespace) -> int:
    from sitewatch.console.settings_env import SettingsProblem, settings_from_env
    from sitewatch.console.store.db import Database, migrate

    try:
        settings = settings_from_env()
    except SettingsProblem as exc:
        for line in exc.lines:
            print(f"sitewatch: {line}", file=sys.stderr)
        print("sitewatch: refusing to start: fix the settings above", file=sys.stderr)
        return 1
    if args.action == "migrate":
        db = Database(settings.database_url)
        migrate(db.engine)
        db.close()
        print(f"database {settings.database_url} is at the newest schema")
        return 0
    if args.action == "create-user":
        return _create_user(args, settings)
    if args.action in ("add-edge", "broker-files", "public-key"):
        from sitewatch.console.broker_cli import broker_action

        return broker_action(args, settings)
    import uvicorn

    from sitewatch.console.app import create_app
    from sitewatch.console.logs import configure

    log_config = configure(settings.log_level, settings.log_format)  # the one-off actions print
    uvicorn.run(
        create_app(settings, freeze_gc=True),
        host=args.host,
        port=args.port,
        log_config=log_config,  # its access and error logs in the console's format
        log_level=settings.log_level.lower(),
    )
    return 0


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    missing = [f"--{n}" for n in ("username", "role") if not getattr(args, n)]
    if not args.sites:
        missing.append("--sites")
    if missing:
        print(f"create-user needs {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            print(f"environment variable {args.password_env} is empty or unset", file=sys.stderr)
            return 2
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    from sitewatch.console.domain.users import UserError, create_user, parse_cameras
    from sitewatch.console.store.db import Database, migrate

    db = Database(settings.database_url)
    try:
        migrate(db.engine)
        with db.session() as s:
            sites = [x.strip() for x in args.sites.split(",") if x.strip()]
            create_user(
                s,
                args.username,
                password,
                args.role,
                sites,
                args.language or settings.default_language,
                cameras=parse_cameras(args.cameras),
            )
    except UserError as exc:
        print(f"cannot create user: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    cameras = f", cameras {args.cameras}" if args.cameras.strip() else ""
    print(f"created {args.role} {args.username!r} for sites {args.sites}{cameras}")
    return 0
