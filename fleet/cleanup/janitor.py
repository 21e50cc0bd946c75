"""The controller's cleanup policy at work: a board whose heartbeats put its disk over the
high-water mark is cleaned down to the low-water mark, over SSH on a worker thread, and
every action is an event. What is safe to reclaim is fleet/cleanup/rules.py's to decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from fleet.cleanup.board import DeviceCleanup, clean_over_ssh
from fleet.cleanup.rules import SAFE, Policy, Reclaim, Rules, due, for_policy
from fleet.fanout import Background
from fleet.model import Device
from fleet.ssh.hostkeys import KnownHosts

Choose = Callable[[Reclaim], Reclaim]
Clean = Callable[[Device, Choose], DeviceCleanup]  # scan, `choose`, reclaim what it chose


@dataclass(frozen=True, slots=True)
class Note:
    """One event for the store: what the janitor did on a device."""

    device: str
    kind: str
    detail: str


def over_ssh(known: KnownHosts, *, timeout: float = 10.0) -> Clean:
    """Clean a board over a pinned SSH session, with the policy's categories only."""
    rules = Rules(categories=SAFE)

    def clean(device: Device, choose: Choose) -> DeviceCleanup:
        return clean_over_ssh(device, known, rules, apply=True, choose=choose,
                                   timeout=timeout)

    return clean


class Janitor:
    """Call `tick` from the controller's loop; the cleaning itself runs on `workers` threads."""

    def __init__(self, devices: Iterable[Device], policy: Policy, clean: Clean, *,
                 cooldown_s: float = 600.0, workers: int = 2) -> None:
        self.policy = policy
        self._devices = {d.id: d for d in devices}
        self._clean = clean
        self._cooldown_s = cooldown_s
        self._pool = Background(workers, name="fleet-janitor")
        self._running: dict[str, Future[DeviceCleanup]] = {}
        self._last_run: dict[str, float] = {}

    def tick(self, disks: Mapping[str, tuple[int, int]], now: float) -> list[Note]:
        """Start cleaning what is due by `disks` (device -> used, total bytes); report
        what started and what finished since the last tick."""
        notes = self._finished()
        known = {d: disk for d, disk in disks.items() if d in self._devices}
        for device in due(known, self.policy, now=now, busy=self._running,
                                  last_run=self._last_run, cooldown_s=self._cooldown_s):
            used, total = known[device]
            self._last_run[device] = now
            self._running[device] = self._pool.submit(self._devices[device], self._work,
                                                      _crashed)
            notes.append(Note(device, "cleanup_started",
                              f"disk at {100 * used / total:.1f} %, over "
                              f"{self.policy.high_pct:g} %: reclaiming down to "
                              f"{self.policy.low_pct:g} %"))
        return notes

    def _work(self, device: Device) -> DeviceCleanup:
        return self._clean(device, lambda r: for_policy(r, self.policy))

    def _finished(self) -> list[Note]:
        notes = []
        for device, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[device]
            if future.cancelled():
                notes.append(Note(device, "cleanup_cancelled", "the controller stopped first"))
            else:
                notes += report(future.result())
        return notes

    def close(self, wait: bool = True) -> list[Note]:
        """Stop starting work; with `wait`, let what runs finish and report it."""
        self._pool.close(wait=wait, cancel=True)
        return self._finished() if wait else []


def _crashed(device: Device, error: Exception) -> DeviceCleanup:
    """A bug in the cleaning: an event like any failure, never a crash of the controller."""
    return DeviceCleanup(device.id, error=f"{type(error).__name__}: {error}")


def report(result: DeviceCleanup) -> list[Note]:
    """A finished cleanup as events: one per item acted on, then how it ended."""
    device = result.device
    if result.reclaim is None:
        return [Note(device, "cleanup_failed", result.error)]
    items = {i.target: i for i in result.reclaim.items}
    notes = []
    if result.applied is not None:
        for o in result.applied.outcomes:
            item = items.get(o.target)
            what = f"{o.category} {item.label if item else o.target}"
            size = f" ({item.bytes / 2**20:.1f} MB)" if item else ""
            notes.append(Note(device, f"cleanup_{o.verb}",
                              what + size + (f": {o.why}" if o.why else "")))
    if not result.ok:
        notes.append(Note(device, "cleanup_failed",
                          result.error or (result.applied.error if result.applied else "")
                          or "some items could not be reclaimed"))
    elif result.applied is None:
        notes.append(Note(device, "cleanup_done", "nothing safe to reclaim; disk at "
                          f"{result.reclaim.disk.pct():.1f} %"))
    else:
        after = result.applied.disk
        freed = (result.freed or 0) / 2**20
        notes.append(Note(device, "cleanup_done", f"freed {freed:.1f} MB"
                          + (f"; disk now {after.pct():.1f} %" if after else "")))
    return notes
