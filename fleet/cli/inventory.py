"""`fleet profiles` and `fleet inventory`: the hardware presets and the devices of the inventory."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from fleet import profiles
from fleet.cli.common import EXIT_OK, Commands, json_flag, out, print_json
from fleet.config import paths
from fleet.model import Device, Resources


def register(commands: Commands) -> None:
    json_flag(commands.add("profiles", cmd_profiles,
                           "list the hardware profiles and their budgets"))
    json_flag(commands.add("inventory", cmd_inventory,
                           "check the inventory and list its devices"))


def resources_json(r: Resources) -> dict[str, int]:
    return {"mem_mb": r.mem_mb, "disk_mb": r.disk_mb, "cpu_millis": r.cpu_millis}


def cmd_profiles(args: argparse.Namespace) -> int:
    if args.json:
        print_json({"profiles": [{
            "name": p.name, "model": p.model, "arch": str(p.arch), "cpus": p.cpus,
            "ram_mb": p.ram_mb, "storage_gb": p.storage_gb, "storage_kind": p.storage_kind,
            "gpu": p.gpu.name if p.gpu else None,
            "reserved": resources_json(p.reserved), "budget": resources_json(p.budget),
        } for p in profiles.PROFILES.values()]})
        return EXIT_OK
    table = Table("profile", "arch", "cpus", "RAM", "storage", "CUDA", "mem budget",
                  "disk budget", title="hardware profiles (budget: what containers may use)")
    table.columns[0].no_wrap = True
    for p in profiles.PROFILES.values():
        table.add_row(p.name, str(p.arch), str(p.cpus), f"{p.ram_mb} MB",
                      f"{p.storage_gb} GB {p.storage_kind}",
                      str(p.gpu.cuda_cores) if p.gpu else "-",
                      f"{p.budget.mem_mb} MB", f"{p.budget.disk_mb / 1024:.1f} GB")
    out.print(table)
    return EXIT_OK


def device_json(d: Device) -> dict[str, Any]:
    return {
        "id": d.id, "host": d.host, "profile": d.profile.name, "arch": str(d.arch),
        "site": d.site, "labels": dict(d.labels), "groups": list(d.groups),
        "ssh": {"user": d.ssh.user, "port": d.ssh.port,
                "key": str(d.ssh.key) if d.ssh.key else None},
        "budget": resources_json(d.budget),
    }


def cmd_inventory(args: argparse.Namespace) -> int:
    from fleet.config import inventory

    inv = inventory.load(paths.inventory(args.inventory))
    if args.json:
        b = inv.broker
        print_json({"path": str(inv.path), "devices": [device_json(d) for d in inv.devices],
                    "groups": {k: list(v) for k, v in inv.groups.items()},
                    "broker": {"host": b.host, "port": b.port, "tls": b.tls,
                               "username": b.username}})
        return EXIT_OK
    table = Table("device", "host", "profile", "arch", "site", "groups", "mem budget",
                  "disk budget", title=f"{inv.path}: {len(inv.devices)} devices")
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for d in inv.devices:
        table.add_row(d.id, d.host, d.profile.name, str(d.arch), d.site,
                      ",".join(d.groups) or "-", f"{d.budget.mem_mb} MB",
                      f"{d.budget.disk_mb / 1024:.1f} GB")
    out.print(table)
    out.print(f"broker {inv.broker.host}:{inv.broker.port}")
    return EXIT_OK
