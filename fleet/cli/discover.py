"""`fleet discover`: find boards on the LAN over mDNS; `--add` writes the new ones in."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    err,
    interface_option,
    json_flag,
    out,
    print_json,
)
from fleet.config import paths

if TYPE_CHECKING:
    from fleet.actions.discover import Added, Scanner
    from fleet.lan.discovery import Scan


def register(commands: Commands) -> None:
    discover = commands.add("discover", cmd_discover, "find boards on the LAN over mDNS: "
                            "enrolled (running the agent), bare (no agent yet), in the "
                            "inventory or new")
    discover.add_argument("names", nargs="*", metavar="NAME",
                          help="more host names to look for (NAME.local), besides raspberrypi "
                               "and the inventory's .local hosts")
    discover.add_argument("--timeout", type=float, default=3.0, metavar="S",
                          help="listen this long (default 3)")
    discover.add_argument("--add", action="store_true",
                          help="write the new boards into the inventory (comments and order "
                               "kept) and pin the SSH host keys the enrolled ones advertise")
    interface_option(discover)
    json_flag(discover)


def scanner(message: str, timeout: float, interfaces: Sequence[str]) -> Scanner:
    """An mDNS browse of `timeout` seconds, with `message` on stderr meanwhile."""
    from fleet.lan import discovery

    def scan(names: Sequence[str]) -> Scan:
        with err.status(message):
            return discovery.scan(timeout, interfaces=interfaces, names=names)

    return scan


def cmd_discover(args: argparse.Namespace) -> int:
    from datetime import date

    from fleet.actions import discover
    from fleet.config import inventory
    from fleet.render.discover import discover_json, render
    from fleet.ssh import hostkeys

    path = paths.inventory(args.inventory)
    devices = inventory.load(path).devices if path.exists() or args.add else ()
    scan = scanner(f"fleet discover: listening to mDNS for {args.timeout:g} s", args.timeout,
                   args.interface)
    findings = discover.find(devices, scan, args.names)
    document = discover_json(findings.found, findings.absent, findings.scan)
    added = None
    if args.add:
        store = hostkeys.KnownHosts(paths.known_hosts())
        added = discover.add_found(path, findings.found, store, today=date.today())
        _report_failures(added)
        document |= {"added": list(added.added), "pinned": _pins_json(added)}
    if args.json:
        print_json(document)
    else:
        out.print(render(findings.found, findings.absent, findings.scan))
        if added is not None:
            out.print(f"added to {path}: {', '.join(added.added) or 'nothing new'}")
            for pin in added.pins:
                out.print(f"  {pin.device}: host key {pin.result} {pin.fingerprint or ''}")
    return EXIT_FAILED if added is not None and not added.ok else EXIT_OK


def _report_failures(added: Added) -> None:
    for board in added.not_added:
        sys.stderr.write(f"fleet discover: {board.device} not added: {board.error}\n")
    for pin in added.pins:
        if pin.error is not None:
            sys.stderr.write(f"fleet discover: {pin.error}\n")


def _pins_json(added: Added) -> list[dict[str, Any]]:
    return [{"id": p.device, "result": p.result, "fingerprint": p.fingerprint,
             **({"error": p.error} if p.error is not None else {})} for p in added.pins]
