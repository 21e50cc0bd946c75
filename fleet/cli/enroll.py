"""`fleet enroll`: bootstrap boards over SSH, with `--all-new` the bare ones on mDNS too."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.table import Table

from fleet import profiles
from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    at_least_one,
    err,
    interface_option,
    json_flag,
    known_hosts_option,
    out,
    print_json,
)
from fleet.config import paths
from fleet.errors import ConfigError
from fleet.fanout import Quiet

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from fleet.actions.enroll import Enrolled, Proposal


def register(commands: Commands) -> None:
    enroll = commands.add("enroll", cmd_enroll, "bootstrap boards over SSH: Docker if "
                          "missing, the agent's image, its config and MQTT credentials, the "
                          "agent started on boot; a rerun changes nothing (exit 1 if any board "
                          "failed)")
    enroll.add_argument("devices", nargs="*", metavar="DEVICE",
                        help="inventory device ids or group names")
    enroll.add_argument("--all-new", action="store_true",
                        help="also enroll the bare boards (no agent yet) found on mDNS, adding "
                             "those the inventory lacks to it as discover --add does; each "
                             "one's host key must be pinned: fleet trust ID --accept SHA256:...")
    enroll.add_argument("--profile", metavar="NAME",
                        help="hardware profile of the boards --all-new adds (default: what "
                             "each board's model says it is, read over SSH, else the "
                             "inventory's defaults.profile); a board that says otherwise is "
                             "reported")
    enroll.add_argument("--agent-base", metavar="IMAGE",
                        help="base image the agent image is built on, if a board lacks it "
                             "(default: agent_image/Dockerfile's, python:3.11-slim-bookworm)")
    known_hosts_option(enroll)
    interface_option(enroll)
    enroll.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="how long --all-new listens on mDNS, and each SSH connection may "
                             "take (default 5)")
    enroll.add_argument("--parallel", type=int, default=4, metavar="N",
                        help="boards enrolled at once (default 4)")
    json_flag(enroll)


class Rows(Quiet):
    """A spinner row per board, saying what it is doing, until it is done or failed."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self._rows: dict[str, TaskID] = {}

    def stage(self, device: str, text: str) -> None:
        if device not in self._rows:
            self._rows[device] = self._bars.add_task(f"{device}: {text}", total=None)
        self._bars.update(self._rows[device], description=f"{device}: {text}")
        if text in ("done", "failed"):
            self._bars.stop_task(self._rows[device])


def cmd_enroll(args: argparse.Namespace) -> int:
    from datetime import date

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from fleet.actions import enroll as use_case
    from fleet.cli.discover import scanner
    from fleet.config import inventory
    from fleet.deploy import agent_build, enroll
    from fleet.ssh import hostkeys
    from fleet.ssh.local import connect

    at_least_one(args.parallel, "--parallel")
    if not args.devices and not args.all_new:
        raise ConfigError("name the devices or groups to enroll, or pass --all-new")
    if args.profile:
        profiles.get(args.profile, field="--profile")
    inv = inventory.load(paths.inventory(args.inventory))
    enroll.check_broker(inv.broker)
    password = enroll.read_password(inv.broker)
    base = args.agent_base or agent_build.default_base()
    settings = enroll.Settings(inv.broker, agent_build.image_tag(base), base, password)
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    all_new = use_case.AllNew(scanner(
        f"fleet enroll: looking for bare boards on mDNS for {args.timeout:g} s",
        args.timeout, args.interface), date.today(), args.profile) if args.all_new else None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, disable=args.json or not err.is_terminal, transient=True) as bars:
        done = use_case.enroll(inv, args.devices, settings,
                               lambda d: connect(d, known, timeout=args.timeout),
                               all_new=all_new, parallel=args.parallel, progress=Rows(bars))
    if args.json:
        print_json({"inventory": str(done.inventory), "added": list(done.added),
                    "image": settings.image,
                    "devices": [enroll.result_json(r) for r in done.results],
                    "proposals": [_proposal_json(p) for p in done.proposals],
                    "summary": enroll.summary(done.results)})
    elif not done.results:
        out.print("no bare boards found on mDNS: nothing to enroll")
    else:
        _print_proposals(done.proposals)
        _print_results(done, settings.image)
    return EXIT_OK if done.ok else EXIT_FAILED


def _proposal_json(p: Proposal) -> dict[str, object]:
    return {"device": p.device, "proposed": p.proposed, "reason": p.reason, "given": p.given,
            "used": p.used, "disagrees": p.disagrees}


def _print_proposals(proposals: tuple[Proposal, ...]) -> None:
    """What each new board's model said, and which profile it was added with."""
    for p in proposals:
        if p.used:
            out.print(f"{p.device}: added as {p.proposed}, what the board says it is: "
                      f"{escape(p.reason)}", soft_wrap=True)
        elif p.disagrees:
            out.print(f"[yellow]{p.device}: added as {p.given} (--profile), but the board "
                      f"says it is {p.proposed}: {escape(p.reason)}[/]", soft_wrap=True)
        elif p.proposed is None:
            fallback = "--profile" if p.given else "the inventory's defaults.profile"
            out.print(f"{p.device}: fleet cannot tell its profile: {escape(p.reason)}; "
                      f"it takes {fallback}", soft_wrap=True)


def _print_results(done: Enrolled, image: str) -> None:
    from fleet.deploy import enroll

    counts = enroll.summary(done.results)
    table = Table("device", "result", "what changed", "agent", "time",
                  title=f"fleet enroll {image}: " + ", ".join(
                      f"{n} {what}" for what, n in counts.items() if n), box=box.SIMPLE_HEAD)
    for r in done.results:
        result = ("[red]failed[/]" if not r.ok else "[green]enrolled[/]" if r.changes
                  else "unchanged")
        table.add_row(r.device, result,
                      escape(", ".join(f"{s.name} {s.outcome}" for s in r.changes) or "-"),
                      r.container[:12] or "-", f"{r.seconds:.1f} s")
    out.print(table)
    if done.added:
        out.print(f"added to {done.inventory}: {', '.join(done.added)}")
    for r in done.results:
        if r.error is not None:  # unwrapped: a hint may end in a command to copy
            out.print(f"[red]{r.device}[/]: {escape(r.error)}", soft_wrap=True)
            if r.hint:
                out.print(f"  {escape(r.hint)}", soft_wrap=True)
