"""Parsers for what Raspberry Pi and Jetson boards report: pure, fed the raw text.

The figures and names come from real boards: the Pi firmware's throttle word,
sysfs thermal zones, device-tree and cpuinfo model strings, /etc/nv_tegra_release
and tegrastats lines from every Jetson generation (tests/unit/test_hardware.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Bits of the Pi firmware's throttle word (`vcgencmd get_throttled`, or the
# firmware's sysfs file): the low bits are "now", the same bits shifted by 16
# are "has happened since boot".
_THROTTLE_BITS = {
    0: "under_voltage",
    1: "arm_freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
_SINCE_BOOT_SHIFT = 16
# What a Jetson prints for a sensor that is off or powered down: tegrastats `CV0@-256C`,
# sysfs -256000. It is not a temperature.
NO_SENSOR_C = -256.0


@dataclass(frozen=True, slots=True)
class Throttling:
    """A Pi's power and thermal trouble, now and since boot."""

    now: frozenset[str]
    since_boot: frozenset[str]

    @property
    def ok(self) -> bool:
        return not self.now and not self.since_boot

    def flags(self) -> tuple[str, ...]:
        """For the heartbeat: `under_voltage` now, `under_voltage_since_boot` since boot."""
        return (*sorted(self.now), *(f"{name}_since_boot" for name in sorted(self.since_boot)))


def parse_throttled(text: str) -> Throttling:
    """`throttled=0x50005` (vcgencmd) or `50005` (sysfs) -> the flags set."""
    value = text.strip().removeprefix("throttled=")
    try:
        word = int(value, 16)
    except ValueError:
        raise ValueError(f"not a throttle word: {text.strip()!r}") from None

    def flags(shift: int) -> frozenset[str]:
        return frozenset(name for bit, name in _THROTTLE_BITS.items() if word >> (bit + shift) & 1)

    return Throttling(now=flags(0), since_boot=flags(_SINCE_BOOT_SHIFT))


def parse_thermal_zone(text: str) -> float | None:
    """A sysfs thermal zone's millidegrees (`48312`) -> degrees Celsius; None for no sensor."""
    celsius = int(text.strip()) / 1000
    return None if celsius <= NO_SENSOR_C else celsius


# Zones whose reading is the board's own heat: CPU clusters, the SoC, a Jetson's junction
# maximum (tj). Not a PMIC (a Nano's reports a fixed 100 C), a board or a fan estimate.
_MAIN_ZONE = re.compile(r"^(?:[bm]?cpu|soc|tj)", re.IGNORECASE)


def main_temperature(temps: Mapping[str, float]) -> float | None:
    """The board's main temperature: its hottest CPU/SoC zone, else its hottest zone."""
    main = [t for name, t in temps.items() if _MAIN_ZONE.match(name)]
    others = [t for name, t in temps.items() if "pmic" not in name.lower()]
    return max(main or others, default=None)


def parse_device_tree_model(raw: bytes) -> str | None:
    """/proc/device-tree/model: a NUL-terminated string -> the model, None if empty."""
    model = raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return model or None


def parse_cpuinfo_model(text: str) -> str | None:
    """The `Model` line the Raspberry Pi kernel adds to /proc/cpuinfo (the device tree's model)."""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == "Model" and value.strip():
            return value.strip()
    return None


def parse_nv_tegra_release(text: str) -> str | None:
    """/etc/nv_tegra_release -> its first line (`# R32 (release), REVISION: 7.1, ...`).

    Sent as the heartbeat's model where nothing better names the board: the controller
    reads the release from that line (fleet.lan.boards), so it goes as the board wrote it."""
    first = next(iter(text.strip().splitlines()), "").strip()
    return first if first.startswith("# R") else None


# A Jetson's module input rail, where it has one: VDD_IN (TX1, TX2, Xavier NX, Orin NX and
# Nano), POM_5V_IN (Nano), 5V_IN (some Xavier NX releases). AGX Xavier (GPU, CPU, SOC, CV,
# VDDRQ, SYS5V) and AGX Orin (VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0, VDDQ_VDD2_1V8AO) monitor
# each supply of the module separately and have no such rail: their input is the sum.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "5V_IN")


def input_power_mw(rails: Mapping[str, int]) -> int | None:
    """The module's input power: its input rail, or the sum of its monitored supplies."""
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name]
    return sum(rails.values()) if rails else None


def temperatures(readings: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    """Name -> degrees, dropping sensors with no reading; a repeated name gets its position."""
    temps: dict[str, float] = {}
    for index, (name, celsius) in enumerate(readings):
        if celsius is None or celsius <= NO_SENSOR_C:
            continue
        temps[name if name not in temps else f"{name}-{index}"] = celsius
    return temps


@dataclass(frozen=True, slots=True)
class JetsonStats:
    """One line of `tegrastats`: memory, GPU load and clock, temperatures and power rails."""

    ram_used_mb: int
    ram_total_mb: int
    gpu_load_pct: int | None
    temps_c: dict[str, float] = field(default_factory=dict)
    rails_mw: dict[str, int] = field(default_factory=dict)
    gpu_freq_mhz: int | None = None

    @property
    def power_in_mw(self) -> int | None:
        return input_power_mw(self.rails_mw)


_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
# `GR3D_FREQ 0%@76` (Nano), `37%@[305]` (Xavier, Orin), `0%@[0,0]` (AGX Orin's two GPCs),
# `GR3D_FREQ 0%` (a GPU asleep, or JetPack 6 without root), `GR3D 3%@76` (TX1, L4T 28).
_GPU = re.compile(r"\bGR3D(?:_FREQ)? (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# Rails are `NAME now/average`, in mW: Orin prints the unit, JetPack 4 and AGX Xavier do not.
# Names: POM_5V_IN, VDD_SYS_GPU, VIN_SYS_5V0, SYS5V, GPU, CV, NC (not connected)...
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?\b")
_NOT_A_RAIL = frozenset({"NC", "RAM", "SWAP", "IRAM", "EMC_FREQ", "GR3D_FREQ", "APE"})


def parse_tegrastats(line: str) -> JetsonStats:
    """Parse one tegrastats line, from JetPack 4 (Nano, TX1, TX2) to JetPack 6 (Orin)."""
    ram = _RAM.search(line)
    if ram is None:
        raise ValueError(f"not a tegrastats line (no RAM figure): {line[:80]!r}")
    gpu = _GPU.search(line)
    clocks = [int(c) for c in gpu[2].split(",") if c] if gpu and gpu[2] else []
    return JetsonStats(
        ram_used_mb=int(ram[1]), ram_total_mb=int(ram[2]),
        gpu_load_pct=int(gpu[1]) if gpu else None,
        temps_c=temperatures((name, float(value)) for name, value in _TEMP.findall(line)),
        rails_mw={name: int(now) for name, now, _avg in _RAIL.findall(line)
                  if name not in _NOT_A_RAIL},
        gpu_freq_mhz=max(clocks) if clocks else None,
    )
