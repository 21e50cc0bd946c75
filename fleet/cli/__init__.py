"""The `fleet` command line: parse arguments, call the library, print tables or JSON.

Exit codes: 0 success; 1 the operation failed (or a device it checked is
unhealthy); 2 bad input (usage, an inventory or stack file); 130 interrupted.
Each command group is a module of this package with a `register(commands)`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fleet import __version__
from fleet.cli import (
    bench,
    cleanup,
    daemon,
    deploy,
    discover,
    enroll,
    inventory,
    lab,
    plan,
    status,
    trust,
    tui,
)
from fleet.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Commands,
    err,
)
from fleet.errors import ConfigError, FleetError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "build_parser",
           "main"]

# In `fleet --help` order.
_GROUPS = (inventory.register, plan.register, status.register, discover.register,
           trust.register, daemon.register, deploy.register, cleanup.register,
           enroll.register, tui.register, bench.register_agent, bench.register, lab.register)


def build_parser() -> argparse.ArgumentParser:
    # --inventory is accepted before or after the command; SUPPRESS keeps a
    # subcommand's absent option from overwriting the top-level one. (No
    # set_defaults for it: parents share the action, so that would undo SUPPRESS.)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--inventory", metavar="PATH", default=argparse.SUPPRESS,
                        help="inventory file, or an Ansible inventory directory (default: "
                             "$FLEET_INVENTORY, ./inventory.yaml, "
                             "~/.config/fleet/inventory.yaml)")
    parser = argparse.ArgumentParser(
        prog="fleet", parents=[common],
        description="Manage a fleet of Raspberry Pi and Jetson boards.",
        epilog="exit codes: 0 ok, 1 failed or unhealthy, 2 bad input, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"fleet {__version__}")
    commands = Commands(parser.add_subparsers(dest="command", metavar="COMMAND",
                                              required=True), common)
    for register in _GROUPS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.inventory = getattr(args, "inventory", None)
    try:
        code: int = args.handler(args)
    except ConfigError as e:
        sys.stderr.write(f"fleet: {e}\n")
        return EXIT_BAD_INPUT
    except FleetError as e:
        sys.stderr.write(f"fleet: {e}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("fleet: interrupted")
        return EXIT_INTERRUPTED
    return code
