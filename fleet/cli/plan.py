"""`fleet plan`: place a compose stack onto the fleet and show the plan."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    board_options,
    err,
    json_flag,
    out,
    print_json,
    verbose_flag,
)
from fleet.cli.stackfiles import load, stack_options
from fleet.config import paths


def register(commands: Commands) -> None:
    plan = commands.add("plan", cmd_plan, "place a compose stack onto the fleet and show the "
                                          "plan (exit 1 if anything cannot be placed)")
    plan.add_argument("stack", nargs="+", metavar="STACK",
                      help="a docker compose file (x-fleet for extras); more files override "
                           "the first, as docker compose -f A -f B")
    stack_options(plan)
    plan.add_argument("--what-if", action="append", default=[], metavar="PROFILE[:N],...",
                      help="add imaginary devices, e.g. pi4b-8g:2 (repeatable)")
    plan.add_argument("--need", metavar="PROFILE",
                      help="also find the fewest extra devices of PROFILE that place everything")
    plan.add_argument("--seed", type=int, default=0,
                      help="tie-break seed (0: inventory order); the same seed, the same plan")
    plan.add_argument("--strict", action="store_true",
                      help="refuse services with no memory figure of their own rather than "
                           "count them at an estimate")
    plan.add_argument("--boards", action="store_true",
                      help="plan against what the boards run, as fleet deploy does (reads every "
                           "board over SSH); default: against the inventory's budgets alone")
    board_options(plan)
    verbose_flag(plan)
    json_flag(plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from fleet.actions.plan import Boards, plan
    from fleet.config import inventory, resources
    from fleet.deploy.images import ImageSource
    from fleet.ssh import hostkeys
    from fleet.ssh.local import connect

    wanted = load(args.stack, args)
    if args.strict:
        resources.refuse_assumed(wanted.services)
    devices = inventory.load(paths.inventory(args.inventory)).devices
    boards = None
    if args.boards:
        known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
        boards = Boards(lambda d: connect(d, known, timeout=args.timeout),
                        ImageSource.from_env([Path(p) for p in args.images]))
    reading = err.status(f"fleet plan: reading {len(devices)} board(s) over SSH")
    with reading if boards else contextlib.nullcontext():
        planned = plan(wanted, devices, boards=boards, what_if=args.what_if, need=args.need,
                       seed=args.seed)
    if args.json:
        print_json(planned.json())
    else:
        out.print(planned.render(verbose=args.verbose))
    return EXIT_FAILED if planned.plan.unplaced else EXIT_OK
