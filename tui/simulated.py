"""A stand-in controller for benchmarks and tests: N devices, each heartbeating every second.

It replaces only the bus: heartbeats go straight into a real FleetView at
their due times, so the embedded client, its snapshots and the UI run the
same code as against a real fleet. `SimulatedCleaner` stands in for SSH:
each board holds a few reclaimable items until they are reclaimed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fleet import profiles
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.lab import loadgen
from fleet.model import Device, Inventory
from tui.client import CleanupItem, CleanupResult, CleanupScan

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


MB = 1 << 20
CARD = 29 * 1024 * MB  # a 32 GB card as df sees it


class SimulatedCleaner:
    """tui.embedded.Cleaner without SSH: the same few items on every board, gone once applied."""

    USED = 25 * 1024 * MB  # what a board's card holds before any cleanup

    def __init__(self, inv: Inventory) -> None:
        self._ids = {d.id for d in inv.devices}
        self._gone: dict[str, set[str]] = {}  # device -> targets reclaimed

    @staticmethod
    def every(device: str) -> tuple[CleanupItem, ...]:
        """What a board held before anything was reclaimed."""
        k = sum(map(ord, device)) % 7  # sizes differ a little from board to board
        return (
            CleanupItem("tmp", "/tmp/camera-0417.raw", "/tmp/camera-0417.raw", (40 + k) * MB),
            CleanupItem("journal", str(100 * MB), "journal down to 100 MB", (260 + 9 * k) * MB),
            CleanupItem("stopped", f"c0ffee{k}", "backup-job", 3 * MB),
            CleanupItem("old-revisions", f"sha256:5ee{k}", "fleet/web:1.3", (180 + k) * MB),
            CleanupItem("dangling", f"sha256:da{k}", f"sha256:da{k}", 64 * MB),
        )

    def _split(self, device: str) -> tuple[list[CleanupItem], int]:
        """(the items still there, the bytes the card holds now)."""
        gone = self._gone.get(device, set())
        every = self.every(device)
        return ([i for i in every if i.target not in gone],
                self.USED - sum(i.bytes for i in every if i.target in gone))

    def scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]:
        out = []
        for d in device_ids:
            if d not in self._ids:
                out.append(CleanupScan(d, error=f"{d} is not in the inventory"))
                continue
            items, used = self._split(d)
            out.append(CleanupScan(d, CARD, used, tuple(items),
                                   (("web", "running"), ("web.prev", "kept for rollback"))))
        return tuple(out)

    def apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult:
        if device_id not in self._ids:
            return CleanupResult(device_id, False, error=f"{device_id} is not in the inventory")
        present = {i.target for i in self._split(device_id)[0]}
        gone = self._gone.setdefault(device_id, set())
        done = []
        for i in items:  # an item named twice is reclaimed once, then skipped: it is gone
            if i.target in present and i.target not in gone:
                gone.add(i.target)
                done.append(i)
        return CleanupResult(device_id, True, reclaimed=len(done),
                             skipped=len(items) - len(done), disk_total=CARD,
                             disk_used=self._split(device_id)[1])
