"""The Pi and Jetson readers, on real sample outputs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.agent.hardware import parse_tegrastats, parse_thermal_zone, parse_throttled

DATA = Path(__file__).parents[1] / "data" / "hardware"


@pytest.mark.parametrize(("text", "now", "since_boot"), [
    ("throttled=0x0\n", set(), set()),
    # A Pi 4B on a weak supply: under-voltage now and since boot, throttled since boot.
    ("throttled=0x50005\n", {"under_voltage", "throttled"}, {"under_voltage", "throttled"}),
    ("throttled=0x50000\n", set(), {"under_voltage", "throttled"}),
    ("throttled=0x80008\n", {"soft_temp_limit"}, {"soft_temp_limit"}),
    ("20002\n", {"arm_freq_capped"}, {"arm_freq_capped"}),  # the sysfs file: bare hex
])
def test_throttle_flags(text: str, now: set[str], since_boot: set[str]) -> None:
    flags = parse_throttled(text)
    assert (flags.now, flags.since_boot) == (frozenset(now), frozenset(since_boot))
    assert flags.ok == (not now and not since_boot)


@given(st.text())
def test_throttle_parser_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_throttled(text)


def test_thermal_zone_millidegrees() -> None:
    assert parse_thermal_zone("48312\n") == pytest.approx(48.312)


def test_tegrastats_orin_nano() -> None:
    stats = parse_tegrastats((DATA / "tegrastats-orin-nano.txt").read_text())
    assert (stats.ram_used_mb, stats.ram_total_mb) == (2468, 7620)
    assert stats.gpu_load_pct == 37
    assert stats.temps_c["GPU"] == pytest.approx(45.187)
    assert stats.temps_c["tj"] == pytest.approx(47.5)
    assert stats.power_in_mw == 4418


def test_tegrastats_nano() -> None:
    stats = parse_tegrastats((DATA / "tegrastats-nano.txt").read_text())
    assert (stats.ram_used_mb, stats.ram_total_mb) == (1916, 3964)
    assert stats.gpu_load_pct == 0
    assert stats.temps_c == {"PLL": 23.5, "CPU": 26.0, "PMIC": 100.0, "GPU": 24.5,
                             "AO": 32.5, "thermal": 25.0}
    assert stats.power_in_mw == 1062


def test_tegrastats_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not a tegrastats line"):
        parse_tegrastats("Linux jetson 5.10.120-tegra")
