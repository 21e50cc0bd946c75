"""`fleet tui`: the terminal UI; the one module of fleet/ that imports tui/, and only when run."""

from __future__ import annotations

import argparse
from pathlib import Path

from fleet.cli.common import Commands, interface_option, known_hosts_option
from fleet.config import paths
from fleet.errors import FleetError


def register(commands: Commands) -> None:
    tui = commands.add("tui", cmd_tui, "the fleet live in a terminal UI: the table (/ filters, "
                       "enter drills in, ? for keys), plans, deploys and cleanup")
    tui.add_argument("--store", metavar="PATH",
                     help="SQLite state file for events and deploys (default "
                          "$XDG_STATE_HOME/fleet/fleet.db)")
    tui.add_argument("--stack", metavar="STACK",
                     help="a compose stack file to plan and deploy (the plan view opens on it)")
    known_hosts_option(tui)
    interface_option(tui)


def cmd_tui(args: argparse.Namespace) -> int:
    # textual comes with the `tui` extra only: the rest of the CLI must work without it.
    try:
        import textual  # noqa: F401
    except ImportError:
        raise FleetError("fleet tui needs the tui extra: pip install 'fleet[tui]'") from None
    from tui.main import run

    store = Path(args.store) if args.store else None
    known = Path(args.known_hosts) if args.known_hosts else None
    return run(paths.inventory(args.inventory), store_path=store, stack=args.stack,
               known_hosts=known, interfaces=args.interface)
