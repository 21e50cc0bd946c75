"""A stand-in controller for benchmarks and tests: N devices, each heartbeating every second.

It replaces only the bus: heartbeats go straight into a real FleetView at
their due times, so the embedded client, its snapshots and the UI run the
same code as against a real fleet.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from fleet import profiles
from fleet.bench import loadgen
from fleet.fleetview import FleetView
from fleet.inventory import Inventory
from fleet.model import Device
from fleet.store import Store

SITES = ("north", "south", "east", "west")


def inventory(count: int) -> Inventory:
    """`count` Pi 4B boards across four sites, ids as the load generator names them."""
    p = profiles.get("pi4b-8g")
    devices = tuple(Device(d, f"{d}.local", p, p.arch, site=SITES[k % len(SITES)])
                    for k, d in enumerate(loadgen.device_ids(count)))
    return Inventory(Path("<simulated>"), devices)


class SimulatedController:
    """ControllerLike: `rate` heartbeats a second, each device in turn."""

    def __init__(self, inv: Inventory, *, interval_s: float = 1.0, seed: int = 1,
                 clock: Callable[[], float] = time.time) -> None:
        self.inventory = inv
        self.store: Store | None = None
        self.view = FleetView(d.id for d in inv.devices)
        self.paused = False  # no heartbeats while set (the benchmark's baseline)
        self.sent = 0
        self._ids = [d.id for d in inv.devices]
        self._rate = len(self._ids) / interval_s
        self._rng = random.Random(seed)
        self._clock = clock
        self._origin = time.monotonic()

    def step(self, timeout: float = 0.5) -> None:
        """Sleep a little (as a poll on the bus would wait), then apply what fell due."""
        time.sleep(min(timeout, 0.02))
        due = int((time.monotonic() - self._origin) * self._rate)
        if self.paused:
            self._origin += (due - self.sent) / self._rate  # resume where it left off
            return
        now = self._clock()
        for k in range(self.sent, due):
            device = self._ids[k % len(self._ids)]
            self.view.heartbeat(device, loadgen.heartbeat(self._rng, k), now)
        self.sent = max(self.sent, due)

    def __enter__(self) -> SimulatedController:
        return self

    def __exit__(self, *_: object) -> None:
        pass
