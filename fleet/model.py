"""The frozen core types: hardware, resources and devices.

Everything here is a value: immutable, comparable, free of IO. The outer
formats (inventory YAML, MQTT payloads, SSH facts) are converted into these
at the edges, by the one module that knows each format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from fleet.errors import InvalidDeviceIdError

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
        return Resources(
            mem_mb=r.os_mb + r.dockerd_mb + r.agent_mb,
            disk_mb=r.os_disk_mb + self.storage_mb * r.free_disk_pct // 100,
            cpu_millis=0,
        )

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
