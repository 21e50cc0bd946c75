"""Parsers for what Raspberry Pi and Jetson firmware report: pure, fed the raw text."""

from __future__ import annotations

import re
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


def parse_thermal_zone(text: str) -> float:
    """A sysfs thermal zone's millidegrees (`48312`) -> degrees Celsius."""
    return int(text.strip()) / 1000


@dataclass(frozen=True, slots=True)
class JetsonStats:
    """One line of `tegrastats`: memory, GPU load, temperatures and input power."""

    ram_used_mb: int
    ram_total_mb: int
    gpu_load_pct: int | None
    temps_c: dict[str, float] = field(default_factory=dict)
    power_in_mw: int | None = None


_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_GPU = re.compile(r"\bGR3D_FREQ (\d+)%")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# Input rail: VDD_IN on Orin (JetPack 5/6), POM_5V_IN on Nano (JetPack 4).
# Values are "now/average", in mW (Orin prints the unit, Nano does not).
_POWER_IN = re.compile(r"\b(?:VDD_IN|POM_5V_IN) (\d+)(?:mW)?/")


def parse_tegrastats(line: str) -> JetsonStats:
    """Parse a tegrastats line from a Jetson Nano (JetPack 4) or Orin (JetPack 5/6)."""
    ram = _RAM.search(line)
    if ram is None:
        raise ValueError(f"not a tegrastats line (no RAM figure): {line[:80]!r}")
    gpu = _GPU.search(line)
    power = _POWER_IN.search(line)
    return JetsonStats(
        ram_used_mb=int(ram[1]), ram_total_mb=int(ram[2]),
        gpu_load_pct=int(gpu[1]) if gpu else None,
        temps_c={name: float(value) for name, value in _TEMP.findall(line)},
        power_in_mw=int(power[1]) if power else None,
    )
