"""`fleet plan`: place a compose stack onto the fleet and show the plan."""

from __future__ import annotations

import argparse

from fleet.cli.common import EXIT_FAILED, EXIT_OK, Commands, json_flag, out, print_json
from fleet.config import paths


def register(commands: Commands) -> None:
    plan = commands.add("plan", cmd_plan, "place a compose stack onto the fleet and show the "
                                          "plan (exit 1 if anything cannot be placed)")
    plan.add_argument("stack", metavar="STACK", help="a docker compose file (x-fleet for extras)")
    plan.add_argument("--what-if", action="append", default=[], metavar="PROFILE[:N],...",
                      help="add imaginary devices, e.g. pi4b-8g:2 (repeatable)")
    plan.add_argument("--need", metavar="PROFILE",
                      help="also find the fewest extra devices of PROFILE that place everything")
    plan.add_argument("--seed", type=int, default=0,
                      help="tie-break seed (0: inventory order); the same seed, the same plan")
    json_flag(plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from fleet.actions.plan import plan
    from fleet.config import inventory, stack

    wanted = stack.load_stack(args.stack)
    devices = inventory.load(paths.inventory(args.inventory)).devices
    planned = plan(wanted, devices, what_if=args.what_if, need=args.need, seed=args.seed)
    if args.json:
        print_json(planned.json())
    else:
        out.print(planned.render())
    return EXIT_FAILED if planned.plan.unplaced else EXIT_OK
