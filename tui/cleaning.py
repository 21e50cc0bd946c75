"""Cleanup for the TUI through fleet.actions.cleanup, as `fleet cleanup` does it: a scan over
pinned SSH, then exactly the items a person confirmed.

Runs on the caller's (worker) thread. The conversions to and from the client
interface's values are pure; `SshCleaner` is the IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleet.actions import cleanup
from fleet.cleanup.board import DeviceCleanup
from fleet.cleanup.rules import Category, Disk, Item, Reclaim, Rules
from fleet.config import paths
from fleet.deploy.apply import Connect
from fleet.model import Device, Inventory
from fleet.ssh import hostkeys, local
from fleet.ssh.connection import Connection
from tui.client import CleanupItem, CleanupResult, CleanupScan

PARALLEL = 8
TIMEOUT_S = 10.0


def scanned(found: DeviceCleanup) -> CleanupScan:
    """fleet's DeviceCleanup (scanned, not applied) -> the interface's CleanupScan."""
    r = found.reclaim
    if r is None:
        return CleanupScan(found.device, error=found.error or "not scanned")
    return CleanupScan(
        found.device, r.disk.total, r.disk.used,
        tuple(CleanupItem(str(i.category), i.target, i.label, i.bytes) for i in r.items),
        tuple((k.label, k.why) for k in r.kept), found.error)


def chosen(device: str, items: Sequence[CleanupItem]) -> Reclaim:
    """The items a person confirmed, as fleet's Reclaim; a category fleet lacks is refused.

    The disk is not known here and not needed: the playbook reports it after.
    """
    return Reclaim(device, Disk(0, 0), tuple(
        Item(Category(i.category), i.target, i.label, i.bytes)
        for i in items), ())


def applied(found: DeviceCleanup) -> CleanupResult:
    """fleet's DeviceCleanup after reclaiming -> the interface's CleanupResult."""
    done = found.applied
    if done is None:
        return CleanupResult(found.device, False, error=found.error or "nothing was applied")
    failed = tuple(f"{o.category} {o.target}: {o.why}" for o in done.outcomes
                   if o.verb == "failed")
    error = found.error or (f"the cleanup playbook failed: {done.error}" if done.error else "")
    return CleanupResult(
        found.device, found.ok, done.count("reclaimed"), done.count("skipped"), failed,
        done.disk.total if done.disk else None, done.disk.used if done.disk else None, error)


class SshCleaner:
    """Scans and reclaims the inventory's devices over SSH, with host keys pinned."""

    def __init__(self, inventory: Inventory, known_hosts: Path | None = None, *,
                 rules: Rules | None = None, parallel: int = PARALLEL,
                 timeout: float = TIMEOUT_S) -> None:
        self._inventory = inventory
        self._known_path = known_hosts
        self._rules = rules or Rules()  # the CLI's default: everything but volumes
        self._parallel = parallel
        self._timeout = timeout

    def _connect(self) -> Connect:
        known = hostkeys.KnownHosts(paths.known_hosts(self._known_path))

        def connect(device: Device) -> Connection:
            return local.connect(device, known, timeout=self._timeout)

        return connect

    def _device(self, device_id: str) -> Device | str:
        found = next((d for d in self._inventory.devices if d.id == device_id), None)
        return found if found is not None else f"{device_id} is not in the inventory"

    def scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]:
        found = {i: self._device(i) for i in device_ids}
        devices = [d for d in found.values() if not isinstance(d, str)]
        scans = {r.device: scanned(r) for r in cleanup.scan(
            devices, self._connect(), self._rules, parallel=self._parallel)}
        return tuple(scans.get(i) or CleanupScan(i, error=str(found[i])) for i in device_ids)

    def apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult:
        device = self._device(device_id)
        if isinstance(device, str):
            return CleanupResult(device_id, False, error=device)
        if not items:
            return CleanupResult(device_id, True)
        [done] = cleanup.reclaim([device], self._connect(), self._rules,
                                 {device_id: chosen(device_id, items)})
        return applied(done)
