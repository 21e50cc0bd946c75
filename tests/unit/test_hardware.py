"""The Pi and Jetson readers, on real sample outputs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.agent.hardware import (
    NO_SENSOR_C,
    main_temperature,
    parse_cpuinfo_model,
    parse_device_tree_model,
    parse_nv_tegra_release,
    parse_tegrastats,
    parse_thermal_zone,
    parse_throttled,
)
from fleet.lan.boards import BoardFacts, identify

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
    assert parse_thermal_zone("-256000\n") is None  # a Jetson sensor powered down


# Real lines, one per generation: (source, line, GPU load %, GPU MHz, input mW, rails, dropped).
GENERATIONS = {
    # hordiales/jetson-tx1-dev SCRIPTS.md (L4T 28.1): the old format, no rails.
    "tx1": ("RAM 3468/3983MB (lfb 48x4MB) SWAP 873/8192MB (cached 295MB) cpu [17%,13%,29%,5%]@408 "
            "EMC 1%@408 APE 25 GR3D 3%@76", 3, 76, None, {}),
    # FindHao/tx-utils issue 3 (TX2, JetPack 4).
    "tx2": ("RAM 2020/7852MB (lfb 1164x4MB) CPU [9%@345,21%@345,25%@345,3%@345,1%@345,1%@345] "
            "EMC_FREQ 0% GR3D_FREQ 0% PLL@42.5C MCPU@42.5C PMIC@100C Tboard@40C GPU@41C "
            "BCPU@42.5C thermal@41.9C Tdiode@41.25C VDD_SYS_GPU 153/158 VDD_SYS_SOC 536/547 "
            "VDD_4V0_WIFI 633/527 VDD_IN 3140/3208 VDD_SYS_CPU 536/590 VDD_SYS_DDR 557/601",
            0, None, 3140, {"VDD_SYS_GPU": 153, "VDD_SYS_SOC": 536, "VDD_4V0_WIFI": 633,
                            "VDD_IN": 3140, "VDD_SYS_CPU": 536, "VDD_SYS_DDR": 557}),
    # A Go tegrastats exporter's test (Xavier NX, JetPack 5.1.2).
    "xavier-nx": ("07-09-2024 13:31:31 RAM 3168/6851MB (lfb 2x4MB) SWAP 161/3426MB (cached 0MB) "
                  "CPU [23%@1397,17%@1192,16%@1190,13%@1190,23%@1190,10%@1190] EMC_FREQ 2%@204 "
                  "GR3D_FREQ 0%@[114] VIC_FREQ 115 APE 150 AUX@45C CPU@46.5C thermal@45.6C AO@45C "
                  "GPU@45.5C PMIC@50C VDD_IN 2763mW/2846mW VDD_CPU_GPU_CV 650mW/670mW "
                  "VDD_SOC 650mW/711mW", 0, 114, 2763,
                  {"VDD_IN": 2763, "VDD_CPU_GPU_CV": 650, "VDD_SOC": 650}),
    # martinkersner/gtop pull request 7 (AGX Xavier, JetPack 4.2): no input rail, so the sum.
    "agx-xavier": ("RAM 14700/15692MB (lfb 3x2MB) SWAP 898/8192MB (cached 23MB) CPU [0%@1190,"
                   "0%@1190,0%@1190,0%@1190,0%@1190,0%@1190,0%@1190,0%@1190] EMC_FREQ 0% "
                   "GR3D_FREQ 0% AO@30C GPU@30.5C Tboard@31C Tdiode@32C AUX@30.5C CPU@31.5C "
                   "thermal@30.8C PMIC@100C GPU 463/463 CPU 618/618 SOC 2936/2936 CV 0/0 "
                   "VDDRQ 309/309 SYS5V 3306/3306", 0, None, 463 + 618 + 2936 + 0 + 309 + 3306,
                   {"GPU": 463, "CPU": 618, "SOC": 2936, "CV": 0, "VDDRQ": 309, "SYS5V": 3306}),
    # A Go tegrastats parser's test (AGX Orin 64 GB, JetPack 6): -256C sensors, NC channels.
    "agx-orin": ("04-11-2025 10:36:27 RAM 4321/62801MB (lfb 1759x4MB) SWAP 19/31400MB (cached 0MB) "
                 "CPU [0%@729,0%@729] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[0,0] VIC_FREQ 729 APE 174 "
                 "CV0@-256C CPU@44.562C Tboard@32C SOC2@40.093C Tdiode@33C SOC0@41.093C CV1@-256C "
                 "GPU@-256C tj@44.343C SOC1@41.25C CV2@-256C VDD_GPU_SOC 2340mW/2340mW "
                 "VDD_CPU_CV 390mW/390mW VIN_SYS_5V0 4025mW/4025mW NC 0mW/0mW "
                 "VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW", 0, 0, 2340 + 390 + 4025 + 301,
                 {"VDD_GPU_SOC": 2340, "VDD_CPU_CV": 390, "VIN_SYS_5V0": 4025,
                  "VDDQ_VDD2_1V8AO": 301}),
    # A Go tegrastats exporter's test (AGX Orin, kernel 5.15.148): busy encoders, cpu@ names.
    "agx-orin-jp6": ("05-09-2026 18:42:06 RAM 18207/62841MB (lfb 466x4MB) SWAP 86/31420MB "
                     "(cached 0MB) CPU [14%@2188,5%@2112] EMC_FREQ 3%@2133 GR3D_FREQ 0%@[0,0] "
                     "NVENC 79%@166 NVDEC off VIC 36%@115 APE 174 cpu@52.562C soc2@48.437C "
                     "soc0@49.093C tj@52.562C soc1@49.656C VDD_GPU_SOC 2412mW/2412mW "
                     "VDD_CPU_CV 1607mW/1607mW VIN_SYS_5V0 4707mW/4707mW", 0, 0,
                     2412 + 1607 + 4707,
                     {"VDD_GPU_SOC": 2412, "VDD_CPU_CV": 1607, "VIN_SYS_5V0": 4707}),
}


@pytest.mark.parametrize("name", GENERATIONS)
def test_tegrastats_of_every_generation(name: str) -> None:
    line, load, mhz, power, rails = GENERATIONS[name]
    stats = parse_tegrastats(line)
    assert (stats.gpu_load_pct, stats.gpu_freq_mhz) == (load, mhz)
    assert stats.rails_mw == rails
    assert stats.power_in_mw == power
    assert all(t > NO_SENSOR_C for t in stats.temps_c.values())


def test_the_no_sensor_sentinel_is_not_a_temperature() -> None:
    stats = parse_tegrastats(GENERATIONS["agx-orin"][0])
    assert set(stats.temps_c) == {"CPU", "Tboard", "SOC2", "Tdiode", "SOC0", "tj", "SOC1"}
    assert main_temperature(stats.temps_c) == pytest.approx(44.562)


@pytest.mark.parametrize(("temps", "main"), [
    ({"cpu-thermal": 48.3}, 48.3),  # a Pi
    ({"PLL": 23.5, "CPU": 26.0, "PMIC": 100.0, "GPU": 24.5}, 26.0),  # a Nano: PMIC is fixed
    ({"BCPU": 42.5, "MCPU": 43.0, "GPU": 41.0}, 43.0),  # a TX2's two CPU clusters
    ({"AO-therm": 31.0, "PMIC-Die": 100.0}, 31.0),  # no CPU zone: the hottest but a PMIC
    ({}, None),
])
def test_the_main_temperature(temps: dict[str, float], main: float | None) -> None:
    assert main_temperature(temps) == main


@pytest.mark.parametrize(("raw", "model"), [
    (b"Raspberry Pi 4 Model B Rev 1.4\0", "Raspberry Pi 4 Model B Rev 1.4"),
    (b"NVIDIA Jetson Nano Developer Kit\0", "NVIDIA Jetson Nano Developer Kit"),
    (b"\0", None),
])
def test_device_tree_model(raw: bytes, model: str | None) -> None:
    assert parse_device_tree_model(raw) == model


def test_cpuinfo_model_and_tegra_release() -> None:
    assert parse_cpuinfo_model("Hardware\t: BCM2835\nRevision\t: d04170\n"
                               "Model\t\t: Raspberry Pi 5 Model B Rev 1.0\n") == \
        "Raspberry Pi 5 Model B Rev 1.0"
    assert parse_cpuinfo_model("processor : 0\nmodel name : ARMv7\n") is None
    release = ("# R32 (release), REVISION: 3.1, GCID: 18186506, BOARD: t210ref, EABI: aarch64, "
               "DATE: Tue Dec 10 06:58:34 UTC 2019")
    assert parse_nv_tegra_release(f"{release}\n# KERNEL_VARIANT: oot\n") == release
    assert parse_nv_tegra_release("nothing") is None


def test_an_l4t_line_the_agent_sends_is_one_the_controller_reads() -> None:
    line = parse_nv_tegra_release("# R32 (release), REVISION: 7.1, GCID: 29818004, "
                                  "BOARD: t210ref, EABI: aarch64\n")
    assert line is not None
    told = identify(BoardFacts(tegra_release=line))
    assert "L4T R32.7.1: a Jetson" in told.reason
    assert told.candidates == ("jetson-nano-4g", "jetson-xavier-nx-8g", "jetson-agx-xavier-32g",
                               "jetson-agx-xavier-64g")  # the Jetsons that run R32


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
    assert stats.gpu_freq_mhz == 76


def test_tegrastats_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not a tegrastats line"):
        parse_tegrastats("Linux jetson 5.10.120-tegra")
