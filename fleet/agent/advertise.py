"""Say over mDNS that this board runs fleet's agent (`_fleet._tcp`); withdraw it on a clean stop.

The record's SRV port is the board's SSH port (how fleet reaches it) and its
TXT is fleet.lan.advert's: id, profile, model, arch, budgets, agent version and
the SHA256 fingerprint of the SSH host key, which the controller checks the
key against on first contact. The host name published is `fleet-<id>.local`,
never the board's own: avahi owns that one, and a second responder giving
other addresses for it makes avahi rename the board.
"""

from __future__ import annotations

import logging
import platform
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

import ifaddr
from zeroconf import IPVersion, ServiceInfo, Zeroconf

from fleet import __version__
from fleet.lan.advert import SERVICE_TYPE, Advert, AdvertError, public_key_fingerprint, to_txt
from fleet.model import Arch, Profile

log = logging.getLogger(__name__)

# Interfaces that never face the LAN: loopback, container bridges and their veths.
_INTERNAL_PREFIXES = ("lo", "docker", "br-", "veth", "cni", "flannel", "virbr")


def lan_addresses(interfaces: Iterable[tuple[str, str]]) -> list[str]:
    """The IPv4 addresses to publish, from (interface name, address) pairs, in order."""
    found: list[str] = []
    for name, address in interfaces:
        if (not name.startswith(_INTERNAL_PREFIXES) and "." in address
                and not address.startswith("127.") and address not in found):
            found.append(address)
    return found


def _interfaces() -> list[tuple[str, str]]:
    return [(adapter.nice_name, str(ip.ip)) for adapter in ifaddr.get_adapters()
            for ip in adapter.ips if isinstance(ip.ip, str)]


def host_key_fingerprint(path: Path) -> str:
    """The fingerprint of sshd's public host key, or "" (and a warning) if it cannot be read."""
    try:
        return public_key_fingerprint(path.read_text())
    except (OSError, UnicodeDecodeError, AdvertError) as e:
        log.warning("ssh host key %s: %s; advertising no fingerprint, so the controller "
                    "will ask its user to check the key by hand", path, e)
        return ""


def advert(device_id: str, profile: Profile, *, ssh_port: int, host_key: Path,
           model: str | None = None) -> Advert:
    """`model` is what the board says it is (fleet.agent.board), "" where it says nothing:
    never the profile's, so that a controller can tell the two apart."""
    return Advert(
        id=device_id, profile=profile.name, model=model or "",
        arch=Arch.parse(platform.machine()), mem_mb=profile.total.mem_mb,
        storage_mb=profile.total.disk_mb, gpu=profile.gpu.name if profile.gpu else "",
        agent=__version__, host=socket.gethostname().split(".")[0], ssh_port=ssh_port,
        ssh_fingerprint=host_key_fingerprint(host_key),
    )


class Advertiser:
    """Publishes one Advert until stopped. Never raises: a board without mDNS still beats."""

    def __init__(self, advert: Advert, addresses: Sequence[str] = ()) -> None:
        self._advert = advert
        self._addresses = list(addresses)
        self._zeroconf: Zeroconf | None = None
        self._info: ServiceInfo | None = None

    def start(self) -> bool:
        """Probe for the name and announce it (about 1.5 s); False if not published."""
        addresses = self._addresses or lan_addresses(_interfaces())
        if not addresses:
            log.warning("mDNS: no LAN address to publish; not advertising")
            return False
        name = f"{self._advert.id}.{SERVICE_TYPE}"
        info = ServiceInfo(SERVICE_TYPE, name, port=self._advert.ssh_port,
                           properties=to_txt(self._advert),
                           server=f"fleet-{self._advert.id}.local.", parsed_addresses=addresses)
        try:
            zc = Zeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        except OSError as e:
            log.warning("mDNS: cannot open its sockets (%s); not advertising", e)
            return False
        try:
            zc.register_service(info)
        except Exception as e:  # NonUniqueNameException and kin: another board has our id
            log.error("mDNS: could not publish %s: %s: %s", name, type(e).__name__, e)
            zc.close()
            return False
        self._zeroconf, self._info = zc, info
        log.info("mDNS: advertising %s at %s", name, ", ".join(addresses))
        return True

    def stop(self) -> None:
        """Withdraw the record (goodbye packets, so browsers drop it at once) and close."""
        zc, info = self._zeroconf, self._info
        self._zeroconf = self._info = None
        if zc is not None and info is not None:
            try:
                zc.unregister_service(info)
            finally:
                zc.close()
