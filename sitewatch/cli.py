"""The ``sitewatch`` command: one sub-command per entry in ``SUBCOMMANDS``.

Each sub-command names the module that parses and runs it; only the chosen one is imported,
so ``sitewatch server`` never loads the edge and ``sitewatch edge`` never loads the console.
Exit codes: 0 success, 1 some input failed (the rest was still processed), 2 the model or the
command line is unusable.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sitewatch import __version__

DESCRIPTION = "SiteWatch: hard-hat and smoking detection for construction-site cameras."


@dataclass(frozen=True)
class Subcommand:
    """A sub-command: its help, and the module with its ``arguments`` and ``run`` functions."""

    help: str
    module: str
    arguments: str
    run: str

    def load(
        self,
    ) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
        """Import the module: its functions that add the arguments and run the sub-command."""
        module = importlib.import_module(self.module)
        return getattr(module, self.arguments), getattr(module, self.run)


SUBCOMMANDS: dict[str, Subcommand] = {
    "detect": Subcommand(
        "detect objects in images, folders and videos",
        "sitewatch.tools.cli",
        "detect_arguments",
        "run_detect",
    ),
    "eval": Subcommand(
        "measure AP50 and speed on a YOLO dataset",
        "sitewatch.tools.cli",
        "eval_arguments",
        "run_eval",
    ),
    "validate-config": Subcommand(
        "check an edge config file and list every problem with its line",
        "sitewatch.tools.cli",
        "validate_config_arguments",
        "run_validate_config",
    ),
    "edge": Subcommand(
        "run the edge worker: cameras in, alerts out over MQTT",
        "sitewatch.edge.cli_edge",
        "edge_arguments",
        "run_edge",
    ),
    "server": Subcommand(
        "run the alert console (or: server create-user, migrate, add-edge SITE, broker-files, "
        "public-key)",
        "sitewatch.console.cli",
        "server_arguments",
        "run_server",
    ),
    "verify": Subcommand(
        "check a police evidence package offline: hashes, signatures, custody",
        "sitewatch.console.domain.verify_package",
        "verify_arguments",
        "run_verify",
    ),
}
"""Sub-command name -> its help and where it lives; later sub-commands register here."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the sub-command, return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="sitewatch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"sitewatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, sub in SUBCOMMANDS.items():
        sub_parser = commands.add_parser(
            name,
            help=sub.help,
            description=sub.help,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        if name == chosen:  # only the chosen wing is imported
            add_arguments, run = sub.load()
            add_arguments(sub_parser)
            sub_parser.set_defaults(run=run)
    args = parser.parse_args(argv)
    run_command: Callable[[argparse.Namespace], int] = args.run
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
