"""`fleet plan`: place a compose stack onto the fleet and show the plan."""

from __future__ import annotations

import argparse

from fleet import profiles
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
    from fleet import scheduler
    from fleet.config import inventory, stack
    from fleet.render.plan import plan_json, render

    services = stack.load(args.stack)
    devices = inventory.load(paths.inventory(args.inventory)).devices
    extra = [pair for text in args.what_if
             for pair in profiles.parse_counts(text, "--what-if")]
    fleet = scheduler.what_if(devices, extra)
    result = scheduler.plan(fleet, services, seed=args.seed)
    needed = None
    if args.need:
        needed = scheduler.need(profiles.get(args.need, field="--need"), fleet, services,
                                seed=args.seed)
    if args.json:
        document = plan_json(result)
        if args.need:
            document["need"] = {"profile": args.need, "count": needed}
        print_json(document)
    else:
        out.print(render(result))
        if args.need:
            out.print(_need_line(needed, args.need))
    return EXIT_FAILED if result.unplaced else EXIT_OK


def _need_line(needed: int | None, profile: str) -> str:
    if needed is None:
        return f"no number of {profile} places everything (see the reasons)"
    if needed == 0:
        return f"everything fits already: no {profile} to add"
    return f"to place everything, add {needed} x {profile}"
