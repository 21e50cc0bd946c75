"""The TUI tests' fake client (an in-memory object behind tui.client's interface) and factories."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerState

from fleet.config.stack import loads_stack
from fleet.errors import ConfigError, FleetError
from fleet.model import Plan
from fleet.scheduler import plan as make_plan
from tests import kit
from tui.app import FleetApp
from tui.client import (
    CleanupItem,
    CleanupResult,
    CleanupScan,
    DeployEvent,
    DeployOutcome,
    DeviceDetail,
    DeviceOutcome,
    DeviceRow,
    EventRow,
    FleetSnapshot,
    ImpedanceParts,
    OnProgress,
    PlanResult,
)

NOW = 1_800_000_000.0  # fixed, so ages and snapshots never move
SIZE = (120, 32)
STACK = """
services:
  web:
    image: nginx:alpine
    ports: ["3067:80"]
    deploy:
      replicas: 2
      resources: {limits: {memory: 256M}}
  worker:
    image: busybox
    deploy: {resources: {limits: {memory: 1G}}}
"""


def row(device: str, **overrides: Any) -> DeviceRow:
    values: dict[str, Any] = dict(
        site="north", profile="pi4b-8g", state="active", cpu_pct=12.0, mem_used_mb=1500,
        mem_budget_mb=7840, disk_used_mb=6000, disk_budget_mb=24_000, temp_c=52.0,
        impedance=21, containers_running=3, containers_total=4, heard_at=NOW - 2)
    values.update(overrides)
    return DeviceRow(device, **values)


def fleet() -> tuple[DeviceRow, ...]:
    return (
        row("pi-kitchen", cpu_pct=71.0, temp_c=83.0, throttled=("throttled",)),
        row("pi-garage", site="south", cpu_pct=5.0, mem_used_mb=7100, impedance=640),
        row("jetson-lab", profile="jetson-orin-nano-8g", cpu_pct=40.0, disk_used_mb=22_000),
        row("pi-shed", site="south", state="offline", cpu_pct=None, mem_used_mb=None,
            disk_used_mb=None, temp_c=None, impedance=None, containers_running=None,
            containers_total=None, heard_at=NOW - 600),
        row("pi-attic", state="degraded", impedance=910, cpu_pct=33.0),
    )


def snapshot(devices: tuple[DeviceRow, ...] | None = None, seq: int = 1,
             problem: str = "") -> FleetSnapshot:
    found = fleet() if devices is None else devices
    count = {s: sum(d.state == s for d in found) for s in
             ("active", "degraded", "offline", "quarantined")}
    return FleetSnapshot(NOW, seq, "DEGRADED_MODERATE" if count["offline"] else "FULL",
                         len(found), count["active"], count["degraded"], count["offline"],
                         count["quarantined"], found, problem)


class FakeClient:
    """tui.client.Client in memory: tests set its snapshot and script its deploy."""

    def __init__(self, snap: FleetSnapshot | None = None) -> None:
        self.latest = snap if snap is not None else snapshot()
        self.started = self.closed = False
        self.start_error: FleetError | None = None
        self.asked: list[str] = []
        self.deploys: list[tuple[str, bool]] = []
        self.deploy_gate = threading.Event()  # the deploy ends when the test opens it
        self.deploy_gate.set()
        self.fail_devices: set[str] = set()
        self.devices = [kit.device(r.id) for r in self.latest.devices]
        self.scanned: list[tuple[str, ...]] = []
        self.cleaned: list[tuple[str, tuple[CleanupItem, ...]]] = []
        self.unreachable: set[str] = set()  # scans of these fail as SSH would
        self.clean_gate = threading.Event()  # a cleanup ends when the test opens it
        self.clean_gate.set()

    def start(self) -> None:
        if self.start_error:
            raise self.start_error
        self.started = True

    def close(self) -> None:
        self.closed = True

    def snapshot(self) -> FleetSnapshot | None:
        return self.latest

    def publish(self, **changes: Any) -> None:
        """A new snapshot, as the client's thread would publish it."""
        self.latest = replace(self.latest, seq=self.latest.seq + 1, **changes)

    def device(self, device_id: str) -> DeviceDetail:
        self.asked.append(device_id)
        found = next((r for r in self.latest.devices if r.id == device_id), None)
        if found is None:
            raise FleetError(f"no device {device_id!r} in the fleet")
        return DeviceDetail(found, host=f"{device_id}.local", arch="arm64",
                            impedance=ImpedanceParts(4.2, 11.0, 1, 1.5, 0.98, 19.3, 20),
                            load1=0.42)

    def events(self, device_id: str, limit: int = 50) -> tuple[EventRow, ...]:
        return (EventRow(NOW - 300, "lan_seen", "enrolled at 10.0.0.11"),
                EventRow(NOW - 60, "bad_payload", "bad heartbeat: expected int"))

    def plan(self, stack_path: str) -> PlanResult:
        if stack_path.endswith("missing.yaml"):
            raise ConfigError(f"{stack_path}: no such file")
        stack = loads_stack(STACK, stack_path)
        result: Plan = make_plan(self.devices, stack.services)
        return PlanResult("demo", stack_path, result)

    def deploy(self, stack_path: str, on_progress: OnProgress, *,
               dry_run: bool = False) -> DeployOutcome:
        self.deploys.append((stack_path, dry_run))
        ids = [d.id for d in self.devices[:3]]
        for d in ids:
            on_progress(DeployEvent(d, "stage", "reading facts"))
        on_progress(DeployEvent(ids[0], "stage", "pushing nginx:alpine"))
        on_progress(DeployEvent(ids[0], "expect", nbytes=8 * 2**20))
        on_progress(DeployEvent(ids[0], "sent", nbytes=2 * 2**20))
        self.deploy_gate.wait(10)
        outcomes = []
        for d in ids:
            ok = d not in self.fail_devices
            on_progress(DeployEvent(d, "stage", "done" if ok else "failed"))
            outcomes.append(DeviceOutcome(d, ok, "" if ok else f"{d}: apply failed", 2, 1.5))
        return DeployOutcome("demo", all(o.ok for o in outcomes), tuple(outcomes),
                             dry_run=dry_run, deployment=None if dry_run else 7)


    def cleanup_scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]:
        self.scanned.append(tuple(device_ids))
        gone = {t for _, items in self.cleaned for t in (i.target for i in items)}
        out = []
        for d in device_ids:
            if d in self.unreachable:
                out.append(CleanupScan(d, error=f"{d}: cannot connect: timed out"))
                continue
            items = tuple(i for i in cleanup_items(d) if i.target not in gone)
            freed = sum(i.bytes for i in cleanup_items(d) if i.target in gone)
            out.append(CleanupScan(d, 30_000 * MB, 27_000 * MB - freed, items,
                                   (("web", "running"),)))
        return tuple(out)

    def cleanup_apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult:
        self.clean_gate.wait(10)
        if device_id in self.fail_devices:
            return CleanupResult(device_id, False, error=f"{device_id}: sudo: a password is "
                                 "required")
        self.cleaned.append((device_id, tuple(items)))
        freed = sum(i.bytes for i in items)
        return CleanupResult(device_id, True, reclaimed=len(items), disk_total=30_000 * MB,
                             disk_used=27_000 * MB - freed)


MB = 1 << 20


def cleanup_items(device: str) -> tuple[CleanupItem, ...]:
    """What every fake board holds: two stopped containers, a dangling image, old /tmp files."""
    return (
        CleanupItem("tmp", "/tmp/dump.bin", "/tmp/dump.bin", 120 * MB),
        CleanupItem("stopped", f"{device}-c1", "old-backup", 12 * MB),
        CleanupItem("stopped", f"{device}-c2", "nightly-[report]", 3 * MB),
        CleanupItem("dangling", f"sha256:{device}", "sha256:0a1b2c3d4e5f", 640 * MB),
    )


async def seen(pilot: Pilot[None], client: FakeClient, timeout: float = 5.0) -> None:
    """Until the app has taken the client's latest snapshot (its refresh runs on a timer)."""
    app = pilot.app
    assert isinstance(app, FleetApp)
    for _ in range(int(timeout / 0.01)):
        if app.snapshot is not None and app.snapshot.seq == client.latest.seq:
            await pilot.pause()  # and the views it updated, drawn
            return
        await pilot.pause(0.01)
    raise AssertionError("the app never took the latest snapshot")


async def settled(pilot: Pilot[None]) -> None:
    """Until every worker the app started has finished and what they posted is handled:
    a plan, a scan, a device's detail or a cleanup, done."""
    for _ in range(100):  # a worker's result may start another (a cleanup, then its rescan)
        await pilot.pause()
        busy = [w for w in pilot.app.workers if not w.is_finished]
        if not busy:
            return
        started = [w.wait() for w in busy if w.state is not WorkerState.PENDING]
        await asyncio.gather(*started, return_exceptions=True)  # a failure is the test's to read
    raise AssertionError("the app's workers never settled")


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str,
                timeout: float = 5.0) -> None:
    """Until `condition()` holds, for what a worker shows while it is still running."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"never happened: {what}")


def run(app: FleetApp, scenario: Callable[[Pilot[None]], Awaitable[None]],
        size: tuple[int, int] = SIZE) -> None:
    """Drive the app headless through `scenario`."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def app(client: FakeClient | None = None, **kwargs: Any) -> FleetApp:
    return FleetApp(client or FakeClient(), refresh_s=0.05, **kwargs)


def screen_text(app: FleetApp) -> str:
    """What the terminal shows now, as plain text (the screen's compositor, every line)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
