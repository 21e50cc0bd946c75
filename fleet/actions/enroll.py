"""`fleet enroll`: bootstrap the named boards, and with `--all-new` the bare ones on mDNS too,
adding those the inventory lacks to it first; a result per board."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from fleet.actions.discover import AddDevices, Scanner, match, new_devices
from fleet.config import inventory, inventory_add
from fleet.deploy import enroll as bootstrap
from fleet.deploy.enroll import Connect, EnrollResult, Settings
from fleet.errors import ConfigError
from fleet.fanout import QUIET, Progress
from fleet.lan import discovery
from fleet.model import Inventory

# avahi renames the second stock board on a LAN raspberrypi-2, and so on: ask for those too.
BARE_RENAMES = tuple(f"raspberrypi-{n}" for n in range(2, 17))


@dataclass(frozen=True, slots=True)
class AllNew:
    """`--all-new`: how to find the bare boards, and the hardware profile of those added."""

    scan: Scanner
    today: date
    profile: str | None = None  # None: the inventory's defaults.profile


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The ids added to the inventory, and a result per board (those not added too)."""

    inventory: Path
    added: tuple[str, ...]
    results: tuple[EnrollResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def enroll(inv: Inventory, selectors: Sequence[str], settings: Settings, connect: Connect, *,
           all_new: AllNew | None = None, add: AddDevices = inventory_add.add_devices,
           parallel: int = 4, progress: Progress = QUIET) -> Enrolled:
    """Enroll the devices `selectors` name (ids or groups) and, with `all_new`, the bare boards
    (written into the inventory's file first)."""
    added: tuple[str, ...] = ()
    bare: list[str] = []
    failed: list[EnrollResult] = []
    if all_new is not None:
        added, bare, failed = _bare_boards(inv, all_new, add)
    if added:  # the inventory, with the boards just written into it
        inv = inventory.load(inv.path)
    wanted = {*bare, *(d.id for d in inv.select(selectors))}
    devices = [d for d in inv.devices if d.id in wanted]
    for d in devices:
        progress.stage(d.id, "waiting")
    results = bootstrap.enroll(devices, connect, settings, parallel=parallel, progress=progress)
    return Enrolled(inv.path, added, (*failed, *results))


def _bare_boards(inv: Inventory, how: AllNew, add: AddDevices
                 ) -> tuple[tuple[str, ...], list[str], list[EnrollResult]]:
    """The boards on mDNS with no agent; those the inventory lacks are added to it.

    Returns the ids added, the ids to enroll (those and the bare boards already
    in the inventory, say after a failed first try), and a failed result for
    each board that could not be added.
    """
    found = match(how.scan(discovery.names_to_resolve(inv.devices, BARE_RENAMES)), inv.devices)
    bare = [f for f in found if not f.seen.enrolled]
    added: list[str] = []
    failed: list[EnrollResult] = []
    for new in new_devices(bare, how.today):
        try:  # one at a time: a board fleet cannot describe does not keep the others out
            added += add(inv.path, [replace(new, profile=how.profile or None)])
        except ConfigError as e:
            hint = ("name its hardware with --profile, or set defaults.profile in the inventory"
                    if "profile" in str(e) else "")
            failed.append(EnrollResult(new.id, error=f"not added to the inventory: {e}",
                                       hint=hint))
    known = [f.inventory_id for f in bare if f.inventory_id is not None]
    return tuple(added), [*known, *added], failed
