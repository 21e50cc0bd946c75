"""Hardware presets, Pi Zero 2 W to Jetson AGX Orin, with fleet's reserve on each.

Figures are the boards' published specifications; the reserve is fleet's
choice, documented on `fleet.model.Reserve`. dockerd with its containerd
idles near 120 MB RSS (measured in the lab, DESIGN section 9) and fleet's
agent is held to 32 MB. A Pi's OS share includes the GPU firmware's
carve-out (76 MB by default on a Pi 4B, 64 MB on 512 MB boards); a Jetson's
includes L4T's services and carve-outs. Disk: Raspberry Pi OS Lite takes
about 3 GB with updates, JetPack 4.6 about 14 GB, JetPack 5 about 17 GB,
JetPack 6 about 20 GB; SD cards keep 10 % free for wear levelling, eMMC and
NVMe 5 %. Each Jetson's reserve is for the newest JetPack it runs: JetPack 4 on
the Nano, 5 on Xavier, 6 on Orin.

Every figure (RAM, CPU cores, GPU cores, tensor cores, compute capability,
storage) comes from the vendor page or datasheet `SOURCES` names for the
profile. Storage is what the board boots from as sold: a developer kit's
microSD, a module's eMMC, or the NVMe an Orin NX or Nano (no eMMC) needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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
_JETSON_XAVIER = Reserve(os_mb=700, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
                         os_disk_mb=17000, free_disk_pct=5)
_JETSON_ORIN = Reserve(os_mb=800, dockerd_mb=_DOCKERD_MB, agent_mb=_AGENT_MB,
                       os_disk_mb=20000, free_disk_pct=5)

_MAXWELL_128 = Gpu("Maxwell, 128 CUDA cores", cuda_cores=128, tensor_cores=0,
                   compute_capability="5.3")
_VOLTA_384 = Gpu("Volta, 384 CUDA cores", cuda_cores=384, tensor_cores=48,
                 compute_capability="7.2")
_VOLTA_512 = Gpu("Volta, 512 CUDA cores", cuda_cores=512, tensor_cores=64,
                 compute_capability="7.2")
_AMPERE_512 = Gpu("Ampere, 512 CUDA cores", cuda_cores=512, tensor_cores=16,
                  compute_capability="8.7")
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
    _pi("pi3b", "Raspberry Pi 3 Model B", "BCM2837 (Cortex-A53)", 1024, 32),
    _pi("pi3b-plus", "Raspberry Pi 3 Model B+", "BCM2837B0 (Cortex-A53)", 1024, 32),
    _pi("pi4b-1g", "Raspberry Pi 4 Model B 1GB", "BCM2711 (Cortex-A72)", 1024, 32),
    _pi("pi4b-2g", "Raspberry Pi 4 Model B 2GB", "BCM2711 (Cortex-A72)", 2048, 32),
    _pi("pi4b-4g", "Raspberry Pi 4 Model B 4GB", "BCM2711 (Cortex-A72)", 4096, 32),
    _pi("pi4b-8g", "Raspberry Pi 4 Model B 8GB", "BCM2711 (Cortex-A72)", 8192, 32),
    _pi("pi5-4g", "Raspberry Pi 5 4GB", "BCM2712 (Cortex-A76)", 4096, 64),
    _pi("pi5-8g", "Raspberry Pi 5 8GB", "BCM2712 (Cortex-A76)", 8192, 64),
    _pi("pi5-16g", "Raspberry Pi 5 16GB", "BCM2712 (Cortex-A76)", 16384, 64),
    _jetson("jetson-nano-4g", "NVIDIA Jetson Nano 4GB", "Tegra X1 (Cortex-A57)", 4,
            4096, 64, "microSD", _MAXWELL_128, _JETSON_NANO),
    _jetson("jetson-xavier-nx-8g", "NVIDIA Jetson Xavier NX 8GB", "Xavier (Carmel)", 6,
            8192, 64, "microSD", _VOLTA_384, replace(_JETSON_XAVIER, free_disk_pct=10)),
    _jetson("jetson-agx-xavier-32g", "NVIDIA Jetson AGX Xavier 32GB", "Xavier (Carmel)", 8,
            32768, 32, "eMMC", _VOLTA_512, _JETSON_XAVIER),
    _jetson("jetson-agx-xavier-64g", "NVIDIA Jetson AGX Xavier 64GB", "Xavier (Carmel)", 8,
            65536, 32, "eMMC", _VOLTA_512, _JETSON_XAVIER),
    _jetson("jetson-orin-nano-4g", "NVIDIA Jetson Orin Nano 4GB",
            "Orin (Cortex-A78AE)", 6, 4096, 128, "NVMe", _AMPERE_512, _JETSON_ORIN),
    _jetson("jetson-orin-nano-8g", "NVIDIA Jetson Orin Nano 8GB",
            "Orin (Cortex-A78AE)", 6, 8192, 128, "NVMe", _AMPERE_1024, _JETSON_ORIN),
    _jetson("jetson-orin-nx-8g", "NVIDIA Jetson Orin NX 8GB",
            "Orin (Cortex-A78AE)", 6, 8192, 128, "NVMe", _AMPERE_1024, _JETSON_ORIN),
    _jetson("jetson-orin-nx-16g", "NVIDIA Jetson Orin NX 16GB",
            "Orin (Cortex-A78AE)", 8, 16384, 128, "NVMe", _AMPERE_1024, _JETSON_ORIN),
    _jetson("jetson-agx-orin-32g", "NVIDIA Jetson AGX Orin 32GB",
            "Orin (Cortex-A78AE)", 8, 32768, 64, "eMMC", _AMPERE_1792, _JETSON_ORIN),
    _jetson("jetson-agx-orin-64g", "NVIDIA Jetson AGX Orin 64GB",
            "Orin (Cortex-A78AE)", 12, 65536, 64, "eMMC", _AMPERE_2048, _JETSON_ORIN),
)})

_PI_BRIEFS = "https://datasheets.raspberrypi.com/"
_CUDA_GPUS = "https://developer.nvidia.com/cuda-gpus (compute capability)"
# Where each profile's figures come from. Storage sizes of NVMe-only modules
# (Orin NX and Nano) and of developer kits' microSD are fleet's choice of a
# common card or drive, named as such.
SOURCES: Mapping[str, str] = MappingProxyType({
    "pi-zero-2w": f"{_PI_BRIEFS}rpizero2/raspberry-pi-zero-2-w-product-brief.pdf; "
                  "card: fleet's choice (16 GB)",
    "pi3b": "https://www.raspberrypi.com/products/raspberry-pi-3-model-b/ (BCM2837, "
            "quad Cortex-A53 1.2 GHz, 1 GB LPDDR2); card: fleet's choice (32 GB)",
    "pi3b-plus": f"{_PI_BRIEFS}rpi3/raspberry-pi-3-b-plus-product-brief.pdf; "
                 "card: fleet's choice (32 GB)",
    **{f"pi4b-{n}g": f"{_PI_BRIEFS}rpi4/raspberry-pi-4-product-brief.pdf (1, 2, 4 or 8 GB "
                     "LPDDR4-3200, quad Cortex-A72); card: fleet's choice (32 GB)"
       for n in (1, 2, 4, 8)},
    **{f"pi5-{n}g": f"{_PI_BRIEFS}rpi5/raspberry-pi-5-product-brief.pdf (LPDDR4X in "
                    "sizes from 1 to 16 GB, quad Cortex-A76); card: fleet's choice (64 GB)"
       for n in (4, 8, 16)},
    "jetson-nano-4g": "NVIDIA Jetson Nano module data sheet (4 GB, quad "
                      f"Cortex-A57, 128-core Maxwell); {_CUDA_GPUS}: 5.3; "
                      "developer kit's microSD: fleet's choice (64 GB)",
    "jetson-xavier-nx-8g": "NVIDIA Jetson Xavier NX data sheet DA-09366-001 (8 GB, six "
                           "Carmel cores, 384-core Volta with 48 tensor cores, 16 GB eMMC "
                           f"on the production module); {_CUDA_GPUS}: 7.2; developer "
                           "kit's microSD: fleet's choice (64 GB)",
    # The 64 GB module keeps the 32 GB module's 32 GB eMMC: only its LPDDR4x doubled.
    **{f"jetson-agx-xavier-{n}g": "NVIDIA Jetson AGX Xavier series data sheet DS-09654-002 "
                                  f"and the AGX Xavier 64GB module page ({n} GB LPDDR4x, "
                                  "eight Carmel cores, 512-core Volta with 64 tensor cores, "
                                  f"32 GB eMMC 5.1); {_CUDA_GPUS}: 7.2"
       for n in (32, 64)},
    **{f"jetson-orin-nano-{n}g": "NVIDIA Jetson Orin Nano series data sheet DS-11105-001 "
                                 f"({n} GB LPDDR5, six Cortex-A78AE, "
                                 f"{512 * n // 4}-core Ampere with {16 * n // 4} tensor "
                                 f"cores, no eMMC: external NVMe); {_CUDA_GPUS}: 8.7; "
                                 "drive: fleet's choice (128 GB)"
       for n in (4, 8)},
    **{f"jetson-orin-nx-{n}g": "NVIDIA Jetson Orin NX series data sheet DS-10712-001 "
                               f"({n} GB LPDDR5, {6 if n == 8 else 8} Cortex-A78AE, "
                               "1024-core Ampere with 32 tensor cores, no eMMC: external "
                               f"NVMe); {_CUDA_GPUS}: 8.7; drive: fleet's choice (128 GB)"
       for n in (8, 16)},
    **{f"jetson-agx-orin-{n}g": "NVIDIA Jetson AGX Orin series data sheet DS-10662-001 "
                                f"({n} GB LPDDR5, {8 if n == 32 else 12} Cortex-A78AE, "
                                f"{1792 if n == 32 else 2048}-core Ampere with "
                                f"{56 if n == 32 else 64} tensor cores, 64 GB eMMC); "
                                f"{_CUDA_GPUS}: 8.7"
       for n in (32, 64)},
})


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
