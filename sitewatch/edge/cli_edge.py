"""``sitewatch edge --config FILE``: run the edge worker until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sitewatch.edge.config.errors import ConfigError
from sitewatch.edge.detect.model import ModelError

EXIT_OK, EXIT_CONFIG, EXIT_UNUSABLE, EXIT_STALLED = 0, 1, 2, 3


def edge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=Path("configs/cameras.yaml"), help="edge config file"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def run_edge(args: argparse.Namespace) -> int:
    from sitewatch.edge.worker import DetectorStalled, EdgeWorker

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.config.is_file():  # a restart cannot make it appear: exit as for a bad config
        print(
            f"sitewatch: refusing to start: no config file {args.config}: give its path with "
            "--config (an example: configs/cameras.yaml)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        worker = EdgeWorker(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"sitewatch: refusing to start: {args.config} has {len(exc.problems)} problem(s); "
            f"fix them (check with: sitewatch validate-config {args.config})",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except ModelError as exc:
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except OSError as exc:
        print(f"sitewatch: error: cannot start the edge: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        worker.run()
    except DetectorStalled as exc:  # restart me: the supervisor's job (Restart=on-failure)
        print(f"sitewatch: error: {exc}", file=sys.stderr)
        return EXIT_STALLED
    return EXIT_OK
