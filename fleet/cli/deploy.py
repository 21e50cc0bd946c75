"""`fleet deploy`: plan a compose stack, show its diff, push images and apply it on each device."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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


def register(commands: Commands) -> None:
    deploy = commands.add("deploy", cmd_deploy, "plan a compose stack onto the fleet, show the "
                          "plan's diff against what runs, push missing image layers and apply "
                          "it on every device (exit 1 if any device failed)")
    deploy.add_argument("stack", metavar="STACK", help="a docker compose file (x-fleet for "
                        "extras)")
    deploy.add_argument("--dry-run", action="store_true",
                        help="show every step on every device, change nothing")
    deploy.add_argument("--no-make-room", dest="make_room", action="store_false",
                        help="refuse a device too full for its images rather than first "
                             "reclaim what `fleet cleanup` may on its own (old temporary "
                             "files, logs, old revisions, dangling images)")
    deploy.add_argument("--parallel", type=int, default=4, metavar="N",
                        help="devices changed at once (default 4)")
    deploy.add_argument("--images", action="append", default=[], metavar="PATH",
                        help="docker-archive files (docker save) or directories of them to "
                             "push images from (repeatable; default $FLEET_IMAGES, then the "
                             "local docker engine)")
    known_hosts_option(deploy)
    deploy.add_argument("--store", metavar="PATH",
                        help="SQLite state file where the deploy is recorded (default "
                             "$XDG_STATE_HOME/fleet/fleet.db)")
    deploy.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="SSH connect timeout per device (default 10)")
    deploy.add_argument("--seed", type=int, default=0,
                        help="placement tie-break seed (default 0)")
    json_flag(deploy)


def cmd_deploy(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from fleet.cleanup import board as scan
    from fleet.config import inventory, stack
    from fleet.deploy import apply as rollout
    from fleet.deploy.images import ImageSource
    from fleet.health import store
    from fleet.render.deploy import Bars, deploy_json, render_diff, render_results
    from fleet.render.plan import render as render_plan
    from fleet.ssh import hostkeys
    from fleet.ssh.connection import SshConnection

    at_least_one(args.parallel, "--parallel")
    wanted = stack.load_stack(args.stack)
    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.devices
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    source = ImageSource.from_env([Path(p) for p in args.images])
    quiet = args.json or not err.is_terminal
    with Progress(*Bars.columns(), console=err, disable=quiet, transient=True) as bars:
        progress = Bars(bars)
        prepared = rollout.prepare(
            wanted, devices, lambda d: SshConnection(d, known, timeout=args.timeout), source,
            parallel=max(args.parallel, 8), seed=args.seed, now=time.time(), progress=progress)
        try:
            if prepared.plan.unplaced:
                if args.json:
                    print_json(deploy_json(prepared, None, None))
                else:
                    out.print(render_plan(prepared.plan))
                    out.print("nothing was changed: the stack does not fit (see the reasons)")
                return EXIT_FAILED
            if args.dry_run:
                if args.json:
                    print_json(deploy_json(prepared, None, None))
                else:
                    out.print(render_diff(prepared, every_step=True))
                    out.print("dry run: nothing was changed")
                return EXIT_FAILED if prepared.failed else EXIT_OK
            if not args.json:
                bars.stop()
                out.print(render_diff(prepared))
                bars.start()
            with store.Store(Path(args.store) if args.store else None) as db:
                deployment = db.deployment_started(
                    time.time(), wanted.name, json.dumps(deploy_json(prepared, None, None)),
                    {d: f"{len(s.changes)} change(s)" for d, s in prepared.steps.items()})
                keep_free = {d.id: d.profile.reserve.free_disk_pct for d in devices}
                room = scan.make_room({d.id: d.ssh.user for d in devices},
                                      {s.image for s in wanted.services}) \
                    if args.make_room else None
                results = rollout.apply(prepared, source, parallel=args.parallel,
                                        keep_free_pct=keep_free, make_room=room,
                                        progress=progress)
                db.deployment_finished(deployment, time.time(),
                                       {r.device: (r.ok, r.error) for r in results})
                for r in results:
                    if r.room:  # the cleanup policy acted: an event, as the daemon's are
                        db.event(time.time(), r.device, "cleanup_make_room", r.room)
        finally:
            prepared.close()
    if args.json:
        print_json(deploy_json(prepared, results, deployment))
    else:
        out.print(render_results(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
