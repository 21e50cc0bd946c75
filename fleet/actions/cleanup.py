"""`fleet cleanup` and the TUI's cleanup: scan the boards, ask before volumes go, reclaim
exactly what was chosen; a result per board.

The rules come from the caller's choices (`rules`). Reclaiming volumes loses
data, so when the rules include them and a `confirm` callback is given, the
boards are scanned first, the callback is shown every volume, and nothing is
removed unless it says yes; then exactly the items scanned are reclaimed,
without scanning again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.cleanup.board import DeviceCleanup, clean_device
from fleet.cleanup.rules import DEFAULT, Category, Item, Reclaim, Rules
from fleet.config.stack import Stack
from fleet.deploy.apply import Connect
from fleet.errors import ConfigError
from fleet.fanout import QUIET, Progress, all_ok, fan_out, unexpected
from fleet.model import Device

# Shown each volume about to be removed, as (device, item); True to go ahead.
Confirm = Callable[[Sequence[tuple[str, Item]]], bool]


def rules(categories: Iterable[str] = (), *, volumes: bool = False,
          stacks: Iterable[Stack] = (), keep_images: Iterable[str] = (),
          tmp_days: float = 7.0, journal_mb: int = 100) -> Rules:
    """The rules for `fleet cleanup`'s flags: `categories` (default all but volumes),
    volumes only when `volumes` says so, never an image a stack in `stacks` runs or
    `keep_images` names."""
    chosen = frozenset(Category(c) for c in categories) or DEFAULT
    if volumes:
        chosen |= {Category.VOLUMES}
    elif Category.VOLUMES in chosen:
        raise ConfigError("--category volumes: volumes hold data; pass --volumes to mean it")
    planned = {*keep_images, *(s.image for stack in stacks for s in stack.services)}
    return Rules(categories=chosen, tmp_age_days=tmp_days, journal_keep_mb=journal_mb,
                 planned=frozenset(planned))


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A result per board; `applied`: anything was reclaimed (not only scanned)."""

    results: tuple[DeviceCleanup, ...]
    applied: bool
    declined: bool = False  # the volumes were not confirmed: nothing was removed

    @property
    def ok(self) -> bool:
        return not self.declined and all_ok(self.results)


def scan(devices: Sequence[Device], connect: Connect, rules: Rules, *, parallel: int = 8,
         progress: Progress = QUIET) -> list[DeviceCleanup]:
    """Measure each board and say what the rules would reclaim; changes nothing."""
    return _each(devices, lambda d: clean_device(d, connect, rules), parallel, progress,
                 "scanning")


def reclaim(devices: Sequence[Device], connect: Connect, rules: Rules,
            chosen: Mapping[str, Reclaim], *, parallel: int = 8,
            progress: Progress = QUIET) -> list[DeviceCleanup]:
    """Reclaim exactly `chosen[device]` (what a person was shown) on each device that has an
    entry, without scanning again; the others are left alone and not in the results."""
    named = [d for d in devices if d.id in chosen]
    return _each(named, lambda d: clean_device(d, connect, rules, chosen=chosen[d.id]),
                 parallel, progress, "reclaiming")


def cleanup(devices: Sequence[Device], connect: Connect, rules: Rules, *, apply: bool,
            confirm: Confirm | None = None, parallel: int = 8,
            progress: Progress = QUIET) -> Cleaned:
    """Scan every board and, if `apply`, reclaim what the rules choose.

    With volumes in the rules and `confirm`, the volumes are shown to it first and
    nothing is removed unless it agrees; without `confirm` nobody is asked (--yes)."""
    ask = apply and confirm is not None and Category.VOLUMES in rules.categories
    if not apply:
        return Cleaned(tuple(scan(devices, connect, rules, parallel=parallel,
                                  progress=progress)), applied=False)
    if not ask:
        return Cleaned(tuple(_each(devices, lambda d: clean_device(d, connect, rules,
                                                                   apply=True),
                                   parallel, progress, "cleaning")), applied=True)
    assert confirm is not None
    scanned = scan(devices, connect, rules, parallel=parallel, progress=progress)
    volumes = [(r.device, i) for r in scanned if r.reclaim for i in r.reclaim.items
               if i.category is Category.VOLUMES]
    if volumes and not confirm(volumes):
        return Cleaned(tuple(scanned), applied=False, declined=True)
    chosen = {r.device: r.reclaim for r in scanned if r.reclaim is not None}
    done = {r.device: r for r in reclaim(devices, connect, rules, chosen, parallel=parallel,
                                         progress=progress)}
    return Cleaned(tuple(done.get(r.device, r) for r in scanned), applied=True)


def _each(devices: Sequence[Device], work: Callable[[Device], DeviceCleanup], parallel: int,
          progress: Progress, doing: str) -> list[DeviceCleanup]:
    def one(device: Device) -> DeviceCleanup:
        progress.stage(device.id, doing)
        result = work(device)
        progress.stage(device.id, "done" if result.ok else "failed")
        return result

    def failed(device: Device, error: Exception) -> DeviceCleanup:
        progress.stage(device.id, "failed")
        return DeviceCleanup(device.id, error=f"{device.id}: {unexpected(error)}")

    return fan_out(devices, one, parallel=parallel, failed=failed, name="cleanup")
