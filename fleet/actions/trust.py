"""`fleet trust`: check every device's SSH host key against its pin, its agent's mDNS
fingerprint or the one the user typed; a result per device, none stopping the others.

A local board (`ansible_connection: local`) is reached without SSH, so it has no host key
to check: it is skipped, saying why, and is no failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleet.actions.discover import CheckKey, Scanner, match
from fleet.errors import ConfigError, FleetError, HostKeyError
from fleet.fanout import QUIET, Progress, fan_out, unexpected
from fleet.lan import discovery
from fleet.model import Device
from fleet.ssh import trust
from fleet.ssh.hostkeys import KnownHosts

LOCAL = ("a local board (ansible_connection: local): fleet runs its commands on this "
         "machine, not over SSH, so it has no host key to trust")


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """One device's host key: trusted (kept, pinned or replaced), refused, not reached, or
    skipped (a board with no host key to check)."""

    device: str
    host: str
    port: int
    trusted: trust.TrustResult | None = None
    refused: HostKeyError | None = None
    unreachable: str | None = None  # why no key could be checked
    skipped: str | None = None  # why there is no key to check

    @property
    def ok(self) -> bool:
        return self.trusted is not None or self.skipped is not None

    @property
    def error(self) -> str | None:
        return str(self.refused) if self.refused else self.unreachable


def check_all(devices: Sequence[Device], store: KnownHosts, *, scan: Scanner,
              accept: str | None = None, check: CheckKey = trust.check, parallel: int = 8,
              progress: Progress = QUIET) -> list[KeyCheck]:
    """Check each device's key, reading the fingerprints the agents advertise if any is unpinned.

    `accept` (a fingerprint the user read on the board) takes exactly one device, so
    it is never accepted for the wrong board: ConfigError otherwise.
    """
    if accept and len(devices) != 1:
        raise ConfigError("--accept takes one device: name it, so a fingerprint is never "
                          "accepted for the wrong board")
    remote = [d for d in devices if not d.ssh.local]
    advertised: dict[str, str] = {}
    if not accept and any(store.pinned(d.id) is None for d in remote):
        advertised = advertised_fingerprints(remote, scan)

    def one(d: Device) -> KeyCheck:
        if d.ssh.local:
            progress.stage(d.id, "skipped: a local board")
            return KeyCheck(d.id, d.host, d.ssh.port, skipped=LOCAL)
        progress.stage(d.id, "checking its host key")
        result = _check_one(d, store, check, advertised.get(d.id), accept)
        progress.stage(d.id, "done" if result.ok else "failed")
        return result

    return fan_out(devices, one, parallel=parallel, name="trust",
                   failed=lambda d, e: KeyCheck(d.id, d.host, d.ssh.port,
                                                unreachable=unexpected(e)))


def advertised_fingerprints(devices: Sequence[Device], scan: Scanner) -> dict[str, str]:
    """Device id -> the host key fingerprint its agent advertises over mDNS (TXT `fp`)."""
    found = match(scan(discovery.names_to_resolve(devices)), devices)
    return {f.inventory_id: f.seen.advert.ssh_fingerprint for f in found
            if f.inventory_id and f.seen.advert and f.seen.advert.ssh_fingerprint}


def _check_one(d: Device, store: KnownHosts, check: CheckKey, advertised: str | None,
               accept: str | None) -> KeyCheck:
    try:
        result = check(d.id, d.host, d.ssh.port, store, advertised=advertised, accept=accept)
    except HostKeyError as e:
        return KeyCheck(d.id, d.host, d.ssh.port, refused=e)
    except FleetError as e:
        return KeyCheck(d.id, d.host, d.ssh.port, unreachable=str(e))
    return KeyCheck(d.id, d.host, d.ssh.port, trusted=result)
