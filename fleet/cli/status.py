"""`fleet status`: the fleet's devices as their agents report them, once or live."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from fleet.cli.common import EXIT_FAILED, EXIT_OK, Commands, err, json_flag, out, print_json
from fleet.config import paths

if TYPE_CHECKING:
    from fleet.bus.ingest import Ingest
    from fleet.health.view import FleetView


def register(commands: Commands) -> None:
    status = commands.add("status", cmd_status, "the fleet's devices as their agents report "
                          "them (exit 1 unless every inventory device is active)")
    status.add_argument("--wait", type=float, default=6.0, metavar="S",
                        help="listen at most this long for every device (default 6: one "
                             "heartbeat interval and a second)")
    status.add_argument("--watch", type=float, nargs="?", const=0.0, default=None, metavar="S",
                        help="keep the table live, for S seconds or until Ctrl-C")
    json_flag(status)


def cmd_status(args: argparse.Namespace) -> int:
    from fleet.bus.ingest import Ingest
    from fleet.config import inventory
    from fleet.health.liveness import Health
    from fleet.health.view import FleetView
    from fleet.render.status import render, status_json

    inv = inventory.load(paths.inventory(args.inventory))
    view = FleetView(d.id for d in inv.devices)
    profiles = {d.id: d.profile.name for d in inv.devices}
    ingest = Ingest(inv.broker, view, workers=0)
    with err.status(f"fleet status: listening on {inv.broker.host}:{inv.broker.port}"):
        ingest.start()
    try:
        if args.watch is None:
            _hear_everyone(ingest, view, args.wait)
        else:
            _watch(ingest, view, args.watch, profiles)
    finally:
        ingest.stop()
    now = time.time()
    if args.json:
        print_json(status_json(view, now, profiles))
    elif args.watch is None:
        out.print(render(view, now, profiles))
    everyone_active = all(view.devices[d.id].health(now) is Health.ACTIVE for d in inv.devices)
    return EXIT_OK if everyone_active else EXIT_FAILED


def _hear_everyone(ingest: Ingest, view: FleetView, wait: float) -> None:
    """Listen until every expected device has spoken (a heartbeat, or its retained presence)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        ingest.poll(0.2)
        if all(r.heartbeat is not None or r.online is False
               for r in view.devices.values() if r.expected):
            return


def _watch(ingest: Ingest, view: FleetView, seconds: float, profiles: dict[str, str]) -> None:
    """The table, live: for `seconds`, or (0) until Ctrl-C."""
    from rich.live import Live

    from fleet.render.status import render

    until = time.monotonic() + seconds if seconds else float("inf")
    with Live(render(view, time.time(), profiles), console=out, auto_refresh=False) as live:
        while time.monotonic() < until:
            ingest.poll(1.0)
            live.update(render(view, time.time(), profiles), refresh=True)
