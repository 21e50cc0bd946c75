"""What mDNS records mean: record changes in, DeviceSeen/DeviceGone/Rejected out. No IO.

fleet.lan.discovery's browser feeds it; everything it decides (ids from TXT or
host names, duplicate ids, the bare board behind an enrolled one's address,
addresses outside the browsed networks, which record's SSH port counts) is
tested here without a network.

A board is often seen through several records at once: fleet's agent, avahi's
`_ssh._tcp` and `_workstation._tcp`, its host name. Only an SSH record's port
is sshd's own (a workstation record's is not SSH's, a name has none, an agent
says what it was configured with), so the SSH record's port is kept whatever
order the records arrive in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fleet.lan.advert import SERVICE_TYPE, SSH_SERVICE_TYPES, Advert, AdvertError, parse_txt
from fleet.model import DEVICE_ID

BY_NAME = "name"  # the source of a board found by resolving its host name
_INVALID_ID_CHARS = str.maketrans({c: "-" for c in "_. "})
_SSH_RANK = {service: rank for rank, service in enumerate(SSH_SERVICE_TYPES)}


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine wherever it is read, so never a board on the LAN."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower().rstrip(".") in ("localhost", "localhost.localdomain")


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """A board on the LAN; `advert` is None for a bare board (no agent yet)."""

    id: str
    host: str  # its .local name
    addresses: tuple[str, ...]
    port: int  # its SSH port
    advert: Advert | None
    source: str = field(compare=False)  # the service type it was found by, or BY_NAME

    @property
    def enrolled(self) -> bool:
        return self.advert is not None


@dataclass(frozen=True, slots=True)
class DeviceGone:
    """A board that withdrew its records (or stopped answering to its name)."""

    id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was skipped, and why."""

    name: str
    addresses: tuple[str, ...]
    reason: str


Event = DeviceSeen | DeviceGone | Rejected


@dataclass(slots=True)
class Sightings:
    """What the records mean: record changes in, events out. No IO.

    `networks`, if given, keeps only addresses inside them: a browser bound to
    one interface still hears multicast joined on others.
    """

    networks: Sequence[ipaddress.IPv4Network] = ()
    _fleet: dict[str, DeviceSeen] = field(default_factory=dict)  # by instance name
    _bare: dict[str, dict[str, DeviceSeen]] = field(default_factory=dict)  # id -> source -> seen
    _shown: dict[str, DeviceSeen] = field(default_factory=dict)  # id -> what was last said

    def fleet_record(self, name: str, txt: bytes, addresses: Iterable[str], port: int
                     ) -> list[Event]:
        """A `_fleet._tcp` instance was added or changed."""
        kept = self._ours(addresses)
        if not kept:
            return []
        try:
            advert = parse_txt(txt)
        except AdvertError as e:
            return [Rejected(name, kept, str(e))]
        for other_name, other in self._fleet.items():
            if other.id == advert.id and other_name != name and other.addresses != kept:
                return [Rejected(name, kept, f"duplicate id {advert.id!r}: also advertised "
                                             f"by {other_name} at {', '.join(other.addresses)}")]
        self._fleet[name] = DeviceSeen(advert.id, f"{advert.host}.local", kept, port, advert,
                                       SERVICE_TYPE)
        return self._settle()

    def bare_record(self, host: str, addresses: Iterable[str], port: int, source: str
                    ) -> list[Event]:
        """A bare board's service record, or an answer to its host name."""
        kept = self._ours(addresses)
        label, device_id = _bare_id(host)
        if not kept:
            return []
        if not DEVICE_ID.fullmatch(device_id):
            return [Rejected(host, kept, f"host name {label!r} is not usable as a device id")]
        self._bare.setdefault(device_id, {})[source] = DeviceSeen(
            device_id, f"{label}.local", kept, port, None, source)
        return self._settle()

    def removed(self, name: str, source: str = SERVICE_TYPE) -> list[Event]:
        """A record was withdrawn: a fleet instance name, or a bare board's host and source."""
        if source == SERVICE_TYPE:
            self._fleet.pop(name, None)
        else:
            _, device_id = _bare_id(name)
            sources = self._bare.get(device_id, {})
            sources.pop(source, None)
            if not sources:
                self._bare.pop(device_id, None)
        return self._settle()

    def _ours(self, addresses: Iterable[str]) -> tuple[str, ...]:
        kept = []
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%")[0])
            except ValueError:
                continue
            if not self.networks or any(address in net for net in self.networks):
                kept.append(str(address))
        return tuple(dict.fromkeys(kept))

    def _settle(self) -> list[Event]:
        """Events that turn what was last said into what is true now."""
        now: dict[str, DeviceSeen] = {}
        for seen in self._fleet.values():
            now.setdefault(seen.id, seen)
        enrolled_at = {a for seen in now.values() for a in seen.addresses}
        for device_id, sources in self._bare.items():
            # A board whose address an agent advertises is that agent's.
            seen = _ssh_first(sources)
            if device_id not in now and not enrolled_at.intersection(seen.addresses):
                now[device_id] = seen
        for device_id, seen in now.items():
            port = self._ssh_port_at(seen.addresses)
            if port is not None and port != seen.port:
                now[device_id] = replace(seen, port=port)
        events: list[Event] = [DeviceGone(i) for i in self._shown if i not in now]
        events += [s for i, s in now.items() if self._shown.get(i) != s]
        self._shown = now
        return events

    def _ssh_port_at(self, addresses: Sequence[str]) -> int | None:
        """The port the most direct SSH record at one of these addresses gives, if any."""
        records = [seen for sources in self._bare.values() for seen in sources.values()
                   if seen.source in _SSH_RANK and set(seen.addresses) & set(addresses)]
        best = min(records, key=lambda seen: _SSH_RANK[seen.source], default=None)
        return None if best is None else best.port


def _ssh_first(sources: Mapping[str, DeviceSeen]) -> DeviceSeen:
    """A bare board's view from its SSH record if it has one, else from the first to arrive."""
    return min(sources.values(), key=lambda seen: _SSH_RANK.get(seen.source, len(_SSH_RANK)))


def _bare_id(host: str) -> tuple[str, str]:
    """A bare board's host name (`Kitchen_Pi.local.`) -> its label and device id (`kitchen-pi`)."""
    label = host.removesuffix(".").removesuffix(".local").lower()
    return label, label.translate(_INVALID_ID_CHARS)
