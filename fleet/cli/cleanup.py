"""`fleet cleanup`: show, then reclaim, what fills the boards' disks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from fleet.cleanup.rules import Category
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
from fleet.config import paths
from fleet.errors import ConfigError
from fleet.model import Device


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
                            "(repeat it)")
    clean.add_argument("--parallel", type=int, default=8, metavar="N",
                       help="devices at a time (default 8)")
    clean.add_argument("--timeout", type=float, default=10, metavar="S",
                       help="SSH connect timeout in seconds (default 10)")
    known_hosts_option(clean)
    json_flag(clean)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from fleet.cleanup import board as scan
    from fleet.cleanup import rules as cleanup
    from fleet.config import inventory, stack
    from fleet.deploy.apply import each
    from fleet.render.cleanup import cleanup_json, mb, render
    from fleet.ssh import hostkeys

    if not args.devices and not args.all:
        raise ConfigError("name the devices or groups to clean, or pass --all")
    at_least_one(args.parallel, "--parallel")
    categories = frozenset(cleanup.Category(c) for c in args.category) or cleanup.DEFAULT
    if args.volumes:
        categories |= {cleanup.Category.VOLUMES}
    elif cleanup.Category.VOLUMES in categories:
        raise ConfigError("--category volumes: volumes hold data; pass --volumes to mean it")
    planned = {*args.keep_image,
               *(s.image for path in args.stack for s in stack.load_stack(path).services)}
    rules = cleanup.Rules(categories=categories, tmp_age_days=args.tmp_days,
                          journal_keep_mb=args.journal_mb, planned=frozenset(planned))
    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.devices if args.all else inv.select(args.devices)
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))

    def work(device: Device, apply: bool,
             chosen: dict[str, cleanup.Reclaim] | None = None) -> scan.DeviceCleanup:
        return scan.clean_over_ssh(device, known, rules, apply=apply, timeout=args.timeout,
                                   chosen=chosen[device.id] if chosen else None)

    apply = args.apply
    confirm = apply and args.volumes and not args.yes
    if confirm and not sys.stdin.isatty():
        raise ConfigError("--volumes with --apply removes data: confirm on a terminal, "
                          "or pass --yes")
    with err.status(f"fleet cleanup: {'scanning' if confirm or not apply else 'cleaning'} "
                    f"{len(devices)} device(s)"):
        results = each(devices, lambda d: work(d, apply and not confirm), args.parallel)
    if confirm:
        volumes = [(r.device, i) for r in results if r.reclaim for i in r.reclaim.items
                   if i.category is cleanup.Category.VOLUMES]
        if volumes and not _confirm_volumes(volumes, mb):
            err.print("nothing was removed")
            return EXIT_FAILED
        chosen = {r.device: r.reclaim for r in results if r.reclaim is not None}
        scanned = {r.device: r for r in results}
        with err.status(f"fleet cleanup: cleaning {len(chosen)} device(s)"):
            results = each(devices, lambda d: work(d, True, chosen) if d.id in chosen
                           else scanned[d.id], args.parallel)
    if args.json:
        print_json(cleanup_json(results, applied=apply))
    else:
        out.print(render(results, applied=apply))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _confirm_volumes(volumes: list[tuple[str, Any]], mb: Callable[[int], str]) -> bool:
    """Ask, listing each volume, before its data goes (on a terminal: checked before)."""
    for device, item in volumes:
        err.print(f"  {device}: {item.label} ({mb(item.bytes)})")
    answer = input(f"remove these {len(volumes)} volume(s) and all their data? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
