"""The frozen core types: hardware, resources and devices.

Everything here is a value: immutable, comparable, free of IO. The outer
formats (inventory YAML, MQTT payloads, SSH facts) are converted into these
at the edges, by the one module that knows each format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from fleet.errors import ConfigError, InvalidDeviceIdError, unknown_hint

DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def validate_device_id(value: str) -> str:
    """Return `value` if it is a valid device id, else raise with the rule."""
    if not isinstance(value, str) or not DEVICE_ID.fullmatch(value):
        raise InvalidDeviceIdError(
            f"invalid device id {value!r}: use 1-63 of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return value


class Arch(StrEnum):
    """CPU architecture, in the names container images use."""

    ARM64 = "arm64"
    ARMV7 = "armv7"
    AMD64 = "amd64"

    @classmethod
    def parse(cls, value: str) -> Arch:
        """Accept image names (arm64) and `uname -m` names (aarch64, armv7l, x86_64)."""
        normal = _ARCH_ALIASES.get(value.strip().lower())
        if normal is None:
            known = ", ".join(sorted(_ARCH_ALIASES))
            raise ValueError(f"unknown architecture {value!r}; known: {known}")
        return normal


_ARCH_ALIASES = {
    "arm64": Arch.ARM64, "aarch64": Arch.ARM64, "arm64/v8": Arch.ARM64,
    "armv7": Arch.ARMV7, "armv7l": Arch.ARMV7, "arm": Arch.ARMV7, "arm/v7": Arch.ARMV7,
    "amd64": Arch.AMD64, "x86_64": Arch.AMD64,
}


@dataclass(frozen=True, slots=True, order=True)
class Resources:
    """An amount of memory (MiB), disk (MiB) and CPU (millicores)."""

    mem_mb: int = 0
    disk_mb: int = 0
    cpu_millis: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.mem_mb + other.mem_mb, self.disk_mb + other.disk_mb,
                         self.cpu_millis + other.cpu_millis)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.mem_mb - other.mem_mb, self.disk_mb - other.disk_mb,
                         self.cpu_millis - other.cpu_millis)

    def fits_in(self, other: Resources) -> bool:
        """True if every dimension of self is at most other's."""
        return (self.mem_mb <= other.mem_mb and self.disk_mb <= other.disk_mb
                and self.cpu_millis <= other.cpu_millis)


@dataclass(frozen=True, slots=True)
class Gpu:
    """An on-board CUDA GPU (Jetson). Memory is shared with the CPU."""

    name: str
    cuda_cores: int
    tensor_cores: int
    compute_capability: str


@dataclass(frozen=True, slots=True)
class Reserve:
    """What fleet keeps back on a board before placing any container.

    Memory: the OS (kernel, systemd, sshd, and on a Pi the GPU firmware's
    carve-out), dockerd with containerd, and fleet's own agent. Disk: the OS
    image and its updates, plus a share of the card left free, because SD
    cards and eMMC wear faster and slow down badly when nearly full.
    """

    os_mb: int
    dockerd_mb: int
    agent_mb: int
    os_disk_mb: int
    free_disk_pct: int


@dataclass(frozen=True, slots=True)
class Profile:
    """A hardware preset: what a board is and what fleet may use of it."""

    name: str
    model: str
    soc: str
    arch: Arch
    cpus: int
    ram_mb: int
    storage_gb: int
    storage_kind: str
    reserve: Reserve
    gpu: Gpu | None = None

    @property
    def storage_mb(self) -> int:
        """The root filesystem's MiB: a '32 GB' card holds 32 * 10^9 bytes, less /boot."""
        return self.storage_gb * 10**9 // 2**20 - _BOOT_PARTITION_MB

    @property
    def total(self) -> Resources:
        return Resources(self.ram_mb, self.storage_mb, self.cpus * 1000)

    @property
    def reserved(self) -> Resources:
        r = self.reserve
        return Resources(mem_mb=r.os_mb + r.dockerd_mb + r.agent_mb,
                         disk_mb=r.os_disk_mb + self.storage_mb * r.free_disk_pct // 100)

    @property
    def budget(self) -> Resources:
        """What containers may use in all: the board less fleet's reserve."""
        return self.total - self.reserved

    def with_storage(self, storage_gb: int) -> Profile:
        """The same board with another card or disk (a user's 64 GB SD in a Pi 4B)."""
        return replace(self, storage_gb=storage_gb)


_BOOT_PARTITION_MB = 512


@dataclass(frozen=True, slots=True)
class SshTarget:
    """How to reach a device over SSH."""

    user: str = "pi"
    port: int = 22
    key: Path | None = None
    local: bool = False  # the controller's own machine: commands run here, not over SSH


@dataclass(frozen=True, slots=True)
class Device:
    """A board in the fleet, as the inventory describes it."""

    id: str
    host: str
    profile: Profile
    arch: Arch
    ssh: SshTarget = SshTarget()
    site: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_device_id(self.id)

    @property
    def budget(self) -> Resources:
        return self.profile.budget


# -- stacks and plans (fleet.config.stack builds Services; fleet.scheduler builds Plans) --

class Strategy(StrEnum):
    """Where a service's replicas go among devices that can take them."""

    PACK = "pack"
    SPREAD = "spread"


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    """Host ports fleet may allocate from, both ends included."""

    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class PortWant:
    """A container port, published on `host` or, if None, on one allocated from a range:
    its own (`range`, from "3067-3200:80"), else the service's `port_range`, else an
    ephemeral one docker picks and fleet need not track."""

    container: int
    host: int | None = None
    protocol: str = "tcp"
    range: PortRange | None = None


@dataclass(frozen=True, slots=True)
class Constraint:
    """A placement rule: a device's label, arch or hostname (its id) equals a value, or not."""

    kind: str  # "label", "arch" or "hostname"
    key: str  # the label's name; "" for arch and hostname
    equal: bool
    value: str
    text: str  # as the user wrote it, for reasons

    def matches(self, device: Device) -> bool:
        if self.kind == "arch":
            return (str(device.arch) == self.value) == self.equal
        if self.kind == "hostname":  # Swarm's is the board's name: here its id, or its host
            return (self.value in (device.id, device.host)) == self.equal
        # `site` is a field of its own in the inventory; a label wins if both are set.
        actual = device.labels.get(self.key, device.site if self.key == "site" else None)
        return (actual == self.value) == self.equal


@dataclass(frozen=True, slots=True)
class Service:
    """One service of a stack, as the scheduler needs it; `extra` keeps what fleet does not read.

    `request` is per replica, without the scheduler's per-container overhead; its memory is
    the reservation, else the limit, else an estimate. An empty `archs`: the image runs anywhere.
    """

    name: str
    image: str = ""
    replicas: int = 1
    request: Resources = Resources()
    archs: frozenset[Arch] = frozenset()
    ports: tuple[PortWant, ...] = ()
    port_range: PortRange | None = None
    gpu: bool = False
    strategy: Strategy = Strategy.PACK
    latency_sensitive: bool = False
    constraints: tuple[Constraint, ...] = ()
    max_per_device: int = 1
    mem_limit_mb: int = 0  # the limits it runs with (0: none): past a board's budget, not there
    cpu_limit_millis: int = 0
    mem_assumed: bool = False  # its memory is an estimate: no figure of its own
    per_board: bool = False  # deploy.mode global: one replica on each board that may run it
    links: tuple[str, ...] = ()  # what it names (depends_on, links): one board if both colocate
    colocate: bool = True
    expose: tuple[PortWant, ...] = ()  # container ports others reach, besides `ports`'
    transfer: str = ""  # x-fleet.transfer, pull or push (fleet.deploy.transfer); "": decide
    extra: Mapping[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device as the planner sees it now.

    `used` and `ports_taken` are what runs there outside fleet's placements
    (those come as `running`). `impedance` is the 0-1000 score of DESIGN
    section 5; `degraded` is its state flag.
    """

    device: Device
    used: Resources = Resources()
    ports_taken: frozenset[tuple[int, str]] = frozenset()
    impedance: float = 0.0
    degraded: bool = False


@dataclass(frozen=True, slots=True, order=True)
class PortBinding:
    """A published port: host port -> container port."""

    host: int
    container: int
    protocol: str = "tcp"

    def __str__(self) -> str:
        suffix = "" if self.protocol == "tcp" else f"/{self.protocol}"
        return f"{self.host}:{self.container}{suffix}"


@dataclass(frozen=True, slots=True, order=True)
class Placement:
    """Replica `replica` (0-based) of `service` runs on `device` with these ports."""

    service: str
    replica: int
    device: str
    ports: tuple[PortBinding, ...] = ()
    hosts: tuple[tuple[str, str], ...] = ()  # (service, its board's host) reached elsewhere


@dataclass(frozen=True, slots=True)
class Move:
    """A running replica the new plan puts elsewhere (`target` None: nowhere fits)."""

    service: str
    replica: int
    source: str
    target: str | None


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A replica no device could take: each reason with the number of devices it ruled out."""

    service: str
    replica: int
    reasons: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class DeviceFill:
    """What a device would hold under a plan, against its budget."""

    device: str
    profile: str
    budget: Resources
    used: Resources
    containers: int

    def pct(self, dim: str) -> float:
        """Percent of the budget in `dim` (mem_mb, disk_mb or cpu_millis) in use."""
        total: int = getattr(self.budget, dim)
        return 100.0 * getattr(self.used, dim) / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """The scheduler's answer, a value: where each replica goes, what stops, what could not go."""

    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...] = ()
    devices: tuple[DeviceFill, ...] = ()
    moves: tuple[Move, ...] = ()
    stops: tuple[Placement, ...] = ()
    seed: int = 0
    now: float = 0.0
    assumed: Mapping[str, int] = field(default_factory=dict)  # service -> MiB, no figure given

    @property
    def devices_used(self) -> int:
        return sum(1 for d in self.devices if d.containers)


# -- the inventory: the devices fleet manages, and the broker they speak to ----------------

@dataclass(frozen=True, slots=True)
class Broker:
    """The MQTT broker; the password itself never appears in the inventory."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """The devices fleet manages, in file order, with their groups and the broker."""

    path: Path
    devices: tuple[Device, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    broker: Broker = Broker()
    _by_id: Mapping[str, Device] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {d.id: d for d in self.devices})

    def device(self, device_id: str) -> Device:
        """The device with this id; an unknown id lists some known ones."""
        found = self._by_id.get(device_id)
        if found is None:
            raise ConfigError(f"unknown device {device_id!r}{unknown_hint(device_id, self._by_id)}",
                              path=str(self.path))
        return found

    def select(self, names: Iterable[str]) -> tuple[Device, ...]:
        """The devices named by id or group name, each once, in file order."""
        wanted: set[str] = set()
        for name in (names,) if isinstance(names, str) else names:
            if name in self.groups:
                wanted.update(self.groups[name])
            elif name in self._by_id:
                wanted.add(name)
            else:
                known = [*self._by_id, *self.groups]
                raise ConfigError(f"unknown device or group {name!r}{unknown_hint(name, known)}",
                                  path=str(self.path))
        return tuple(d for d in self.devices if d.id in wanted)
