"""The controller's loop: heartbeats (ingest) and the LAN (mDNS) into one FleetView and the store.

One thread owns the view: `step` applies what the ingest workers handed over,
then the browser's events, then lets the janitor (the cleanup policy) see the
disks the heartbeats report, so the view needs no locks. Every sighting,
departure, skipped record and cleanup action is an event in the store.
`run` is `fleet daemon`: a Controller stepped until SIGTERM, its fleet's mode logged.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from fleet.bus.ingest import Ingest
from fleet.cleanup.janitor import Janitor, Note, over_ssh
from fleet.cleanup.rules import Policy
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.lan.discovery import BackgroundBrowser, names_to_resolve
from fleet.lan.sightings import DeviceGone, DeviceSeen, Event, Rejected
from fleet.model import Device, Inventory
from fleet.ssh.hostkeys import KnownHosts

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


# -- fleet daemon: the headless loop -----------------------------------------------------------

class Steps(Protocol):
    """What `serve` drives: a Controller, or a test's stand-in."""

    view: FleetView

    def step(self, timeout: float = 0.5) -> None: ...


def cleaner(devices: Sequence[Device], known: KnownHosts, *, high_pct: float, low_pct: float,
            cooldown_s: float) -> Janitor:
    """The janitor cleaning boards over SSH above `high_pct` of their disk, down to `low_pct`.

    Raises ValueError if the percentages make no policy (say, low above high).
    """
    policy = Policy(high_pct=high_pct, low_pct=low_pct)
    return Janitor(devices, policy, over_ssh(known), cooldown_s=cooldown_s)


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set, so the loop ends and the controller stops cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def serve(controller: Steps, stop: threading.Event, *, summary_s: float,
          clock: Callable[[], float] = time.time,
          monotonic: Callable[[], float] = time.monotonic) -> None:
    """Step the controller until `stop` is set, logging the fleet's mode every `summary_s`."""
    summary_due = monotonic() + summary_s
    while not stop.is_set():
        controller.step(0.5)
        if monotonic() >= summary_due:
            s = controller.view.summary(clock())
            log.info("fleet %s: %d/%d active, %d degraded, %d offline", s.mode.value,
                     s.active, s.total, s.degraded, s.offline)
            summary_due += summary_s


def run(inventory: Inventory, *, store_path: Path | None = None, workers: int = 2,
        discover: bool = True, interfaces: Sequence[str] = (), janitor: Janitor | None = None,
        summary_s: float = 30.0, stop: threading.Event | None = None) -> None:
    """`fleet daemon`: the controller over the state store until `stop` (default: SIGTERM)."""
    stop = stop if stop is not None else stop_on_signals()
    with Store(store_path) as store, \
            Controller(inventory, store, workers=workers, discover=discover,
                       interfaces=interfaces, janitor=janitor) as controller:
        log.info("fleet daemon: %d devices, broker %s:%s, store %s", len(inventory.devices),
                 inventory.broker.host, inventory.broker.port, store.path)
        serve(controller, stop, summary_s=summary_s)
