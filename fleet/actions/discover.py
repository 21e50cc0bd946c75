"""`fleet discover`: the boards on the LAN set against the inventory; `--add` writes the new ones
into it and pins the host keys their agents advertise, a result per board."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fleet.config import inventory_add
from fleet.errors import ConfigError, FleetError
from fleet.fanout import QUIET, Progress, fan_out, unexpected
from fleet.lan import discovery
from fleet.lan.discovery import Scan
from fleet.lan.sightings import is_loopback
from fleet.model import Device
from fleet.render.discover import Found
from fleet.ssh import trust
from fleet.ssh.hostkeys import KnownHosts

# One timed mDNS browse that also resolves these host names (NAME.local).
Scanner = Callable[[Sequence[str]], Scan]
# ssh.trust.check's signature: fetch the key a board offers, decide, pin; raise a refusal.
CheckKey = Callable[..., trust.TrustResult]
AddDevices = Callable[[Path, Sequence[inventory_add.NewDevice]], list[str]]


@dataclass(frozen=True, slots=True)
class Findings:
    """What one browse found: every board, and the inventory devices nothing answered for."""

    found: tuple[Found, ...]
    absent: tuple[str, ...]
    scan: Scan


def find(devices: Sequence[Device], scan: Scanner, names: Sequence[str] = ()) -> Findings:
    """Browse once (for the inventory's .local hosts and `names` too) and match the boards."""
    result = scan(discovery.names_to_resolve(devices, names))
    found = match(result, devices)
    return Findings(tuple(found), tuple(missing(found, devices)), result)


def match(scan: Scan, devices: Sequence[Device]) -> list[Found]:
    """Each board found, with the inventory device of the same id, host name or address.

    A loopback host (a local board's `localhost`) names this machine wherever it is read,
    so it matches no board on the LAN; such a board is matched by its id alone."""
    by_key: dict[str, str] = {}
    for d in devices:
        if not is_loopback(d.host):
            by_key.setdefault(d.host.removesuffix(".").lower(), d.id)
    for d in devices:  # ids win over hosts
        by_key[d.id] = d.id
    found = []
    for seen in sorted(scan.devices, key=lambda s: s.id):
        keys = [seen.id, seen.host, *seen.addresses]
        found.append(Found(seen, next((by_key[k] for k in keys if k in by_key), None)))
    return found


def missing(found: Iterable[Found], devices: Iterable[Device]) -> list[str]:
    """Inventory devices nothing on the LAN answered for."""
    present = {f.inventory_id for f in found}
    return [d.id for d in devices if d.id not in present]


def new_devices(found: Iterable[Found], today: date) -> list[inventory_add.NewDevice]:
    """What `--add` writes: every new board, its address (which works without nss-mdns) and
    the SSH port its records give."""
    return [inventory_add.NewDevice(
        id=f.seen.id, host=f.seen.addresses[0], port=f.seen.port,
        profile=f.seen.advert.profile if f.seen.advert else None,
        arch=str(f.seen.advert.arch) if f.seen.advert else None,
        note=f"found by fleet discover on {today.isoformat()} as {f.seen.host}"
             + ("" if f.seen.enrolled else ": a bare board, no agent yet; check its profile"),
    ) for f in found if f.new]


@dataclass(frozen=True, slots=True)
class NotAdded:
    """A new board the inventory could not take (say, fleet cannot tell its hardware)."""

    device: str
    error: str


@dataclass(frozen=True, slots=True)
class Pin:
    """What pinning an added board's advertised host key came to."""

    device: str
    result: str  # "matches", "pinned", "replaced" or "refused"
    fingerprint: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Added:
    """What `--add` did: the ids written, the boards refused, the host keys pinned."""

    added: tuple[str, ...]
    not_added: tuple[NotAdded, ...]
    pins: tuple[Pin, ...]

    @property
    def ok(self) -> bool:
        return not self.not_added and all(p.ok for p in self.pins)


def add_found(path: Path, found: Sequence[Found], store: KnownHosts, *, today: date,
              check: CheckKey = trust.check, add: AddDevices = inventory_add.add_devices,
              parallel: int = 8, progress: Progress = QUIET) -> Added:
    """Write the new boards into the inventory, then pin the host keys the enrolled advertise.

    A bare board advertises no fingerprint: its key is left for `fleet trust` by hand.
    """
    added: list[str] = []
    not_added: list[NotAdded] = []
    for device in new_devices(found, today):  # one at a time: one bad board blocks no other
        try:
            added += add(path, [device])
        except ConfigError as e:
            not_added.append(NotAdded(device.id, str(e)))
    advertising = [f for f in found if f.seen.id in added and f.seen.advert is not None]
    pins = fan_out(advertising, lambda f: _pin(f, store, check, progress), parallel=parallel,
                   failed=lambda f, e: Pin(f.seen.id, "refused", error=unexpected(e)),
                   name="discover")
    return Added(tuple(added), tuple(not_added), tuple(pins))


def _pin(f: Found, store: KnownHosts, check: CheckKey, progress: Progress) -> Pin:
    assert f.seen.advert is not None  # only advertising boards are pinned
    progress.stage(f.seen.id, "checking its host key")
    try:
        result = check(f.seen.id, f.seen.addresses[0], f.seen.port, store,
                       advertised=f.seen.advert.ssh_fingerprint or None)
    except FleetError as e:
        progress.stage(f.seen.id, "failed")
        return Pin(f.seen.id, "refused", error=str(e))
    progress.stage(f.seen.id, "done")
    return Pin(f.seen.id, result.result, result.fingerprint)
