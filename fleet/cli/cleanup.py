"""`fleet cleanup`: show, then reclaim, what fills the boards' disks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fleet.cleanup.rules import Category, Item
from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    at_least_one,
    err,
    json_flag,
    known_hosts_option,
    out,
    print_json,
)
from fleet.cli.stackfiles import load, stack_options
from fleet.config import paths
from fleet.errors import ConfigError


def register(commands: Commands) -> None:
    clean = commands.add("cleanup", cmd_cleanup, "show, then reclaim, what fills the boards' "
                         "disks: stopped containers, unused images, logs, old temporary files, "
                         "caches")
    clean.add_argument("devices", nargs="*", metavar="DEVICE",
                       help="device ids or groups from the inventory")
    clean.add_argument("--all", action="store_true", help="every device in the inventory")
    clean.add_argument("--category", action="append", default=[], metavar="NAME",
                       choices=[str(c) for c in Category],
                       help="only these categories (repeat it): "
                            + ", ".join(str(c) for c in Category)
                            + " (default all but volumes)")
    clean.add_argument("--apply", action="store_true",
                       help="reclaim it (without it, only show what would be reclaimed)")
    clean.add_argument("--volumes", action="store_true",
                       help="also volumes no container mounts: their data is lost, so "
                            "--apply asks first")
    clean.add_argument("--yes", action="store_true",
                       help="with --volumes --apply: do not ask (for scripts)")
    clean.add_argument("--tmp-days", type=float, default=7.0, metavar="DAYS",
                       help="temporary files older than this only (default 7)")
    clean.add_argument("--journal-mb", type=int, default=100, metavar="MB",
                       help="vacuum the systemd journal down to this size (default 100)")
    clean.add_argument("--keep-image", action="append", default=[], metavar="REF",
                       help="an image (ref or id) planned to run: never removed (repeat it)")
    clean.add_argument("--stack", action="append", default=[], metavar="STACK",
                       help="a compose stack to be deployed: its images are never removed "
                            "(repeat it; the stack options below apply to each)")
    stack_options(clean)
    clean.add_argument("--parallel", type=int, default=8, metavar="N",
                       help="devices at a time (default 8)")
    clean.add_argument("--timeout", type=float, default=10, metavar="S",
                       help="SSH connect timeout in seconds (default 10)")
    known_hosts_option(clean)
    json_flag(clean)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from fleet.actions import cleanup as cleaning
    from fleet.config import inventory
    from fleet.render.cleanup import cleanup_json, render
    from fleet.ssh import hostkeys
    from fleet.ssh.local import connect

    if not args.devices and not args.all:
        raise ConfigError("name the devices or groups to clean, or pass --all")
    at_least_one(args.parallel, "--parallel")
    rules = cleaning.rules(args.category, volumes=args.volumes,
                           stacks=[load([p], args) for p in args.stack],
                           keep_images=args.keep_image, tmp_days=args.tmp_days,
                           journal_mb=args.journal_mb)
    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.devices if args.all else inv.select(args.devices)
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    ask = args.apply and args.volumes and not args.yes
    if ask and not sys.stdin.isatty():
        raise ConfigError("--volumes with --apply removes data: confirm on a terminal, "
                          "or pass --yes")
    doing = "scanning" if ask or not args.apply else "cleaning"
    with err.status(f"fleet cleanup: {doing} {len(devices)} device(s)") as status:
        def confirm(volumes: Sequence[tuple[str, Item]]) -> bool:
            status.stop()  # a spinner would overwrite the question
            agreed = _confirm_volumes(volumes)
            status.update(f"fleet cleanup: cleaning {len(devices)} device(s)")
            status.start()
            return agreed

        done = cleaning.cleanup(devices, lambda d: connect(d, known, timeout=args.timeout),
                                rules, apply=args.apply, confirm=confirm if ask else None,
                                parallel=args.parallel)
    if done.declined:
        err.print("nothing was removed")
        return EXIT_FAILED
    if args.json:
        print_json(cleanup_json(list(done.results), applied=done.applied))
    else:
        out.print(render(list(done.results), applied=done.applied))
    return EXIT_OK if done.ok else EXIT_FAILED


def _confirm_volumes(volumes: Sequence[tuple[str, Item]]) -> bool:
    """Ask, listing each volume, before its data goes (on a terminal: checked before)."""
    from fleet.render.cleanup import mb

    for device, item in volumes:
        err.print(f"  {device}: {item.label} ({mb(item.bytes)})")
    answer = input(f"remove these {len(volumes)} volume(s) and all their data? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
