"""What a lab is made of, as values: names, addresses, files. No IO here."""

from __future__ import annotations

import ipaddress
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fleet import profiles
from fleet.errors import ConfigError
from fleet.model import Arch

LAB_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
DEFAULT_SUBNET = "10.250.0.0/24"
DEFAULT_PROFILE = "pi4b-8g"
# A bare board is one fresh from Raspberry Pi OS's imager: that is its stock host name.
BARE_HOST_NAME = "raspberrypi"
BROKER_PORT = 1883
REGISTRY_PORT = 5000  # the lab's registry (fleet.lab.registry), plain HTTP on the bridge
MAX_DEVICES = 200
MIN_CARD_MB = 256  # the lab's workload and agent images, and room to work
MAX_MODEL = 128  # a device-tree model the lab may be given: what a heartbeat carries at most
# Directories each device sees as its own, all on its card: the engine's data,
# fleet's own state, and what fills a real board's card besides
# files (temporary files, the journal, apt's cache, core dumps), which `fleet cleanup`
# reclaims; and its users' homes, root's too.
DEVICE_PRIVATE_DIRS = ("/var/lib/docker", "/var/lib/fleet", "/etc/fleet", "/tmp", "/var/tmp",
                       "/var/log/journal", "/var/cache/apt", "/var/crash",
                       "/var/lib/systemd/coredump", "/home", "/root")
# Who logs in: Raspberry Pi OS's `pi`; on a Jetson the user its owner names at JetPack's
# first boot, `nvidia` as NVIDIA's guides and most inventories have it.
PI_USER, JETSON_USER = "pi", "nvidia"
# Sticky and writable by all, as on any Linux system.
DEVICE_SHARED_TMP = ("/tmp", "/var/tmp")


@dataclass(frozen=True, slots=True)
class LabDevice:
    """One simulated board: its id (also its host name), address and hardware profile.

    A bare one is a stock board that fleet has not enrolled: no agent, not in
    the inventory, and only its host name on mDNS.
    """

    index: int
    id: str
    ip: str
    profile: str
    bare: bool = False
    card_mb: int | None = None  # its card's size; None for its profile's root filesystem
    model: str | None = None  # its device tree's model; None for its profile's (fleet.lab.firmware)


@dataclass(frozen=True, slots=True)
class LabSpec:
    """Where a lab lives and how its parts are named."""

    name: str
    root: Path
    subnet: ipaddress.IPv4Network

    @classmethod
    def create(cls, name: str = "lab", root: Path | None = None,
               subnet: str = DEFAULT_SUBNET) -> LabSpec:
        if not LAB_NAME.fullmatch(name):
            raise ConfigError(f"lab name {name!r}: use 1-8 of a-z and 0-9, starting with a letter")
        net = ipaddress.IPv4Network(subnet, strict=True)
        if net.num_addresses < 16:
            raise ConfigError(f"subnet {subnet}: needs at least a /28")
        return cls(name, root or default_root(name), net)

    @property
    def bridge(self) -> str:
        return f"fl{self.name}-br"

    @property
    def bridge_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def broker(self) -> str:
        return f"{self.bridge_ip}:{BROKER_PORT}"

    @property
    def registry(self) -> str:
        return f"{self.bridge_ip}:{REGISTRY_PORT}"

    def netns(self, device: LabDevice) -> str:
        return f"fleet-{self.name}-{device.id}"

    def veth(self, device: LabDevice) -> str:
        return f"fl{self.name}-{device.index}"

    def cgroup(self, device: LabDevice) -> str:
        """The cgroup parent under which the device's dockerd puts its containers."""
        return f"fleet-{self.name}-{device.id}"

    def device_dir(self, device: LabDevice) -> Path:
        return self.root / "devices" / device.id

    def ssh_dir(self, device: LabDevice) -> Path:
        """The device's /etc/ssh (a bind mount in its namespace): its sshd host keys."""
        return self.device_dir(device) / "etc-ssh"

    def docker_socket(self, device: LabDevice) -> Path:
        """The device's engine socket as the host sees it (the device also has /run/docker.sock)."""
        return self.device_dir(device) / "docker.sock"

    @property
    def ns_dir(self) -> Path:
        return self.root / "ns"

    @property
    def client_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    def devices(self, count: int, profile_list: str = "", bare: int = 0,
                card_mb: int | None = None,
                models: Mapping[str, str] | None = None) -> list[LabDevice]:
        """Number and address `count` devices with the profiles asked for, then `bare` bare ones;
        `models` gives some (by id) a device-tree model other than their profile's."""
        names = expand_profiles(profile_list, count)
        if not 0 <= bare <= MAX_DEVICES - count:
            raise ConfigError(f"--bare {bare}: expected 0 to {MAX_DEVICES - count} "
                              f"with --devices {count}")
        if card_mb is not None and card_mb < MIN_CARD_MB:
            raise ConfigError(f"--card-mb {card_mb}: a card needs at least {MIN_CARD_MB} MiB")
        hosts = list(self.subnet.hosts())[10:]
        if count + bare > len(hosts):
            asked = f"--devices {count}" + (f" and --bare {bare}" if bare else "")
            raise ConfigError(f"{asked}: subnet {self.subnet} has room for {len(hosts)}")
        enrolled = [LabDevice(i, f"{self.name}-{i:02d}", str(hosts[i - 1]), names[i - 1],
                              card_mb=card_mb) for i in range(1, count + 1)]
        made = enrolled + [LabDevice(count + n, bare_id(n), str(hosts[count + n - 1]),
                                     DEFAULT_PROFILE, bare=True, card_mb=card_mb)
                           for n in range(1, bare + 1)]
        return with_models(made, models or {})


def with_models(devices: list[LabDevice], models: Mapping[str, str]) -> list[LabDevice]:
    """`devices`, those `models` names given that device-tree model (a board that disagrees
    with its profile); a model must be printable and fit a heartbeat."""
    unknown = sorted(set(models) - {d.id for d in devices})
    if unknown:
        raise ConfigError(f"--model {unknown[0]}=...: the lab has no device {unknown[0]!r}; "
                          f"its devices: {', '.join(d.id for d in devices)}")
    for device_id, model in models.items():
        if not 0 < len(model) <= MAX_MODEL or not model.isprintable():
            raise ConfigError(f"--model {device_id}={model!r}: expected 1 to {MAX_MODEL} "
                              "printable characters")
    return [replace(d, model=models[d.id]) if d.id in models else d for d in devices]


def login_user(device: LabDevice) -> str:
    """Who logs in on the device (with passwordless sudo): the JetPack user on a Jetson."""
    return JETSON_USER if profiles.get(device.profile).gpu is not None else PI_USER


def default_root(name: str) -> Path:
    base = Path(os.environ.get("FLEET_LAB_DIR", "/var/lib/fleet-lab"))
    return base / name


def host_arch() -> Arch:
    """Lab devices run this host's architecture, so locally built images run on them."""
    return Arch.parse(platform.machine())


def bare_id(n: int) -> str:
    """The n-th bare board's host name: `raspberrypi`, then `raspberrypi-2`, ..."""
    return BARE_HOST_NAME if n == 1 else f"{BARE_HOST_NAME}-{n}"


def expand_profiles(profile_list: str, count: int) -> list[str]:
    """`pi4b-8g:4,pi4b-2g,jetson-orin-nano-8g` -> one profile name per device.

    A name may carry a count; the list repeats from the start if it is
    shorter than `count`, and must not be longer. Empty means the default.
    """
    if not 1 <= count <= MAX_DEVICES:
        raise ConfigError(f"--devices {count}: expected 1 to {MAX_DEVICES}")
    counted = profiles.parse_counts(profile_list, "--profiles")
    names = [p.name for p, times in counted for _ in range(times)] or [DEFAULT_PROFILE]
    if len(names) > count:
        raise ConfigError(
            f"--profiles lists {len(names)} devices but --devices is {count}"
        )
    return [names[i % len(names)] for i in range(count)]


def sshd_config(spec: LabSpec, device: LabDevice, *, root_login: bool = False) -> str:
    """The device's sshd: key auth only (each user's ~/.ssh/authorized_keys), its own host key;
    root may not log in unless `root_login`, as on a board set up the usual way."""
    return "\n".join((
        f"ListenAddress {device.ip}",
        f"HostKey {spec.ssh_dir(device) / 'ssh_host_ed25519_key'}",
        "AuthorizedKeysFile .ssh/authorized_keys",
        f"PermitRootLogin {'prohibit-password' if root_login else 'no'}",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # The lab's files may sit under a world-writable /tmp (tests); a board's would not.
        "StrictModes no",
        "PidFile none",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp internal-sftp",
        "",
    ))


def avahi_config(device: LabDevice) -> str:
    """avahi-daemon as on stock Raspberry Pi OS, cut to the host name: an A record on eth0.

    No D-Bus, IPv4 only, and nothing else published: no workstation, HINFO or
    domain records; services are kept out by the device's empty /etc/avahi/services.
    """
    return "\n".join((
        "[server]",
        f"host-name={device.id}",
        "domain-name=local",
        "use-ipv4=yes",
        "use-ipv6=no",
        "allow-interfaces=eth0",
        "enable-dbus=no",
        "[wide-area]",
        "enable-wide-area=no",
        "[publish]",
        "publish-addresses=yes",
        "publish-hinfo=no",
        "publish-workstation=no",
        "publish-domain=no",
        "publish-aaaa-on-ipv4=no",
        "publish-resolv-conf-dns-servers=no",
        "[reflector]",
        "enable-reflector=no",
        "",
    ))


def mosquitto_config(spec: LabSpec) -> str:
    return "\n".join((
        f"listener {BROKER_PORT} {spec.bridge_ip}",
        "allow_anonymous true",
        "persistence false",
        f"log_dest file {spec.root / 'broker' / 'mosquitto.log'}",
        "",
    ))


def inventory(spec: LabSpec, devices: list[LabDevice], arch: Arch) -> dict[str, object]:
    """The lab's fleet as a fleet-native inventory document: bare boards are not in it yet."""
    devices = [d for d in devices if not d.bare]
    return {
        "broker": {"host": spec.bridge_ip, "port": BROKER_PORT},
        "defaults": {
            "site": "lab",
            "arch": str(arch),
            "ssh": {"user": PI_USER, "port": 22, "key": str(spec.client_key)},
            "labels": {"lab": spec.name},
        },
        "devices": {d.id: _inventory_entry(d) for d in devices},
        "groups": {spec.name: [d.id for d in devices]},
    }


def _inventory_entry(device: LabDevice) -> dict[str, object]:
    entry: dict[str, object] = {"host": device.ip, "profile": device.profile}
    if login_user(device) != PI_USER:
        entry["ssh"] = {"user": login_user(device)}
    return entry
