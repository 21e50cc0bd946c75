"""Captured boards replayed by `fleet agent --once --json --root DIR`: what each heartbeat says.

The trees are real outputs (tests/data/boards/SOURCES.md names each source).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from fleet.agent import once
from fleet.wire import decode_heartbeat

BOARDS = Path(__file__).parents[1] / "data" / "boards"


def replay(board: str) -> dict[str, Any]:
    out = io.StringIO()
    assert once.main(["--once", "--json", "--root", str(BOARDS / board)], out=out) == 0
    decode_heartbeat(out.getvalue().encode())  # what a controller would accept
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


@pytest.mark.parametrize(("board", "model"), [
    ("pi4b", "Raspberry Pi 4 Model B Rev 1.5"),
    ("pi5", "Raspberry Pi 5 Model B Rev 1.0"),
    ("pi-zero-2w", "Raspberry Pi Zero 2 W Rev 1.0"),
    ("jetson-nano", "NVIDIA Jetson Nano Developer Kit"),
    ("jetson-orin-nano", "NVIDIA Orin Nano Developer Kit"),
    ("jetson-agx-orin", "NVIDIA Jetson AGX Orin Developer Kit"),
])
def test_each_board_says_what_it_is(board: str, model: str) -> None:
    assert replay(board)["model"] == model


def test_a_pi_4b_on_a_weak_supply() -> None:
    hb = replay("pi4b")
    assert hb["throttled"] == ["throttled", "under_voltage", "throttled_since_boot",
                               "under_voltage_since_boot"]
    assert hb["gpu"] is None


@pytest.mark.parametrize("board", ["pi5", "pi-zero-2w"])
def test_a_pi_without_a_throttle_file_reports_none_not_a_guess(board: str) -> None:
    hb = replay(board)
    assert (hb["throttled"], hb["gpu"], hb["temp_c"]) == (None, None, None)


def test_jetson_nano() -> None:
    hb = replay("jetson-nano")
    assert hb["gpu"] == {"load_pct": 0, "power_mw": 1062, "freq_mhz": 76,
                         "rails_mw": {"POM_5V_IN": 1062, "POM_5V_GPU": 0, "POM_5V_CPU": 122}}
    assert hb["temps_c"]["PMIC"] == 100.0  # reported, but a PMIC is never the main one
    assert hb["temp_c"] == 26.0


def test_jetson_orin_nano_zones_from_sysfs_and_gpu_from_tegrastats() -> None:
    hb = replay("jetson-orin-nano")
    assert hb["temps_c"] == {"cpu-thermal": 43.5, "gpu-thermal": 42.9, "soc0-thermal": 41.2,
                             "soc1-thermal": 41.8, "soc2-thermal": 42.5, "tj-thermal": 43.5}
    assert hb["temp_c"] == 43.5
    assert (hb["gpu"]["load_pct"], hb["gpu"]["freq_mhz"], hb["gpu"]["power_mw"]) == (0, 305, 5251)


def test_jetson_agx_orin_power_without_an_input_rail_and_no_sentinel() -> None:
    hb = replay("jetson-agx-orin")
    assert hb["gpu"]["rails_mw"] == {"VDD_GPU_SOC": 2340, "VDD_CPU_CV": 390,
                                     "VIN_SYS_5V0": 4025, "VDDQ_VDD2_1V8AO": 301}
    assert hb["gpu"]["power_mw"] == 2340 + 390 + 4025 + 301
    assert not {"CV0", "CV1", "CV2", "GPU"} & set(hb["temps_c"])  # -256C: no sensor
    assert min(hb["temps_c"].values()) > 0
    assert hb["temp_c"] == 44.6


def test_the_summary_without_json_names_the_model_and_power() -> None:
    out = io.StringIO()
    assert once.main(["--once", "--root", str(BOARDS / "jetson-agx-orin")], out=out) == 0
    assert "NVIDIA Jetson AGX Orin Developer Kit" in out.getvalue()
    assert "power in   7056 mW" in out.getvalue()


def test_a_replay_never_asks_this_hosts_dockerd() -> None:
    problems = replay("pi4b")["problems"]
    assert any(str(BOARDS / "pi4b" / "var/run/docker.sock") in p for p in problems)


def test_bad_options_exit_2() -> None:
    assert once.main(["--once", "--profile", "no-such-board"], out=io.StringIO()) == 2
