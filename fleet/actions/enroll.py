"""`fleet enroll`: bootstrap the named boards, and with `--all-new` the bare ones on mDNS too,
adding those the inventory lacks to it first; a result per board.

Before a bare board is added, its model is read over SSH (fleet.lan.boards, one
round trip, no sudo) and the profile it is proposed: used when the user named
none, reported when the user's --profile disagrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from fleet.actions.discover import AddDevices, Scanner, match, new_devices
from fleet.config import inventory, inventory_add
from fleet.deploy import enroll as bootstrap
from fleet.deploy.enroll import Connect, EnrollResult, Settings
from fleet.errors import ConfigError, FleetError
from fleet.fanout import QUIET, Progress, fan_out, unexpected
from fleet.lan import discovery
from fleet.lan.boards import PROBE_COMMAND, Identity, identify, parse_probe
from fleet.model import Inventory
from fleet.profiles import PROFILES

_PROBE_TIMEOUT_S = 20.0

# avahi renames the second stock board on a LAN raspberrypi-2, and so on: ask for those too.
BARE_RENAMES = tuple(f"raspberrypi-{n}" for n in range(2, 17))


@dataclass(frozen=True, slots=True)
class AllNew:
    """`--all-new`: how to find the bare boards, and the hardware profile of those added."""

    scan: Scanner
    today: date
    profile: str | None = None  # None: what the board is, else the inventory's defaults.profile


@dataclass(frozen=True, slots=True)
class Proposal:
    """The profile a bare board's model proposes, and what became of it."""

    device: str
    proposed: str | None  # None: fleet could not tell, `reason` says why
    reason: str
    given: str | None  # the user's --profile
    used: bool  # the board was added with the proposed profile

    @property
    def disagrees(self) -> bool:
        return self.given is not None and self.proposed not in (None, self.given)


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The ids added to the inventory, and a result per board (those not added too)."""

    inventory: Path
    added: tuple[str, ...]
    results: tuple[EnrollResult, ...]
    proposals: tuple[Proposal, ...] = ()

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
    proposals: list[Proposal] = []
    if all_new is not None:
        added, bare, failed, proposals = _bare_boards(inv, all_new, add, connect, parallel)
    if added:  # the inventory, with the boards just written into it
        inv = inventory.load(inv.path)
    wanted = {*bare, *(d.id for d in inv.select(selectors))}
    devices = [d for d in inv.devices if d.id in wanted]
    for d in devices:
        progress.stage(d.id, "waiting")
    results = bootstrap.enroll(devices, connect, settings, parallel=parallel, progress=progress)
    return Enrolled(inv.path, added, (*failed, *results), tuple(proposals))


def _bare_boards(inv: Inventory, how: AllNew, add: AddDevices, connect: Connect, parallel: int
                 ) -> tuple[tuple[str, ...], list[str], list[EnrollResult], list[Proposal]]:
    """The boards on mDNS with no agent; those the inventory lacks are added to it, each with
    the profile the user gave, else the one its model proposes, else the inventory's default.

    Returns the ids added, the ids to enroll (those and the bare boards already
    in the inventory, say after a failed first try), a failed result for each
    board that could not be added, and what each new board's model proposed.
    """
    found = match(how.scan(discovery.names_to_resolve(inv.devices, BARE_RENAMES)), inv.devices)
    bare = [f for f in found if not f.seen.enrolled]
    news = new_devices(bare, how.today)
    identities = fan_out(news, lambda new: _identify(inv, new, connect), parallel=parallel,
                         failed=lambda _, e: Identity(None, (), unexpected(e)),
                         name="enroll-probe")
    added: list[str] = []
    failed: list[EnrollResult] = []
    proposals: list[Proposal] = []
    for new, identity in zip(news, identities, strict=True):
        proposed = identity.proposal()
        proposals.append(Proposal(new.id, proposed, identity.reason, how.profile,
                                  used=how.profile is None and proposed is not None))
        try:  # one at a time: a board fleet cannot describe does not keep the others out
            added += add(inv.path, [replace(new, profile=how.profile or proposed)])
        except ConfigError as e:
            hint = ("name its hardware with --profile, or set defaults.profile in the inventory"
                    if "profile" in str(e) else "")
            failed.append(EnrollResult(new.id, error=f"not added to the inventory: {e}",
                                       hint=hint))
    known = [f.inventory_id for f in bare if f.inventory_id is not None]
    return tuple(added), [*known, *added], failed, proposals


def _identify(inv: Inventory, new: inventory_add.NewDevice, connect: Connect) -> Identity:
    """What the board is, read over SSH as the inventory would reach it once added."""
    try:
        # Any profile will do: only the SSH settings the new device would get are used.
        device = inventory_add.preview(
            inv.path, [replace(new, profile=next(iter(PROFILES)))]).device(new.id)
        connection = connect(device)
        try:
            result = connection.run(PROBE_COMMAND, timeout=_PROBE_TIMEOUT_S)
        finally:
            connection.close()
    except FleetError as e:
        return Identity(None, (), f"could not read its model: {e}")
    return identify(parse_probe(result.stdout))
