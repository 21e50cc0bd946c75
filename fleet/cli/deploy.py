"""`fleet deploy`: plan a compose stack, show its diff, push images and apply it on each device."""

from __future__ import annotations

import argparse
from pathlib import Path

from fleet.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    at_least_one,
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
    deploy = commands.add("deploy", cmd_deploy, "plan a compose stack onto the fleet, show the "
                          "plan's diff against what runs, push missing image layers and apply "
                          "it on every device (exit 1 if any device failed)")
    deploy.add_argument("stack", nargs="+", metavar="STACK",
                        help="a docker compose file (x-fleet for extras); more files override "
                             "the first, as docker compose -f A -f B")
    stack_options(deploy)
    deploy.add_argument("--dry-run", action="store_true",
                        help="show every step on every device, change nothing")
    deploy.add_argument("--no-make-room", dest="make_room", action="store_false",
                        help="refuse a device too full for its images rather than first "
                             "reclaim what `fleet cleanup` may on its own (old temporary "
                             "files, logs, old revisions, dangling images)")
    deploy.add_argument("--parallel", type=int, default=4, metavar="N",
                        help="devices changed at once (default 4)")
    board_options(deploy)
    deploy.add_argument("--store", metavar="PATH",
                        help="SQLite state file where the deploy is recorded (default "
                             "$XDG_STATE_HOME/fleet/fleet.db)")
    deploy.add_argument("--seed", type=int, default=0,
                        help="placement tie-break seed (default 0)")
    deploy.add_argument("--strict", action="store_true",
                        help="refuse services with no memory figure of their own rather than "
                             "count them at an estimate")
    verbose_flag(deploy)
    json_flag(deploy)


def cmd_deploy(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from fleet.actions.deploy import Collaborators, Options, deploy
    from fleet.config import inventory, resources
    from fleet.deploy.apply import Prepared
    from fleet.deploy.images import ImageSource
    from fleet.health import store
    from fleet.render.deploy import Bars, render_diff, render_results
    from fleet.render.plan import render as render_plan
    from fleet.ssh import hostkeys
    from fleet.ssh.local import connect

    at_least_one(args.parallel, "--parallel")
    wanted = load(args.stack, args)
    if args.strict:
        resources.refuse_assumed(wanted.services)
    inv = inventory.load(paths.inventory(args.inventory))
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    source = ImageSource.from_env([Path(p) for p in args.images])
    quiet = args.json or not err.is_terminal
    with Progress(*Bars.columns(), console=err, disable=quiet, transient=True) as bars:
        def show(prepared: Prepared) -> None:  # the diff, just before any board is changed
            if not args.json:
                bars.stop()
                out.print(render_diff(prepared, verbose=args.verbose))
                bars.start()

        done = deploy(wanted, inv.devices, Collaborators(
            lambda d: connect(d, known, timeout=args.timeout), source,
            lambda: store.Store(Path(args.store) if args.store else None), progress=Bars(bars)),
            Options(args.dry_run, args.make_room, args.parallel, args.seed), before_acting=show)
    if args.json:
        print_json(done.json())
    elif done.unplaced:
        out.print(render_plan(done.prepared.plan, verbose=args.verbose))
        out.print("nothing was changed: the stack does not fit (see the reasons)")
    elif done.dry_run:
        out.print(render_diff(done.prepared, every_step=True))
        out.print("dry run: nothing was changed")
    else:
        out.print(render_results(done.results))
    return EXIT_OK if done.ok else EXIT_FAILED
