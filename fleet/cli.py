"""The `fleet` command line: parse arguments, call the library, print tables or JSON.

Exit codes: 0 success; 1 the operation failed (or a device it checked is
unhealthy); 2 bad input (usage, an inventory or stack file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from fleet import __version__, profiles
from fleet.cleanup.rules import Category
from fleet.config import paths
from fleet.errors import ConfigError, FleetError
from fleet.lab.spec import DEFAULT_SUBNET, LabSpec
from fleet.model import Device, Resources

if TYPE_CHECKING:
    from fleet.bus.ingest import Ingest
    from fleet.config.inventory_add import NewDevice
    from fleet.deploy.enroll import EnrollResult
    from fleet.health.view import FleetView
    from fleet.lab.lab import LabStatus
    from fleet.model import Inventory
    from fleet.render.discover import Found

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
Handler = Callable[[argparse.Namespace], int]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)



def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def yes_no(value: bool) -> str:
    return "[green]yes[/]" if value else "[red]no[/]"


# -- fleet profiles ---------------------------------------------------------

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


# -- fleet inventory --------------------------------------------------------

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


# -- fleet plan -------------------------------------------------------------

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


# -- fleet status -----------------------------------------------------------

def cmd_status(args: argparse.Namespace) -> int:
    from rich.live import Live

    from fleet.bus.ingest import Ingest
    from fleet.config import inventory
    from fleet.health.impedance import Health
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
            until = time.monotonic() + args.watch if args.watch else float("inf")
            with Live(render(view, time.time(), profiles), console=out,
                      auto_refresh=False) as live:
                while time.monotonic() < until:
                    ingest.poll(1.0)
                    live.update(render(view, time.time(), profiles), refresh=True)
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


# -- fleet discover ---------------------------------------------------------

def cmd_discover(args: argparse.Namespace) -> int:
    from datetime import date

    from fleet.config import inventory
    from fleet.lan import discovery
    from fleet.render.discover import discover_json, match, missing, new_devices, render

    path = paths.inventory(args.inventory)
    devices = inventory.load(path).devices if path.exists() or args.add else ()
    names = discovery.names_to_resolve(devices, args.names)
    with err.status(f"fleet discover: listening to mDNS for {args.timeout:g} s"):
        scan = discovery.scan(args.timeout, interfaces=args.interface, names=names)
    found = match(scan, devices)
    absent = missing(found, devices)
    document = discover_json(found, absent, scan)
    code = EXIT_OK
    if args.add:
        added, pins, code = _add_found(path, new_devices(found, date.today()), found)
        document |= {"added": added, "pinned": pins}
    if args.json:
        print_json(document)
    else:
        out.print(render(found, absent, scan))
        if args.add:
            out.print(f"added to {path}: {', '.join(document['added']) or 'nothing new'}")
            for pin in document["pinned"]:
                out.print(f"  {pin['id']}: host key {pin['result']} {pin['fingerprint'] or ''}")
    return code


def _add_found(path: Path, new: Sequence[NewDevice], found: Sequence[Found]
               ) -> tuple[list[str], list[dict[str, Any]], int]:
    """Write the new boards into the inventory, and pin the host keys the enrolled advertise."""
    from fleet.config import inventory_add
    from fleet.ssh import hostkeys, trust

    added: list[str] = []
    code = EXIT_OK
    for device in new:  # one at a time: a board fleet cannot describe does not block the rest
        try:
            added += inventory_add.add_devices(path, [device])
        except ConfigError as e:
            sys.stderr.write(f"fleet discover: {device.id} not added: {e}\n")
            code = EXIT_FAILED
    store = hostkeys.KnownHosts(paths.known_hosts())
    pins: list[dict[str, Any]] = []
    for f in found:
        if f.seen.id not in added or f.seen.advert is None:
            continue  # a bare board advertises no fingerprint: `fleet trust` it by hand
        try:
            result = trust.check(f.seen.id, f.seen.addresses[0], f.seen.port, store,
                                 advertised=f.seen.advert.ssh_fingerprint or None)
            pins.append({"id": f.seen.id, "result": result.result,
                         "fingerprint": result.fingerprint})
        except FleetError as e:
            pins.append({"id": f.seen.id, "result": "refused", "fingerprint": None,
                         "error": str(e)})
            sys.stderr.write(f"fleet discover: {e}\n")
            code = EXIT_FAILED
    return added, pins, code


# -- fleet trust ------------------------------------------------------------

def cmd_trust(args: argparse.Namespace) -> int:
    from fleet.config import inventory
    from fleet.errors import HostKeyError
    from fleet.lan import discovery
    from fleet.render.discover import match
    from fleet.ssh import hostkeys, trust

    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.select(args.devices) if args.devices else inv.devices
    if args.accept and len(devices) != 1:
        raise ConfigError("--accept takes one device: name it, so a fingerprint is never "
                          "accepted for the wrong board")
    store = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    advertised: dict[str, str] = {}
    if not args.accept and any(store.pinned(d.id) is None for d in devices):
        with err.status(f"fleet trust: reading fingerprints from mDNS for {args.timeout:g} s"):
            scan = discovery.scan(args.timeout, interfaces=args.interface,
                                  names=discovery.names_to_resolve(devices))
        advertised = {f.inventory_id: f.seen.advert.ssh_fingerprint
                      for f in match(scan, devices)
                      if f.inventory_id and f.seen.advert and f.seen.advert.ssh_fingerprint}
    rows: list[dict[str, Any]] = []
    for d in devices:
        try:
            result = trust.check(d.id, d.host, d.ssh.port, store,
                                 advertised=advertised.get(d.id), accept=args.accept)
            rows.append(result.as_dict())
        except HostKeyError as e:
            rows.append({"host": d.host, "port": d.ssh.port, **e.as_dict(),
                         "result": f"REFUSED: {e.kind}", "fingerprint": e.offered})
            sys.stderr.write(f"fleet trust: {e}\n")  # unwrapped: it ends in a command to copy
        except FleetError as e:
            rows.append({"device": d.id, "host": d.host, "port": d.ssh.port,
                         "result": "unreachable", "error": str(e)})
            sys.stderr.write(f"fleet trust: {d.id}: {e}\n")
    refused = [r for r in rows if r["result"] not in ("matches", "pinned", "replaced")]
    if args.json:
        print_json({"known_hosts": str(store.path), "devices": rows})
    else:
        table = Table("device", "host", "host key", "fingerprint", title=f"{store.path}",
                      box=box.SIMPLE_HEAD)
        table.columns[3].overflow = "fold"
        for r in rows:
            style = "red" if r in refused else "green"
            table.add_row(r["device"], r["host"] if r["port"] == 22 else f"{r['host']}:{r['port']}",
                          f"[{style}]{r['result']}[/]", r.get("fingerprint") or "-")
        out.print(table)
    return EXIT_FAILED if refused else EXIT_OK


# -- fleet daemon -----------------------------------------------------------

def cmd_daemon(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from fleet.cleanup import janitor
    from fleet.cleanup.rules import Policy
    from fleet.config import inventory
    from fleet.daemon import Controller
    from fleet.health.store import Store
    from fleet.ssh import hostkeys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    inv = inventory.load(paths.inventory(args.inventory))
    cleaner = None
    if args.cleanup:
        try:
            policy = Policy(high_pct=args.cleanup_high, low_pct=args.cleanup_low)
        except ValueError as e:
            raise ConfigError(f"--cleanup-high/--cleanup-low: {e}") from None
        known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
        cleaner = janitor.Janitor(inv.devices, policy, janitor.over_ssh(known),
                                  cooldown_s=args.cleanup_cooldown)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with Store(Path(args.store) if args.store else None) as store, \
            Controller(inv, store, workers=args.workers, discover=args.discover,
                       interfaces=args.interface, janitor=cleaner) as controller:
        logging.info("fleet daemon: %d devices, broker %s:%s, store %s", len(inv.devices),
                     inv.broker.host, inv.broker.port, store.path)
        summary_due = time.monotonic() + args.summary
        while not stop.is_set():
            controller.step(0.5)
            if time.monotonic() >= summary_due:
                s = controller.view.summary(time.time())
                logging.info("fleet %s: %d/%d active, %d degraded, %d offline", s.mode.value,
                             s.active, s.total, s.degraded, s.offline)
                summary_due += args.summary
    return EXIT_OK


# -- fleet tui --------------------------------------------------------------

def cmd_tui(args: argparse.Namespace) -> int:
    # textual comes with the `tui` extra only: the rest of the CLI must work without it.
    try:
        import textual  # noqa: F401
    except ImportError:
        raise FleetError("fleet tui needs the tui extra: pip install 'fleet[tui]'") from None
    from tui.main import run

    store = Path(args.store) if args.store else None
    known = Path(args.known_hosts) if args.known_hosts else None
    return run(paths.inventory(args.inventory), store_path=store, stack=args.stack,
               known_hosts=known, interfaces=args.interface)


# -- fleet agent ------------------------------------------------------------

def cmd_agent(args: argparse.Namespace) -> int:
    """Reached only through cli.main: `fleet agent` itself skips the CLI (fleet/__main__.py)."""
    from fleet.agent.main import main as agent

    return agent(args.args)


# -- fleet bench ------------------------------------------------------------

# The TUI's benchmark lives in tui/: nothing in fleet/ but this entry point imports tui.
BENCHMARKS = {**{name: f"fleet.bench.{name}"
                 for name in ("pack", "ingest", "agent", "liveness", "deploy", "push")},
              "tui": "tui.bench"}


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    bench = importlib.import_module(BENCHMARKS[args.name])
    with err.status(f"fleet bench {args.name}: running (figures and baselines)"):
        result: dict[str, Any] = bench.run(seed=args.seed)
    if args.json:
        print_json(result)
        return EXIT_OK
    table = Table("family", "figure", "value", "target", "met", title=f"fleet bench {args.name}")
    for family, figures in result.items():
        if not isinstance(figures, dict):
            continue
        for name, value in figures.items():
            if name in ("targets", "met"):
                continue
            target = figures.get("targets", {}).get(name, "")
            met = figures.get("met", {}).get(name)
            table.add_row(family, name, str(value), target, "" if met is None else yes_no(met))
    out.print(table)
    out.print(f"all targets met: {yes_no(bool(result.get('met')))}")
    return EXIT_OK


# -- fleet deploy -----------------------------------------------------------

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

    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: expected at least 1")
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


# -- fleet cleanup ----------------------------------------------------------

def cmd_cleanup(args: argparse.Namespace) -> int:
    from fleet.cleanup import board as scan
    from fleet.cleanup import rules as cleanup
    from fleet.config import inventory, stack
    from fleet.deploy.apply import each
    from fleet.render.cleanup import cleanup_json, mb, render
    from fleet.ssh import hostkeys

    if not args.devices and not args.all:
        raise ConfigError("name the devices or groups to clean, or pass --all")
    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: expected at least 1")
    categories = frozenset(cleanup.Category(c) for c in args.category) or cleanup.DEFAULT
    if args.volumes:
        categories |= {cleanup.Category.VOLUMES}
    elif cleanup.Category.VOLUMES in categories:
        raise ConfigError("--category volumes: volumes hold data; pass --volumes to mean it")
    planned = {*args.keep_image,
               *(s.image for path in args.stack for s in stack.load_stack(path).services)}
    rules = cleanup.Rules(categories=categories, tmp_age_days=args.tmp_days,
                          journal_keep_mb=args.journal_mb, planned=frozenset(planned))
    inv = inventory.load(paths.inventory(args.inventory))
    devices = inv.devices if args.all else inv.select(args.devices)
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))

    def work(device: Device, apply: bool,
             chosen: dict[str, cleanup.Reclaim] | None = None) -> scan.DeviceCleanup:
        return scan.clean_over_ssh(device, known, rules, apply=apply, timeout=args.timeout,
                                   chosen=chosen[device.id] if chosen else None)

    apply = args.apply
    confirm = apply and args.volumes and not args.yes
    if confirm and not sys.stdin.isatty():
        raise ConfigError("--volumes with --apply removes data: confirm on a terminal, "
                          "or pass --yes")
    with err.status(f"fleet cleanup: {'scanning' if confirm or not apply else 'cleaning'} "
                    f"{len(devices)} device(s)"):
        results = each(devices, lambda d: work(d, apply and not confirm), args.parallel)
    if confirm:
        volumes = [(r.device, i) for r in results if r.reclaim for i in r.reclaim.items
                   if i.category is cleanup.Category.VOLUMES]
        if volumes and not _confirm_volumes(volumes, mb):
            err.print("nothing was removed")
            return EXIT_FAILED
        chosen = {r.device: r.reclaim for r in results if r.reclaim is not None}
        scanned = {r.device: r for r in results}
        with err.status(f"fleet cleanup: cleaning {len(chosen)} device(s)"):
            results = each(devices, lambda d: work(d, True, chosen) if d.id in chosen
                           else scanned[d.id], args.parallel)
    if args.json:
        print_json(cleanup_json(results, applied=apply))
    else:
        out.print(render(results, applied=apply))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _confirm_volumes(volumes: list[tuple[str, Any]], mb: Callable[[int], str]) -> bool:
    """Ask, listing each volume, before its data goes (on a terminal: checked before)."""
    for device, item in volumes:
        err.print(f"  {device}: {item.label} ({mb(item.bytes)})")
    answer = input(f"remove these {len(volumes)} volume(s) and all their data? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


# -- fleet enroll -----------------------------------------------------------

# avahi renames the second stock board on a LAN raspberrypi-2, and so on: ask for those too.
_BARE_RENAMES = tuple(f"raspberrypi-{n}" for n in range(2, 17))


def cmd_enroll(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from fleet.config import inventory
    from fleet.deploy import agent_build, enroll
    from fleet.ssh import hostkeys
    from fleet.ssh.connection import SshConnection

    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: expected at least 1")
    if not args.devices and not args.all_new:
        raise ConfigError("name the devices or groups to enroll, or pass --all-new")
    if args.profile:
        profiles.get(args.profile, field="--profile")
    path = paths.inventory(args.inventory)
    inv = inventory.load(path)
    enroll.check_broker(inv.broker)
    password = enroll.read_password(inv.broker)
    added, bare, results = _bare_boards(path, inv, args) if args.all_new else ([], [], [])
    inv = inventory.load(path) if added else inv
    wanted = {*bare, *(d.id for d in inv.select(args.devices))}
    devices = [d for d in inv.devices if d.id in wanted]
    base = args.agent_base or agent_build.default_base()
    settings = enroll.Settings(inv.broker, agent_build.image_tag(base), base, password)
    known = hostkeys.KnownHosts(paths.known_hosts(args.known_hosts))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, disable=args.json or not err.is_terminal, transient=True) as bars:
        rows = {d.id: bars.add_task(f"{d.id}: waiting", total=None) for d in devices}

        def progress(device: str, doing: str) -> None:
            bars.update(rows[device], description=f"{device}: {doing}")
            if doing in ("done", "failed"):
                bars.stop_task(rows[device])

        results += enroll.enroll(
            devices, lambda d: SshConnection(d, known, timeout=args.timeout), settings,
            parallel=args.parallel, progress=progress)
    if args.json:
        print_json({"inventory": str(path), "added": added, "image": settings.image,
                    "devices": [enroll.result_json(r) for r in results],
                    "summary": enroll.summary(results)})
    elif not results:
        out.print("no bare boards found on mDNS: nothing to enroll")
    else:
        counts = enroll.summary(results)
        table = Table("device", "result", "what changed", "agent", "time",
                      title=f"fleet enroll {settings.image}: " + ", ".join(
                          f"{n} {what}" for what, n in counts.items() if n), box=box.SIMPLE_HEAD)
        for r in results:
            result = ("[red]failed[/]" if not r.ok else "[green]enrolled[/]" if r.changes
                      else "unchanged")
            table.add_row(r.device, result,
                          escape(", ".join(f"{s.name} {s.outcome}" for s in r.changes) or "-"),
                          r.container[:12] or "-", f"{r.seconds:.1f} s")
        out.print(table)
        if added:
            out.print(f"added to {path}: {', '.join(added)}")
        for r in results:
            if r.error is not None:  # unwrapped: a hint may end in a command to copy
                out.print(f"[red]{r.device}[/]: {escape(r.error)}", soft_wrap=True)
                if r.hint:
                    out.print(f"  {escape(r.hint)}", soft_wrap=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _bare_boards(path: Path, inv: Inventory, args: argparse.Namespace
                 ) -> tuple[list[str], list[str], list[EnrollResult]]:
    """`--all-new`: the boards on mDNS with no agent; those the inventory lacks are added to it.

    Returns the ids added, the ids to enroll (those and the bare boards already
    in the inventory, say after a failed first try), and a failed result for
    each board that could not be added.
    """
    from dataclasses import replace
    from datetime import date

    from fleet.config import inventory_add
    from fleet.deploy.enroll import EnrollResult
    from fleet.lan import discovery
    from fleet.render.discover import match, new_devices

    names = discovery.names_to_resolve(inv.devices, _BARE_RENAMES)
    with err.status(f"fleet enroll: looking for bare boards on mDNS for {args.timeout:g} s"):
        scan = discovery.scan(args.timeout, interfaces=args.interface, names=names)
    bare = [f for f in match(scan, inv.devices) if not f.seen.enrolled]
    added: list[str] = []
    failed: list[EnrollResult] = []
    for new in new_devices(bare, date.today()):
        try:  # one at a time: a board fleet cannot describe does not keep the others out
            added += inventory_add.add_devices(path, [replace(new, profile=args.profile or None)])
        except ConfigError as e:
            hint = ("name its hardware with --profile, or set defaults.profile in the inventory"
                    if "profile" in str(e) else "")
            failed.append(EnrollResult(new.id, error=f"not added to the inventory: {e}",
                                       hint=hint))
    known = [f.inventory_id for f in bare if f.inventory_id is not None]
    return added, [*known, *added], failed


# -- fleet lab --------------------------------------------------------------

def _lab_spec(args: argparse.Namespace) -> LabSpec:
    return LabSpec.create(args.lab, subnet=getattr(args, "subnet", DEFAULT_SUBNET))


def cmd_lab_up(args: argparse.Namespace) -> int:
    from fleet.lab import lab

    spec = _lab_spec(args)
    with err.status("fleet lab up") as status:
        def progress(message: str) -> None:
            status.update(f"fleet lab up: {message}")
            if not err.is_terminal:
                err.print(f"fleet lab up: {message}")

        result = lab.up(spec, args.devices, args.profiles, progress, agent=args.agent,
                        interval=args.interval, bare=args.bare, card_mb=args.card_mb)
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


# -- the parser -------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    # --inventory is accepted before or after the command; SUPPRESS keeps a
    # subcommand's absent option from overwriting the top-level one. (No
    # set_defaults for it: parents share the action, so that would undo SUPPRESS.)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--inventory", metavar="PATH", default=argparse.SUPPRESS,
                        help="inventory file (default: $FLEET_INVENTORY, ./inventory.yaml, "
                             "~/.config/fleet/inventory.yaml)")
    parser = argparse.ArgumentParser(
        prog="fleet", parents=[common],
        description="Manage a fleet of Raspberry Pi and Jetson boards.",
        epilog="exit codes: 0 ok, 1 failed or unhealthy, 2 bad input, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"fleet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help: str,
                under: Any = commands) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = under.add_parser(
            name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    def json_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")

    json_flag(command("profiles", cmd_profiles, "list the hardware profiles and their budgets"))
    json_flag(command("inventory", cmd_inventory, "check the inventory and list its devices"))

    plan = command("plan", cmd_plan, "place a compose stack onto the fleet and show the plan "
                                     "(exit 1 if anything cannot be placed)")
    plan.add_argument("stack", metavar="STACK", help="a docker compose file (x-fleet for extras)")
    plan.add_argument("--what-if", action="append", default=[], metavar="PROFILE[:N],...",
                      help="add imaginary devices, e.g. pi4b-8g:2 (repeatable)")
    plan.add_argument("--need", metavar="PROFILE",
                      help="also find the fewest extra devices of PROFILE that place everything")
    plan.add_argument("--seed", type=int, default=0,
                      help="tie-break seed (0: inventory order); the same seed, the same plan")
    json_flag(plan)

    status = command("status", cmd_status, "the fleet's devices as their agents report them "
                     "(exit 1 unless every inventory device is active)")
    status.add_argument("--wait", type=float, default=6.0, metavar="S",
                        help="listen at most this long for every device (default 6: one "
                             "heartbeat interval and a second)")
    status.add_argument("--watch", type=float, nargs="?", const=0.0, default=None, metavar="S",
                        help="keep the table live, for S seconds or until Ctrl-C")
    json_flag(status)

    def known_hosts_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--known-hosts", metavar="PATH",
                         help="fleet's known-hosts file (default $FLEET_KNOWN_HOSTS or "
                              "~/.config/fleet/known_hosts)")

    def interface_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--interface", action="append", default=[], metavar="ADDR",
                         help="browse mDNS only on the interface with this address "
                              "(repeatable; default: every interface)")

    discover = command("discover", cmd_discover, "find boards on the LAN over mDNS: enrolled "
                       "(running the agent), bare (no agent yet), in the inventory or new")
    discover.add_argument("names", nargs="*", metavar="NAME",
                          help="more host names to look for (NAME.local), besides raspberrypi "
                               "and the inventory's .local hosts")
    discover.add_argument("--timeout", type=float, default=3.0, metavar="S",
                          help="listen this long (default 3)")
    discover.add_argument("--add", action="store_true",
                          help="write the new boards into the inventory (comments and order "
                               "kept) and pin the SSH host keys the enrolled ones advertise")
    interface_option(discover)
    json_flag(discover)

    trust = command("trust", cmd_trust, "check each device's SSH host key: pin it on first "
                    "contact if it matches the fingerprint its agent advertises, refuse a "
                    "changed one (exit 1 if any is refused)")
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

    daemon = command("daemon", cmd_daemon, "run the controller headless: heartbeats, health "
                     "and discovery into the state store, until SIGTERM")
    daemon.add_argument("--store", metavar="PATH",
                        help="SQLite state file (default $XDG_STATE_HOME/fleet/fleet.db)")
    daemon.add_argument("--workers", type=int, default=2, metavar="N",
                        help="heartbeat ingest processes (default 2)")
    daemon.add_argument("--no-discovery", dest="discover", action="store_false",
                        help="do not browse mDNS")
    daemon.add_argument("--summary", type=float, default=30.0, metavar="S",
                        help="log the fleet's mode every S seconds (default 30)")
    daemon.add_argument("--cleanup-high", type=float, default=85.0, metavar="PCT",
                        help="clean a board whose disk is over PCT %% full (default 85): old "
                             "temporary files, core dumps, apt's cache, the journal, broken "
                             "pushes, logs, old revisions and dangling images; never others' "
                             "containers, tagged images in use or volumes")
    daemon.add_argument("--cleanup-low", type=float, default=80.0, metavar="PCT",
                        help="... down to PCT %% (default 80)")
    daemon.add_argument("--cleanup-cooldown", type=float, default=600.0, metavar="S",
                        help="clean a board at most every S seconds (default 600)")
    daemon.add_argument("--no-cleanup", dest="cleanup", action="store_false",
                        help="never clean boards on its own")
    known_hosts_option(daemon)
    interface_option(daemon)

    deploy = command("deploy", cmd_deploy, "plan a compose stack onto the fleet, show the "
                     "plan's diff against what runs, push missing image layers and apply it on "
                     "every device (exit 1 if any device failed)")
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

    clean = command("cleanup", cmd_cleanup, "show, then reclaim, what fills the boards' disks: "
                    "stopped containers, unused images, logs, old temporary files, caches")
    clean.add_argument("devices", nargs="*", metavar="DEVICE",
                       help="device ids or groups from the inventory")
    clean.add_argument("--all", action="store_true", help="every device in the inventory")
    clean.add_argument("--category", action="append", default=[], metavar="NAME",
                       choices=[str(c) for c in Category],
                       help="only these categories (repeat it): "
                            + ", ".join(str(c) for c in Category)
                            + " (default all but volumes)")
    clean.add_argument("--apply", action="store_true",
                       help="reclaim it (without it, only show what would be reclaimed)")
    clean.add_argument("--volumes", action="store_true",
                       help="also volumes no container mounts: their data is lost, so "
                            "--apply asks first")
    clean.add_argument("--yes", action="store_true",
                       help="with --volumes --apply: do not ask (for scripts)")
    clean.add_argument("--tmp-days", type=float, default=7.0, metavar="DAYS",
                       help="temporary files older than this only (default 7)")
    clean.add_argument("--journal-mb", type=int, default=100, metavar="MB",
                       help="vacuum the systemd journal down to this size (default 100)")
    clean.add_argument("--keep-image", action="append", default=[], metavar="REF",
                       help="an image (ref or id) planned to run: never removed (repeat it)")
    clean.add_argument("--stack", action="append", default=[], metavar="STACK",
                       help="a compose stack to be deployed: its images are never removed "
                            "(repeat it)")
    clean.add_argument("--parallel", type=int, default=8, metavar="N",
                       help="devices at a time (default 8)")
    clean.add_argument("--timeout", type=float, default=10, metavar="S",
                       help="SSH connect timeout in seconds (default 10)")
    known_hosts_option(clean)
    json_flag(clean)

    enroll = command("enroll", cmd_enroll, "bootstrap boards over SSH: Docker if missing, "
                     "the agent's image, its config and MQTT credentials, the agent started "
                     "on boot; a rerun changes nothing (exit 1 if any board failed)")
    enroll.add_argument("devices", nargs="*", metavar="DEVICE",
                        help="inventory device ids or group names")
    enroll.add_argument("--all-new", action="store_true",
                        help="also enroll the bare boards (no agent yet) found on mDNS, adding "
                             "those the inventory lacks to it as discover --add does; each "
                             "one's host key must be pinned: fleet trust ID --accept SHA256:...")
    enroll.add_argument("--profile", metavar="NAME",
                        help="hardware profile of the boards --all-new adds (default: the "
                             "inventory's defaults.profile)")
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

    tui = command("tui", cmd_tui, "the fleet live in a terminal UI: the table (/ filters, "
                  "enter drills in, ? for keys), plans, deploys and cleanup")
    tui.add_argument("--store", metavar="PATH",
                     help="SQLite state file for events and deploys (default "
                          "$XDG_STATE_HOME/fleet/fleet.db)")
    tui.add_argument("--stack", metavar="STACK",
                     help="a compose stack file to plan and deploy (the plan view opens on it)")
    known_hosts_option(tui)
    interface_option(tui)

    agent = command("agent", cmd_agent, "run the on-device agent (`fleet agent --help`)")
    agent.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    bench = command("bench", cmd_bench, "run a benchmark: figures and same-run baselines")
    bench.add_argument("name", choices=sorted(BENCHMARKS), metavar="NAME",
                       help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    bench.add_argument("--seed", type=int, default=1, help="instance generator seed (default 1)")
    json_flag(bench)

    lab = commands.add_parser(
        "lab", parents=[common], help="a simulated fleet on this host (needs root)",
        description="A simulated fleet on this host: each device a network namespace "
                    "with its own sshd and dockerd.")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = command("up", cmd_lab_up, "create the lab's devices, broker and inventory",
                 lab_commands)
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
    status = command("status", cmd_lab_status, "check each device's ssh, docker and agent",
                     lab_commands)
    down = command("down", cmd_lab_down, "remove everything the lab made (safe to repeat)",
                   lab_commands)
    junk = command("junk", cmd_lab_junk, "fill a device's card with what real boards gather "
                   "(old images, stopped containers, a big log, old /tmp files), for "
                   "`fleet cleanup` to find", lab_commands)
    junk.add_argument("device", metavar="DEVICE", help="the lab device's id")
    amount = junk.add_mutually_exclusive_group()
    amount.add_argument("--fill", type=float, metavar="PCT",
                        help="fill its card to PCT %% (default 92)")
    amount.add_argument("--mb", type=int, metavar="MB", help="plant MB MiB of junk")
    up.add_argument("--subnet", default=DEFAULT_SUBNET, metavar="CIDR",
                    help=f"the lab bridge's subnet (default {DEFAULT_SUBNET})")
    for sub in (up, status, down, junk):
        json_flag(sub)
        sub.add_argument("--lab", default=paths.lab_name(), metavar="NAME",
                         help="lab name, for several labs side by side (default: lab)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.inventory = getattr(args, "inventory", None)
    try:
        code: int = args.handler(args)
    except ConfigError as e:
        sys.stderr.write(f"fleet: {e}\n")
        return EXIT_BAD_INPUT
    except FleetError as e:
        sys.stderr.write(f"fleet: {e}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("fleet: interrupted")
        return EXIT_INTERRUPTED
    return code
