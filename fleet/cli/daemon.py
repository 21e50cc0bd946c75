"""`fleet daemon`: the controller headless (fleet.daemon.run), its options parsed here."""

from __future__ import annotations

import argparse
from pathlib import Path

from fleet.cli.common import EXIT_OK, Commands, interface_option, known_hosts_option
from fleet.config import paths
from fleet.errors import ConfigError


def register(commands: Commands) -> None:
    daemon = commands.add("daemon", cmd_daemon, "run the controller headless: heartbeats, "
                          "health and discovery into the state store, until SIGTERM")
    daemon.add_argument("--store", metavar="PATH",
                        help="SQLite state file (default $XDG_STATE_HOME/fleet/fleet.db)")
    daemon.add_argument("--workers", type=int, default=2, metavar="N",
                        help="heartbeat ingest processes (default 2)")
    daemon.add_argument("--no-discovery", dest="discover", action="store_false",
                        help="do not browse mDNS")
    daemon.add_argument("--summary", type=float, default=30.0, metavar="S",
                        help="log the fleet's mode every S seconds (default 30)")
    daemon.add_argument("--cleanup-high", type=float, default=85.0, metavar="PCT",
                        help="clean a board whose disk is over PCT %% full (default 85): old "
                             "temporary files, core dumps, apt's cache, the journal, broken "
                             "pushes, logs, old revisions and dangling images; never others' "
                             "containers, tagged images in use or volumes")
    daemon.add_argument("--cleanup-low", type=float, default=80.0, metavar="PCT",
                        help="... down to PCT %% (default 80)")
    daemon.add_argument("--cleanup-cooldown", type=float, default=600.0, metavar="S",
                        help="clean a board at most every S seconds (default 600)")
    daemon.add_argument("--no-cleanup", dest="cleanup", action="store_false",
                        help="never clean boards on its own")
    known_hosts_option(daemon)
    interface_option(daemon)


def cmd_daemon(args: argparse.Namespace) -> int:
    import logging

    from fleet import daemon
    from fleet.config import inventory
    from fleet.ssh import hostkeys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    inv = inventory.load(paths.inventory(args.inventory))
    cleaner = None
    if args.cleanup:
        known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
        try:
            cleaner = daemon.cleaner(inv.devices, known, high_pct=args.cleanup_high,
                                     low_pct=args.cleanup_low,
                                     cooldown_s=args.cleanup_cooldown)
        except ValueError as e:
            raise ConfigError(f"--cleanup-high/--cleanup-low: {e}") from None
    daemon.run(inv, store_path=Path(args.store) if args.store else None, workers=args.workers,
               discover=args.discover, interfaces=args.interface, janitor=cleaner,
               summary_s=args.summary)
    return EXIT_OK
