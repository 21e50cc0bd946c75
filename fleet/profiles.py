"""Hardware presets, Pi Zero 2 W to Jetson AGX Orin, with fleet's reserve on each.

Figures are the boards' published specifications; the reserve is fleet's
choice, documented on `fleet.model.Reserve`. dockerd with its containerd
idles near 120 MB RSS (measured in the lab, DESIGN section 9) and fleet's
agent is held to 32 MB. A Pi's OS share includes the GPU firmware's
carve-out (76 MB by default on a Pi 4B, 64 MB on 512 MB boards); a Jetson's
includes L4T's services and carve-outs. Disk: Raspberry Pi OS Lite takes
about 3 GB with updates, JetPack 4.6 about 14 GB, JetPack 6 about 20 GB; SD
cards keep 10 % free for wear levelling, eMMC and NVMe 5 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fleet.errors import ConfigError, UnknownProfileError
from fleet.model import Arch, Gpu, Profile, Reserve

_DOCKERD_MB = 120
_AGENT_MB = 32

_PI_ZERO = Reserve(os_mb=120, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
                   os_disk_mb=2500, free_disk_pct=10)
_PI = Reserve(os_mb=200, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
              os_disk_mb=3000, free_disk_pct=10)
_JETSON_NANO = Reserve(os_mb=600, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
                       os_disk_mb=14000, free_disk_pct=10)
_JETSON_ORIN = Reserve(os_mb=800, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
                       os_disk_mb=20000, free_disk_pct=5)

_MAXWELL_128 = Gpu("Maxwell, 128 CUDA cores", cuda_cores=128, tensor_cores=0,
                   compute_capability="5.3")
_AMPERE_1024 = Gpu("Ampere, 1024 CUDA cores", cuda_cores=1024, tensor_cores=32,
                   compute_capability="8.7")
_AMPERE_1792 = Gpu("Ampere, 1792 CUDA cores", cuda_cores=1792, tensor_cores=56,
                   compute_capability="8.7")
_AMPERE_2048 = Gpu("Ampere, 2048 CUDA cores", cuda_cores=2048, tensor_cores=64,
                   compute_capability="8.7")


def _pi(name: str, model: str, soc: str, ram_mb: int, storage_gb: int,
        reserve: Reserve = _PI) -> Profile:
    return Profile(name=name, model=model, soc=soc, arch=Arch.ARM64, cpus=4,
                   ram_mb=ram_mb, storage_gb=storage_gb, storage_kind="microSD",
                   reserve=reserve)


def _jetson(name: str, model: str, soc: str, cpus: int, ram_mb: int, storage_gb: int,
            storage_kind: str, gpu: Gpu, reserve: Reserve) -> Profile:
    return Profile(name=name, model=model, soc=soc, arch=Arch.ARM64, cpus=cpus,
                   ram_mb=ram_mb, storage_gb=storage_gb, storage_kind=storage_kind,
                   reserve=reserve, gpu=gpu)


PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (
    _pi("pi-zero-2w", "Raspberry Pi Zero 2 W", "RP3A0 (Cortex-A53)", 512, 16, _PI_ZERO),
    _pi("pi3b-plus", "Raspberry Pi 3 Model B+", "BCM2837B0 (Cortex-A53)", 1024, 32),
    _pi("pi4b-2g", "Raspberry Pi 4 Model B 2GB", "BCM2711 (Cortex-A72)", 2048, 32),
    _pi("pi4b-4g", "Raspberry Pi 4 Model B 4GB", "BCM2711 (Cortex-A72)", 4096, 32),
    _pi("pi4b-8g", "Raspberry Pi 4 Model B 8GB", "BCM2711 (Cortex-A72)", 8192, 32),
    _pi("pi5-4g", "Raspberry Pi 5 4GB", "BCM2712 (Cortex-A76)", 4096, 64),
    _pi("pi5-8g", "Raspberry Pi 5 8GB", "BCM2712 (Cortex-A76)", 8192, 64),
    _pi("pi5-16g", "Raspberry Pi 5 16GB", "BCM2712 (Cortex-A76)", 16384, 64),
    _jetson("jetson-nano-4g", "NVIDIA Jetson Nano 4GB", "Tegra X1 (Cortex-A57)", 4,
            4096, 64, "microSD", _MAXWELL_128, _JETSON_NANO),
    _jetson("jetson-orin-nano-8g", "NVIDIA Jetson Orin Nano 8GB",
            "Orin (Cortex-A78AE)", 6, 8192, 128, "NVMe", _AMPERE_1024, _JETSON_ORIN),
    _jetson("jetson-agx-orin-32g", "NVIDIA Jetson AGX Orin 32GB",
            "Orin (Cortex-A78AE)", 8, 32768, 64, "eMMC", _AMPERE_1792, _JETSON_ORIN),
    _jetson("jetson-agx-orin-64g", "NVIDIA Jetson AGX Orin 64GB",
            "Orin (Cortex-A78AE)", 12, 65536, 64, "eMMC", _AMPERE_2048, _JETSON_ORIN),
)})


def get(name: str, field: str = "profile") -> Profile:
    """The preset called `name`; an unknown name lists the known ones, under `field`."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(name, PROFILES, field=field) from None


def parse_counts(text: str, option: str) -> list[tuple[Profile, int]]:
    """`pi4b-8g:4,jetson-orin-nano-8g` -> [(pi4b-8g, 4), (jetson-orin-nano-8g, 1)].

    For command-line options; errors name `option`.
    """
    counted = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition(":")
        profile = get(name, field=option)
        if count and not (count.isdigit() and int(count) > 0):
            raise ConfigError(f"{option} {item!r}: the count after ':' must be positive")
        counted.append((profile, int(count or 1)))
    return counted
