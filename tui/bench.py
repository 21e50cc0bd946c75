"""`fleet bench tui`: keypress to repaint in the fleet view while 1,000 devices update each second.

The real app (tui.app.FleetApp) runs headless at 120x40 on the embedded
client over tui.simulated's controller: 1,000 devices, each heartbeating
once a second into a real FleetView, snapshots built at the client's 4 Hz.
Keys (cursor moves and re-sorts of the 1,000 rows) are queued to the app
as its terminal driver queues them, at random phases of the refresh cycle.
A key's latency runs from queueing it to the end of the first screen update
that shows its effect, with that update's segments rendered as a terminal
write would render them.

Phases, in one run, with the same keys:
- `live`: heartbeats flowing, updates coalesced (the shipped settings);
- `idle` (baseline): no heartbeats at all: what the keys cost alone;
- `naive` (baseline): heartbeats flowing, no coalescing: a snapshot at
  every controller step and a repaint as often as the loop allows.

`cpu_pct` is the whole process (UI, simulated controller and snapshot
builds) over the live phase, in percent of one core; `ui_cpu_pct` is the
UI thread's share of it.

Imports textual (the `tui` extra) only when run, as `fleet tui` does.
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import time
from typing import Any

TARGETS = {"key_latency_ms_p95": 100.0}
DEVICES = 1000
SIZE = (120, 40)
KEYS = ("down", "down", "up", "s", "down", "up", "up", "S", "down", "s")
WAIT_S = 2.0  # a repaint that has not come by then counts as this long


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(seed: int = 1, *, devices: int = DEVICES, keys: int = 150,
        phases: tuple[str, ...] = ("live", "idle", "naive")) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object; `seed` drives the key timing."""
    figures: dict[str, Any] = {}
    for phase in phases:
        figures[phase] = asyncio.run(_phase(phase, seed, devices, keys))
    live = figures.get("live", {})
    result: dict[str, Any] = {
        "tui": {
            "devices": devices, "updates_per_s": devices, "terminal": f"{SIZE[0]}x{SIZE[1]}",
            "keys": live.get("keys"),
            "key_latency_ms_p50": live.get("p50_ms"),
            "key_latency_ms_p95": live.get("p95_ms"),
            "key_latency_ms_max": live.get("max_ms"),
            "cpu_pct": live.get("cpu_pct"), "ui_cpu_pct": live.get("ui_cpu_pct"),
            "repaints_per_s": live.get("repaints_per_s"),
            "heartbeats_applied": live.get("heartbeats"),
            "targets": {k: f"< {v:g}" for k, v in TARGETS.items()},
        },
        "baselines": {f"{phase}_{name}": value for phase in phases if phase != "live"
                      for name, value in figures[phase].items()},
    }
    p = result["tui"]["key_latency_ms_p95"]
    result["tui"]["met"] = {"key_latency_ms_p95": p is not None
                            and p < TARGETS["key_latency_ms_p95"]}
    result["met"] = all(result["tui"]["met"].values())
    return result


async def _phase(phase: str, seed: int, devices: int, count: int) -> dict[str, Any]:
    from rich.console import Console
    from textual.app import App

    from tui.app import FleetApp
    from tui.embedded import EmbeddedClient
    from tui.simulated import SimulatedController, inventory
    from tui.table import FleetTable

    inv = inventory(devices)
    sim = SimulatedController(inv, seed=seed)
    sim.paused = phase == "idle"
    naive = phase == "naive"
    client = EmbeddedClient(inv, lambda: sim, snapshot_s=0.0 if naive else 0.25)
    sink = Console(file=io.StringIO(), width=SIZE[0], height=SIZE[1], force_terminal=True,
                   color_system="truecolor", legacy_windows=False)

    class Measured(FleetApp):
        """The app, with each screen update rendered as for a terminal and timestamped."""

        repaints = 0
        watch_for: tuple[object, ...] | None = None
        repainted = 0.0

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is None:
                return
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                sink.file = io.StringIO()  # what a terminal would be sent, then dropped
                sink.file.write(render(sink))
            self.repaints += 1
            if self.watch_for is not None and state(self) != self.watch_for:
                self.repainted, self.watch_for = time.perf_counter(), None

    def state(app: App[None]) -> tuple[object, ...]:
        table = app.screen.query_one(FleetTable)
        return (table.cursor, table.sort, table.reverse, table.rows[0].id if table.rows else "")

    app = Measured(client, refresh_s=0.001 if naive else 0.25)
    rng = random.Random(seed)
    latencies: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        while app.snapshot is None or len(app.snapshot.devices) < devices:
            await pilot.pause(0.05)
        await pilot.press("down", "down", "down", "down", "down")  # away from the top row
        await pilot.pause(1.0)  # a second of updates before measuring
        sent, wall, cpu, ui = sim.sent, time.perf_counter(), time.process_time(), \
            time.thread_time()
        repaints = app.repaints
        for k in range(count):
            await asyncio.sleep(rng.uniform(0.03, 0.12))  # any phase of the refresh cycle
            app.repainted = 0.0
            app.watch_for = state(app)
            started = time.perf_counter()
            app.simulate_key(KEYS[k % len(KEYS)])  # queued as the terminal driver queues keys
            while app.watch_for is not None and time.perf_counter() - started < WAIT_S:
                await asyncio.sleep(0.001)
            done = app.repainted or started + WAIT_S
            app.watch_for = None
            latencies.append(1000 * (done - started))
        wall = time.perf_counter() - wall
        cpu_s, ui_s = time.process_time() - cpu, time.thread_time() - ui
        repaints, sent = app.repaints - repaints, sim.sent - sent
    return {"keys": len(latencies), "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(p95(latencies), 1), "max_ms": round(max(latencies), 1),
            "cpu_pct": round(100 * cpu_s / wall, 1), "ui_cpu_pct": round(100 * ui_s / wall, 1),
            "repaints_per_s": round(repaints / wall, 1), "heartbeats": sent}
