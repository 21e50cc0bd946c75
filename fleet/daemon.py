"""The controller's loop: heartbeats (ingest) and the LAN (mDNS) into one FleetView and the store.

One thread owns the view: `step` applies what the ingest workers handed over,
then the browser's events, then lets the janitor (the cleanup policy) see the
disks the heartbeats report, so the view needs no locks. Every sighting,
departure, skipped record and cleanup action is an event in the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from fleet.bus.ingest import Ingest
from fleet.cleanup.janitor import Janitor, Note
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.lan.discovery import BackgroundBrowser, names_to_resolve
from fleet.lan.sightings import DeviceGone, DeviceSeen, Event, Rejected
from fleet.model import Inventory

log = logging.getLogger(__name__)
JANITOR_EVERY_S = 5.0  # as often as a heartbeat: disks fill over minutes, not milliseconds


class Controller:
    def __init__(self, inventory: Inventory, store: Store | None = None, *,
                 workers: int = 2, discover: bool = True, interfaces: Sequence[str] = (),
                 janitor: Janitor | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.inventory = inventory
        self.store = store
        self.view = FleetView(d.id for d in inventory.devices)
        self._ingest = Ingest(inventory.broker, self.view, store, workers=workers)
        self._browser = BackgroundBrowser(
            interfaces=interfaces, names=names_to_resolve(inventory.devices)) if discover else None
        self._janitor = janitor
        self._janitor_due = 0.0
        self._clock = clock

    def start(self) -> None:
        self._ingest.start()
        if self._browser is not None:
            try:
                self._browser.start()
            except BaseException:
                self._ingest.stop()
                raise

    def step(self, timeout: float = 0.5) -> None:
        """Wait up to `timeout` for heartbeats, then apply them and the LAN's news."""
        self._ingest.poll(timeout)
        if self._browser is not None:
            for event in self._browser.events():
                self.apply(event)
        now = self._clock()
        if self._janitor is not None and now >= self._janitor_due:
            self._janitor_due = now + JANITOR_EVERY_S
            self._notes(now, self._janitor.tick(self.disks(now), now))

    def disks(self, now: float) -> dict[str, tuple[int, int]]:
        """Each live device's disk (used, total bytes), by its latest heartbeat."""
        return {r.id: (r.heartbeat.disk_used_mb << 20, r.heartbeat.disk_total_mb << 20)
                for r in self.view.devices.values()
                if r.heartbeat is not None and r.managed and r.alive(now)}

    def _notes(self, at: float, notes: list[Note]) -> None:
        for note in notes:
            self._note(at, note.device, note.kind, note.detail)

    def apply(self, event: Event) -> None:
        now = self._clock()
        if isinstance(event, DeviceSeen):
            known = self.view.devices.get(event.id)
            managed = known is not None and known.managed
            kind = "enrolled" if event.enrolled else "bare board"
            self._note(now, event.id, "lan_seen", f"{kind} at {', '.join(event.addresses)}"
                       + ("" if managed else "; unmanaged: not in the inventory"))
            self.view.seen_on_lan(event, now)
        elif isinstance(event, DeviceGone):
            self._note(now, event.id, "lan_gone", "withdrew from mDNS")
            self.view.gone_from_lan(event.id, now)
        elif isinstance(event, Rejected):
            self._note(now, event.name, "lan_rejected",
                       f"{event.reason} (at {', '.join(event.addresses)})")

    def _note(self, at: float, device: str, kind: str, detail: str) -> None:
        log.info("%s %s: %s", device, kind, detail)
        if self.store is not None:
            self.store.event(at, device, kind, detail)

    def stop(self) -> None:
        if self._janitor is not None:  # what it is cleaning ends, and is recorded
            self._notes(self._clock(), self._janitor.close())
        if self._browser is not None:
            self._browser.stop()
        self._ingest.stop()

    def __enter__(self) -> Controller:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
