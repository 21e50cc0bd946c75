"""`fleet lab up|status|down|junk`: a simulated fleet on this host, for tests and demos."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.table import Table

from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    err,
    json_flag,
    out,
    print_json,
    yes_no,
)
from fleet.config import paths
from fleet.errors import ConfigError
from fleet.fanout import Quiet
from fleet.lab.spec import DEFAULT_SUBNET, LabSpec

if TYPE_CHECKING:
    from rich.status import Status

    from fleet.lab.lab import LabStatus


def register(commands: Commands) -> None:
    lab = commands.group(
        "lab", help="a simulated fleet on this host (needs root)",
        description="A simulated fleet on this host: each device a network namespace "
                    "with its own sshd and dockerd.", dest="lab_command")
    up = _register_up(lab)
    status = lab.add("status", cmd_lab_status, "check each device's ssh, docker and agent")
    down = lab.add("down", cmd_lab_down, "remove everything the lab made (safe to repeat)")
    junk = lab.add("junk", cmd_lab_junk, "fill a device's card with what real boards gather "
                   "(old images, stopped containers, a big log, old /tmp files), for "
                   "`fleet cleanup` to find")
    junk.add_argument("device", metavar="DEVICE", help="the lab device's id")
    amount = junk.add_mutually_exclusive_group()
    amount.add_argument("--fill", type=float, metavar="PCT",
                        help="fill its card to PCT %% (default 92)")
    amount.add_argument("--mb", type=int, metavar="MB", help="plant MB MiB of junk")
    for sub in (up, status, down, junk):
        json_flag(sub)
        sub.add_argument("--lab", default=paths.lab_name(), metavar="NAME",
                         help="lab name, for several labs side by side (default: lab)")


def _register_up(lab: Commands) -> argparse.ArgumentParser:
    up = lab.add("up", cmd_lab_up, "create the lab's devices, broker and inventory")
    up.add_argument("--devices", type=int, default=3, metavar="N",
                    help="number of devices (default 3)")
    up.add_argument("--profiles", default="", metavar="LIST",
                    help="profiles, e.g. pi4b-8g:4,pi4b-2g,jetson-orin-nano-8g "
                         "(repeats to fill --devices; default pi4b-8g)")
    up.add_argument("--no-agent", dest="agent", action="store_false",
                    help="do not start the fleet agent on the devices")
    up.add_argument("--interval", type=float, default=5.0, metavar="S",
                    help="the agents' heartbeat interval in seconds (default 5)")
    up.add_argument("--bare", type=int, default=0, metavar="N",
                    help="also N stock Raspberry Pi OS boards fleet has yet to discover: "
                         "sshd and dockerd, no agent, only their host name on mDNS "
                         "(raspberrypi, raspberrypi-2, ...), not in the inventory (default 0)")
    up.add_argument("--card-mb", type=int, metavar="MB",
                    help="give every device a card (root filesystem) of MB MiB instead of its "
                         "profile's, so tests can fill one quickly")
    up.add_argument("--root-login", action="store_true",
                    help="let root log in over SSH too; the devices' users (pi, nvidia on a "
                         "Jetson) always can, with passwordless sudo")
    up.add_argument("--model", action="append", default=[], metavar="DEVICE=MODEL",
                    dest="models", help="give DEVICE this device-tree model instead of its "
                    "profile's, a board that disagrees with its profile (repeatable)")
    up.add_argument("--subnet", default=DEFAULT_SUBNET, metavar="CIDR",
                    help=f"the lab bridge's subnet (default {DEFAULT_SUBNET})")
    return up


def _models(pairs: list[str]) -> dict[str, str]:
    """`--model DEVICE=MODEL` options -> {DEVICE: MODEL}."""
    models = {}
    for pair in pairs:
        device, sep, model = pair.partition("=")
        if not sep or not device:
            raise ConfigError(f"--model {pair!r}: expected DEVICE=MODEL")
        models[device] = model
    return models


def _lab_spec(args: argparse.Namespace) -> LabSpec:
    return LabSpec.create(args.lab, subnet=getattr(args, "subnet", DEFAULT_SUBNET))


class _Steps(Quiet):
    """The lab's per-device stages as one line: what the devices are doing now, and how many.

    Off a terminal (a log) each step is printed once, when the first device reaches it."""

    def __init__(self, status: Status) -> None:
        self._status = status
        self._now: dict[str, str] = {}

    def stage(self, device: str, text: str) -> None:
        first = text not in self._now.values()
        self._now[device] = text
        doing = sum(1 for t in self._now.values() if t == text)
        self._status.update(f"fleet lab up: {text} ({doing}/{len(self._now)} devices)")
        if first and not err.is_terminal and text not in ("done", "failed"):
            err.print(f"fleet lab up: {text}")


def cmd_lab_up(args: argparse.Namespace) -> int:
    from fleet.lab import lab

    spec = _lab_spec(args)
    with err.status("fleet lab up") as status:
        result = lab.up(spec, args.devices, args.profiles, _Steps(status), agent=args.agent,
                        interval=args.interval, bare=args.bare, card_mb=args.card_mb,
                        root_login=args.root_login, models=_models(args.models))
    return _print_lab(result, args.json)


def cmd_lab_status(args: argparse.Namespace) -> int:
    from fleet.lab import lab

    return _print_lab(lab.status(_lab_spec(args)), args.json)


def cmd_lab_down(args: argparse.Namespace) -> int:
    from fleet.lab import lab

    removed = lab.down(_lab_spec(args))
    if args.json:
        print_json({"removed": removed})
    else:
        out.print("\n".join(f"removed {r}" for r in removed) or "nothing to remove")
    return EXIT_OK


def cmd_lab_junk(args: argparse.Namespace) -> int:
    from fleet.lab import lab

    how = f"with {args.mb} MB" if args.mb else f"to {args.fill or 92:g} %"
    with err.status(f"fleet lab junk: filling {args.device}'s card {how}"):
        result = lab.plant_junk(_lab_spec(args), args.device, fill_pct=args.fill,
                                size_mb=args.mb)
    if args.json:
        print_json(result)
        return EXIT_OK
    table = Table("category", "planted", title=f"junk on {args.device}: disk "
                  f"{result['disk_before_pct']} % -> {result['disk_after_pct']} %")
    for category, n in result["planted_bytes"].items():
        table.add_row(category, f"{n / 2**20:,.1f} MB")
    out.print(table)
    return EXIT_OK


def _print_lab(status: LabStatus, as_json: bool) -> int:
    healthy = all(d.ssh and d.docker and d.agent is not False for d in status.devices)
    if as_json:
        print_json(status.to_json())
        return EXIT_OK if healthy else EXIT_FAILED
    table = Table("device", "ip", "profile", "ssh", "docker", "agent",
                  title=f"fleet lab {status.name!r}")
    for d in status.devices:
        agent = "bare" if d.bare else "-" if d.agent is None else yes_no(d.agent)
        table.add_row(d.id, d.ip, d.profile, yes_no(d.ssh), yes_no(d.docker), agent)
    out.print(table)
    out.print(f"broker     {status.broker}\ninventory  {status.inventory}")
    out.print(f"use it:    export FLEET_INVENTORY={status.inventory}")
    return EXIT_OK if healthy else EXIT_FAILED
