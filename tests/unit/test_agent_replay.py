"""Captured boards replayed by `fleet agent --once --json --root DIR`: what each heartbeat says.

The trees are real outputs (tests/data/boards/SOURCES.md names each source).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleet.agent import once
from fleet.health.view import FleetView
from fleet.wire import decode_heartbeat

BOARDS = Path(__file__).parents[1] / "data" / "boards"


def replay(board: str) -> dict[str, Any]:
    return replay_tree(BOARDS / board)


def replay_tree(tree: Path) -> dict[str, Any]:
    out = io.StringIO()
    assert once.main(["--once", "--json", "--root", str(tree)], out=out) == 0
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
    # meminfo: MemTotal 3833280 kB, MemAvailable 3602380 kB.
    assert (hb["mem_used_mb"], hb["mem_total_mb"]) == (225, 3743)
    assert (hb["temps_c"], hb["temp_c"]) == ({"cpu-thermal": 78.9}, 78.9)
    assert hb["gpu"] is None


def test_a_pi_5_without_a_throttle_file_is_read_through_vcgencmd() -> None:
    hb = replay("pi5")
    assert hb["throttled"] == ["throttled_since_boot", "under_voltage_since_boot"]
    assert (hb["gpu"], hb["temp_c"], hb["mem_total_mb"]) == (None, None, 0)
    assert any(p.startswith("memory:") for p in hb["problems"])  # no meminfo was published


def test_a_pi_zero_2_w() -> None:
    hb = replay("pi-zero-2w")
    # meminfo: MemTotal 426068 kB, MemAvailable 233696 kB.
    assert (hb["mem_used_mb"], hb["mem_total_mb"]) == (187, 416)
    assert (hb["throttled"], hb["gpu"], hb["temp_c"]) == (None, None, None)


@pytest.mark.parametrize(("board", "used", "total"), [
    ("jetson-nano", 1916, 3964), ("jetson-orin-nano", 1343, 7620),
    ("jetson-agx-orin", 4321, 62801),
])
def test_a_replayed_jetsons_memory_is_its_tegrastats_ram(board: str, used: int,
                                                        total: int) -> None:
    hb = replay(board)
    assert (hb["mem_used_mb"], hb["mem_total_mb"]) == (used, total)
    assert not any(p.startswith("memory") for p in hb["problems"])


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


@pytest.mark.parametrize("board", sorted(p.name for p in BOARDS.iterdir() if p.is_dir()))
def test_a_replay_without_a_captured_df_reports_the_disk_unknown_not_this_machines(
        board: str) -> None:
    hb = replay(board)
    assert (hb["disk_used_mb"], hb["disk_total_mb"], hb["disk_budget_mb"]) == (0, 0, 0)
    assert "disk: unknown (no captured/df.txt in the replayed tree)" in hb["problems"]
    assert "disk full" not in hb["problems"]


def test_a_replays_disk_is_its_captured_df(tmp_path: Path) -> None:
    tree = tmp_path / "pi4b"
    shutil.copytree(BOARDS / "pi4b", tree)
    # Real output of the real tool (GNU df on this machine), as a user would capture it.
    df = subprocess.run(["df", "-Pk", "/"], capture_output=True, text=True, check=True).stdout
    (tree / "captured").mkdir()
    (tree / "captured/df.txt").write_text(df)
    blocks, used, available = (int(v) for v in df.splitlines()[-1].split()[1:4])
    hb = replay_tree(tree)
    assert (hb["disk_used_mb"], hb["disk_total_mb"]) == (used // 1024, blocks // 1024)
    assert hb["disk_budget_mb"] == blocks // 1024
    assert hb["disk_used_mb"] + available // 1024 <= hb["disk_total_mb"] + 1
    assert not any(p.startswith("disk:") for p in hb["problems"])


@pytest.mark.parametrize(("board", "profile"), [
    ("pi4b", "pi4b-4g"),  # MemTotal 3743 MiB
    ("pi5", None),  # no meminfo was published: a Pi 5 of which size is unknown
    ("pi-zero-2w", "pi-zero-2w"),
    ("jetson-nano", "jetson-nano-4g"),  # memory from tegrastats' RAM 3964 MB
    ("jetson-orin-nano", "jetson-orin-nano-8g"),  # RAM 7620 MB
    ("jetson-agx-orin", "jetson-agx-orin-64g"),  # RAM 62801 MB
])
def test_each_replayed_heartbeat_names_the_profile_the_board_is(board: str,
                                                                 profile: str | None) -> None:
    """The chain `fleet status` runs: the agent's heartbeat, the view, the board's identity."""
    heartbeat = decode_heartbeat(json.dumps(replay(board)).encode())
    view = FleetView()
    view.heartbeat(board, heartbeat, at=0.0)
    identity = view.devices[board].board()
    assert identity is not None
    assert identity.profile == profile, identity.reason
