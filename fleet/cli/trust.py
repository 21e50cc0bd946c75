"""`fleet trust`: check each device's SSH host key; pin, keep, replace or refuse it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    interface_option,
    json_flag,
    known_hosts_option,
    out,
    print_json,
)
from fleet.config import paths

if TYPE_CHECKING:
    from fleet.actions.trust import KeyCheck


def register(commands: Commands) -> None:
    trust = commands.add("trust", cmd_trust, "check each device's SSH host key: pin it on "
                         "first contact if it matches the fingerprint its agent advertises, "
                         "refuse a changed one (exit 1 if any is refused)")
    trust.add_argument("devices", nargs="*", metavar="DEVICE",
                       help="device ids or group names (default: the whole inventory)")
    trust.add_argument("--accept", metavar="SHA256:...",
                       help="pin or replace ONE device's key, if its sshd offers exactly this "
                            "fingerprint (read it on the board: ssh-keygen -lf "
                            "/etc/ssh/ssh_host_ed25519_key.pub)")
    known_hosts_option(trust)
    trust.add_argument("--timeout", type=float, default=3.0, metavar="S",
                       help="how long to listen for mDNS fingerprints (default 3)")
    interface_option(trust)
    json_flag(trust)


def cmd_trust(args: argparse.Namespace) -> int:
    from fleet.actions.trust import check_all
    from fleet.cli.discover import scanner
    from fleet.config import inventory
    from fleet.ssh import hostkeys

    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.select(args.devices) if args.devices else inv.devices
    store = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    scan = scanner(f"fleet trust: reading fingerprints from mDNS for {args.timeout:g} s",
                   args.timeout, args.interface)
    checks = check_all(devices, store, scan=scan, accept=args.accept)
    for c in checks:
        if c.refused is not None:  # unwrapped: it ends in a command to copy
            sys.stderr.write(f"fleet trust: {c.refused}\n")
        elif c.unreachable is not None:
            sys.stderr.write(f"fleet trust: {c.device}: {c.unreachable}\n")
    rows = [row(c) for c in checks]
    if args.json:
        print_json({"known_hosts": str(store.path), "devices": rows})
    else:
        table = Table("device", "host", "host key", "fingerprint", title=f"{store.path}",
                      box=box.SIMPLE_HEAD)
        table.columns[3].overflow = "fold"
        for c, r in zip(checks, rows, strict=True):
            style = "yellow" if c.skipped else "green" if c.ok else "red"
            table.add_row(r["device"], _where(c), f"[{style}]{r['result']}[/]",
                          r.get("fingerprint") or "-")
        out.print(table)
        for c in checks:
            if c.skipped is not None:
                out.print(f"{c.device}: skipped: {c.skipped}")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def row(check: KeyCheck) -> dict[str, Any]:
    """One device's line of `fleet trust --json`."""
    if check.trusted is not None:
        return check.trusted.as_dict()
    if check.refused is not None:
        e = check.refused
        return {"host": check.host, "port": check.port, **e.as_dict(),
                "result": f"REFUSED: {e.kind}", "fingerprint": e.offered}
    if check.skipped is not None:
        return {"device": check.device, "host": check.host, "port": None, "result": "skipped",
                "reason": check.skipped}
    return {"device": check.device, "host": check.host, "port": check.port,
            "result": "unreachable", "error": check.unreachable}


def _where(check: KeyCheck) -> str:
    if check.skipped is not None or check.port == 22:
        return check.host
    return f"{check.host}:{check.port}"
